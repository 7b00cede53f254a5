#include "operator/kube/selector.h"

#include <algorithm>
#include <cctype>

namespace kube {

namespace {

bool isAlnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 characters.
bool isQualifiedName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  if (!isAlnum(s.front()) || !isAlnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return isAlnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool isDnsSubdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  std::size_t start = 0;
  while (true) {
    auto dot = s.find('.', start);
    std::string label = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (!std::islower(static_cast<unsigned char>(label.front())) &&
        !std::isdigit(static_cast<unsigned char>(label.front())))
      return false;
    if (!std::islower(static_cast<unsigned char>(label.back())) &&
        !std::isdigit(static_cast<unsigned char>(label.back())))
      return false;
    for (char c : label) {
      if (!std::islower(static_cast<unsigned char>(c)) &&
          !std::isdigit(static_cast<unsigned char>(c)) && c != '-')
        return false;
    }
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

ApiError badSelector(const std::string& text, std::size_t pos, const std::string& problem) {
  return ApiError::transport("BadSelector", "label selector \"" + text + "\" at position " +
                                                std::to_string(pos) + ": " + problem);
}

class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  Result<LabelSelector> run() {
    std::vector<LabelRequirement> reqs;
    skipSpace();
    if (pos_ == text_.size()) return LabelSelector{};
    while (true) {
      auto r = requirement();
      if (!r.ok()) return r.error();
      reqs.push_back(std::move(r.value()));
      skipSpace();
      if (pos_ == text_.size()) break;
      if (text_[pos_] != ',') return badSelector(text_, pos_, "expected ',' or end of selector");
      ++pos_;
      skipSpace();
    }
    return LabelSelector(std::move(reqs));
  }

 private:
  void skipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool isWordChar(char c) const {
    return isAlnum(c) || c == '-' || c == '_' || c == '.' || c == '/';
  }
  std::string word() {
    std::size_t start = pos_;
    while (pos_ < text_.size() && isWordChar(text_[pos_])) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  bool consume(const std::string& token) {
    if (text_.compare(pos_, token.size(), token) == 0) {
      pos_ += token.size();
      return true;
    }
    return false;
  }

  Result<LabelRequirement> requirement() {
    LabelRequirement r;
    if (consume("!")) {
      skipSpace();
      std::size_t at = pos_;
      r.key = word();
      if (!isValidLabelKey(r.key)) return badSelector(text_, at, "invalid label key");
      r.op = LabelRequirement::Op::DoesNotExist;
      return r;
    }
    std::size_t at = pos_;
    r.key = word();
    if (r.key.empty()) return badSelector(text_, at, "expected a label key");
    if (!isValidLabelKey(r.key)) {
      return badSelector(text_, at, "invalid label key \"" + r.key + "\"");
    }
    skipSpace();
    if (pos_ == text_.size() || text_[pos_] == ',') {
      r.op = LabelRequirement::Op::Exists;
      return r;
    }
    if (consume("==") || consume("=")) {
      r.op = LabelRequirement::Op::Equals;
    } else if (consume("!=")) {
      r.op = LabelRequirement::Op::NotEquals;
    } else {
      std::size_t opAt = pos_;
      std::string op = word();
      if (op == "in") {
        r.op = LabelRequirement::Op::In;
      } else if (op == "notin") {
        r.op = LabelRequirement::Op::NotIn;
      } else {
        return badSelector(text_, opAt, "expected an operator (=, ==, !=, in, notin)");
      }
      skipSpace();
      if (!consume("(")) return badSelector(text_, pos_, "expected '('");
      while (true) {
        skipSpace();
        std::size_t vAt = pos_;
        std::string v = word();
        if (!isValidLabelValue(v)) return badSelector(text_, vAt, "invalid label value");
        r.values.push_back(v);
        skipSpace();
        if (consume(")")) break;
        if (!consume(",")) return badSelector(text_, pos_, "expected ',' or ')'");
      }
      // "in ()" is rejected by the loop above: a set needs at least one value (even "").
      return r;
    }
    skipSpace();
    std::size_t vAt = pos_;
    std::string v = word();
    if (!isValidLabelValue(v)) return badSelector(text_, vAt, "invalid label value");
    r.values.push_back(v);
    return r;
  }

  const std::string& text_;
  std::size_t pos_ = 0;
};

}  // namespace

bool isValidLabelKey(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return isQualifiedName(key);
  if (key.find('/', slash + 1) != std::string::npos) return false;
  return isDnsSubdomain(key.substr(0, slash)) && isQualifiedName(key.substr(slash + 1));
}

bool isValidLabelValue(const std::string& value) {
  return value.empty() || isQualifiedName(value);
}

bool LabelRequirement::matches(const json& labels) const {
  const json* value = nullptr;
  if (labels.is_object()) {
    auto it = labels.find(key);
    if (it != labels.end() && it->is_string()) value = &*it;
  }
  auto in = [&] {
    return value &&
           std::find(values.begin(), values.end(), value->get<std::string>()) != values.end();
  };
  switch (op) {
    case Op::Exists:
      return value != nullptr;
    case Op::DoesNotExist:
      return value == nullptr;
    case Op::Equals:
    case Op::In:
      return in();
    case Op::NotEquals:
    case Op::NotIn:
      // As in Kubernetes: a missing label satisfies != and notin.
      return !in();
  }
  return false;
}

std::string LabelRequirement::toString() const {
  auto set = [&] {
    std::vector<std::string> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    std::string s = "(";
    for (std::size_t i = 0; i < sorted.size(); ++i) s += (i ? "," : "") + sorted[i];
    return s + ")";
  };
  switch (op) {
    case Op::Exists:
      return key;
    case Op::DoesNotExist:
      return "!" + key;
    case Op::Equals:
      return key + "=" + (values.empty() ? "" : values[0]);
    case Op::NotEquals:
      return key + "!=" + (values.empty() ? "" : values[0]);
    case Op::In:
      return key + " in " + set();
    case Op::NotIn:
      return key + " notin " + set();
  }
  return key;
}

LabelSelector::LabelSelector(std::vector<LabelRequirement> requirements)
    : requirements_(std::move(requirements)) {}

Result<LabelSelector> LabelSelector::parse(const std::string& text) {
  return Parser(text).run();
}

Result<LabelSelector> LabelSelector::fromObject(const json& selector) {
  std::vector<LabelRequirement> reqs;
  if (selector.is_null()) return LabelSelector{};
  if (!selector.is_object()) {
    return ApiError::transport("BadSelector", "label selector: expected an object");
  }
  if (auto ml = selector.find("matchLabels"); ml != selector.end() && !ml->is_null()) {
    if (!ml->is_object()) {
      return ApiError::transport("BadSelector", "label selector: matchLabels: expected an object");
    }
    for (const auto& [k, v] : ml->items()) {
      if (!v.is_string() || !isValidLabelKey(k) || !isValidLabelValue(v.get<std::string>())) {
        return ApiError::transport("BadSelector",
                                   "label selector: matchLabels." + k + ": invalid label");
      }
      reqs.push_back({k, LabelRequirement::Op::Equals, {v.get<std::string>()}});
    }
  }
  if (auto me = selector.find("matchExpressions"); me != selector.end() && !me->is_null()) {
    if (!me->is_array()) {
      return ApiError::transport("BadSelector",
                                 "label selector: matchExpressions: expected a list");
    }
    for (std::size_t i = 0; i < me->size(); ++i) {
      const json& e = (*me)[i];
      std::string where = "label selector: matchExpressions[" + std::to_string(i) + "]";
      if (!e.is_object()) return ApiError::transport("BadSelector", where + ": expected an object");
      LabelRequirement r;
      r.key = e.value("key", "");
      if (!isValidLabelKey(r.key)) {
        return ApiError::transport("BadSelector", where + ".key: invalid label key");
      }
      std::string op = e.value("operator", "");
      if (auto vs = e.find("values"); vs != e.end() && vs->is_array()) {
        for (const auto& v : *vs) {
          if (!v.is_string()) return ApiError::transport("BadSelector", where + ".values: strings");
          r.values.push_back(v.get<std::string>());
        }
      }
      if (op == "In" || op == "NotIn") {
        r.op = op == "In" ? LabelRequirement::Op::In : LabelRequirement::Op::NotIn;
        if (r.values.empty()) {
          return ApiError::transport("BadSelector", where + ".values: must be non-empty for " + op);
        }
      } else if (op == "Exists" || op == "DoesNotExist") {
        r.op = op == "Exists" ? LabelRequirement::Op::Exists : LabelRequirement::Op::DoesNotExist;
        if (!r.values.empty()) {
          return ApiError::transport("BadSelector", where + ".values: must be empty for " + op);
        }
      } else {
        return ApiError::transport("BadSelector",
                                   where + ".operator: \"" + op + "\" is not a valid operator");
      }
      reqs.push_back(std::move(r));
    }
  }
  return LabelSelector(std::move(reqs));
}

bool LabelSelector::matches(const json& labels) const {
  return std::all_of(requirements_.begin(), requirements_.end(),
                     [&](const LabelRequirement& r) { return r.matches(labels); });
}

std::string LabelSelector::toString() const {
  std::string s;
  for (std::size_t i = 0; i < requirements_.size(); ++i) {
    if (i) s += ",";
    s += requirements_[i].toString();
  }
  return s;
}

std::string urlEncode(const std::string& text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace kube
