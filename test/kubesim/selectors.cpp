#include "test/kubesim/selectors.h"

#include <algorithm>
#include <cctype>

#include "test/kubesim/util.h"

namespace kubesim {

namespace {

ApiException selectorError(const std::string& text, const std::string& why) {
  return badRequest("unable to parse requirement: " + why + " (selector: " + quote(text) + ")");
}

// Splits on commas that are not inside parentheses.
std::vector<std::string> splitTopLevel(const std::string& s) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (char c : s) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string labelOf(const json& labels, const std::string& key, bool& present) {
  present = false;
  if (!labels.is_object()) return "";
  auto it = labels.find(key);
  if (it == labels.end()) return "";
  present = true;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

}  // namespace

LabelSelector LabelSelector::parse(const std::string& text) {
  LabelSelector sel;
  std::string t = trim(text);
  if (t.empty()) return sel;
  for (auto part : splitTopLevel(t)) {
    part = trim(part);
    if (part.empty())
      throw selectorError(text, "found '', expected: !, identifier, or 'end of string'");
    LabelRequirement r;
    if (part[0] == '!') {
      r.key = trim(part.substr(1));
      r.op = LabelRequirement::Op::DoesNotExist;
    } else if (auto p = part.find("!="); p != std::string::npos) {
      r.key = trim(part.substr(0, p));
      r.op = LabelRequirement::Op::NotEquals;
      r.values = {trim(part.substr(p + 2))};
    } else if (auto p2 = part.find("=="); p2 != std::string::npos) {
      r.key = trim(part.substr(0, p2));
      r.op = LabelRequirement::Op::Equals;
      r.values = {trim(part.substr(p2 + 2))};
    } else if (auto p3 = part.find('='); p3 != std::string::npos) {
      r.key = trim(part.substr(0, p3));
      r.op = LabelRequirement::Op::Equals;
      r.values = {trim(part.substr(p3 + 1))};
    } else if (auto open = part.find('('); open != std::string::npos) {
      auto close = part.rfind(')');
      if (close == std::string::npos || close < open)
        throw selectorError(text, "found 'end of string', expected: ')'");
      std::string head = trim(part.substr(0, open));
      auto sp = head.find_last_of(" \t");
      if (sp == std::string::npos)
        throw selectorError(text, "found '(', expected: in, notin, =, ==, !=, gt, lt");
      std::string op = trim(head.substr(sp + 1));
      r.key = trim(head.substr(0, sp));
      if (op == "in")
        r.op = LabelRequirement::Op::In;
      else if (op == "notin")
        r.op = LabelRequirement::Op::NotIn;
      else
        throw selectorError(text, "found '" + op + "', expected: in, notin, =, ==, !=, gt, lt");
      for (auto& v : split(part.substr(open + 1, close - open - 1), ',')) {
        auto tv = trim(v);
        if (!tv.empty()) r.values.push_back(tv);
      }
    } else {
      r.key = part;
      r.op = LabelRequirement::Op::Exists;
    }
    if (r.key.empty()) throw selectorError(text, "found '', expected: identifier");
    if (auto e = validateLabelKey(r.key); !e.empty()) {
      throw badRequest("unable to parse requirement: values[0][" + r.key +
                       "]: Invalid value: " + quote(r.key) + ": " + e);
    }
    for (const auto& v : r.values) {
      if (auto e = validateLabelValue(v); !e.empty()) {
        throw badRequest("unable to parse requirement: values[0][" + r.key +
                         "]: Invalid value: " + quote(v) + ": " + e);
      }
    }
    sel.reqs_.push_back(std::move(r));
  }
  return sel;
}

LabelSelector LabelSelector::fromObject(const json& selector) {
  LabelSelector sel;
  if (!selector.is_object()) return sel;
  if (selector.contains("matchLabels") && selector["matchLabels"].is_object()) {
    for (auto& [k, v] : selector["matchLabels"].items()) {
      sel.reqs_.push_back(
          {k, LabelRequirement::Op::Equals, {v.is_string() ? v.get<std::string>() : v.dump()}});
    }
  }
  if (selector.contains("matchExpressions") && selector["matchExpressions"].is_array()) {
    for (const auto& e : selector["matchExpressions"]) {
      LabelRequirement r;
      r.key = e.value("key", std::string());
      std::string op = e.value("operator", std::string());
      if (op == "In")
        r.op = LabelRequirement::Op::In;
      else if (op == "NotIn")
        r.op = LabelRequirement::Op::NotIn;
      else if (op == "Exists")
        r.op = LabelRequirement::Op::Exists;
      else
        r.op = LabelRequirement::Op::DoesNotExist;
      r.values = e.value("values", std::vector<std::string>{});
      sel.reqs_.push_back(r);
    }
  }
  return sel;
}

bool LabelSelector::matches(const json& labels) const {
  for (const auto& r : reqs_) {
    bool present = false;
    std::string v = labelOf(labels, r.key, present);
    bool inValues = std::find(r.values.begin(), r.values.end(), v) != r.values.end();
    switch (r.op) {
      case LabelRequirement::Op::Equals:
      case LabelRequirement::Op::In:
        if (!present || !inValues) return false;
        break;
      case LabelRequirement::Op::NotEquals:
      case LabelRequirement::Op::NotIn:
        if (present && inValues) return false;
        break;
      case LabelRequirement::Op::Exists:
        if (!present) return false;
        break;
      case LabelRequirement::Op::DoesNotExist:
        if (present) return false;
        break;
    }
  }
  return true;
}

FieldSelector FieldSelector::parse(const std::string& text,
                                   const std::vector<std::string>& supported) {
  FieldSelector sel;
  std::string t = trim(text);
  if (t.empty()) return sel;
  for (auto part : split(t, ',')) {
    part = trim(part);
    Req r;
    std::size_t p;
    if ((p = part.find("!=")) != std::string::npos) {
      r.field = trim(part.substr(0, p));
      r.negate = true;
      r.value = trim(part.substr(p + 2));
    } else if ((p = part.find("==")) != std::string::npos) {
      r.field = trim(part.substr(0, p));
      r.negate = false;
      r.value = trim(part.substr(p + 2));
    } else if ((p = part.find('=')) != std::string::npos) {
      r.field = trim(part.substr(0, p));
      r.negate = false;
      r.value = trim(part.substr(p + 1));
    } else {
      throw badRequest("invalid selector: '" + text + "'; can't understand '" + part + "'");
    }
    bool ok = r.field == "metadata.name" || r.field == "metadata.namespace" ||
              std::find(supported.begin(), supported.end(), r.field) != supported.end();
    if (!ok) throw badRequest("field label not supported: " + r.field);
    sel.reqs_.push_back(r);
  }
  return sel;
}

std::string fieldLabelValue(const json& object, const std::string& field) {
  const json* cur = &object;
  for (const auto& seg : split(field, '.')) {
    if (!cur->is_object()) return "";
    auto it = cur->find(seg);
    if (it == cur->end()) return "";
    cur = &*it;
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_null()) return "";
  return cur->dump();
}

bool FieldSelector::matches(const json& object) const {
  for (const auto& r : reqs_) {
    bool eq = fieldLabelValue(object, r.field) == r.value;
    if (eq == r.negate) return false;
  }
  return true;
}

std::vector<std::string> supportedFieldLabels(const std::string& resource) {
  if (resource == "pods") {
    return {
        "spec.nodeName",    "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
        "spec.hostNetwork", "status.phase",       "status.podIP",       "status.nominatedNodeName"};
  }
  if (resource == "events" || resource == "events.events.k8s.io") {
    return {"involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
            "regarding.kind",
            "regarding.name",
            "regarding.namespace",
            "regarding.uid"};
  }
  if (resource == "secrets") return {"type"};
  if (resource == "namespaces") return {"status.phase"};
  if (resource == "jobs.batch") return {"status.successful"};
  return {};
}

}  // namespace kubesim
