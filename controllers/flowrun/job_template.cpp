#include "controllers/flowrun/job_template.h"

#include <yaml-cpp/yaml.h>

#include "operator/kube/utf8.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <exception>

namespace controllers::flowrun::templating {

using nlohmann::json;

namespace {

// Deeper documents are refused rather than risking the stack in recursive walks (ours and the
// parsers'). Real templates nest about 10 levels.
constexpr int kMaxDepth = 128;
// YAML aliases can expand exponentially ("billion laughs"); a template has a few hundred nodes.
constexpr std::size_t kMaxYamlNodes = 200000;

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-' || c == '[' || c == ']' || c == '$';
}
bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
// Never throws on invalid UTF-8 (nlohmann's dump() does by default).
std::string safeDump(const json& v) {
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool startsWith(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

PlaceholderKind kindOf(const std::string& name) {
  if (startsWith(name, "prefect.blocks.")) return PlaceholderKind::BlockDocument;
  if (startsWith(name, "prefect.variables.")) return PlaceholderKind::Variable;
  if (startsWith(name, "$")) return PlaceholderKind::EnvVar;
  return PlaceholderKind::Standard;
}

bool isPlainKey(const std::string& key) {
  if (key.empty()) return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string typeName(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "number";
    case json::value_t::string:
      return "string";
    case json::value_t::array:
      return "array";
    case json::value_t::object:
      return "object";
    default:
      return "value";
  }
}

bool matchesType(const json& v, const std::string& type) {
  if (type == "integer") {
    if (v.is_number_integer()) return true;
    if (v.is_number_float()) {
      const double d = v.get<double>();
      return std::isfinite(d) && std::floor(d) == d;
    }
    return false;
  }
  if (type == "number") return v.is_number();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "null") return v.is_null();
  return true;  // an unknown type name constrains nothing
}

std::string typeListText(const json& type) {
  if (type.is_string()) return type.get<std::string>();
  std::string out;
  if (type.is_array()) {
    for (const auto& t : type) {
      if (!t.is_string()) continue;
      if (!out.empty()) out += " or ";
      out += t.get<std::string>();
    }
  }
  return out;
}

std::string prefixPath(const std::string& head, const std::string& tail) {
  if (tail.empty()) return head;
  if (head.empty()) return tail;
  if (tail[0] == '[') return head + tail;
  return head + "." + tail;
}

std::optional<SchemaViolation> check(const json& value, const json& schema, const json& root,
                                     int depth) {
  if (depth > kMaxDepth) return SchemaViolation{"", "schema nests too deeply"};
  if (schema.is_boolean()) {
    if (schema.get<bool>()) return std::nullopt;
    return SchemaViolation{"", "is not allowed by the template's schema"};
  }
  if (!schema.is_object()) return std::nullopt;

  if (auto ref = schema.find("$ref"); ref != schema.end() && ref->is_string()) {
    const std::string r = ref->get<std::string>();
    if (startsWith(r, "#/")) {
      try {
        const json::json_pointer ptr(r.substr(1));
        if (root.contains(ptr)) {
          if (auto v = check(value, root.at(ptr), root, depth + 1)) return v;
        }
      } catch (const std::exception&) {
        // A malformed or dangling $ref constrains nothing, like Prefect's UI does.
      }
    }
  }
  if (auto all = schema.find("allOf"); all != schema.end() && all->is_array()) {
    for (const auto& sub : *all) {
      if (auto v = check(value, sub, root, depth + 1)) return v;
    }
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    auto any = schema.find(key);
    if (any == schema.end() || !any->is_array() || any->empty()) continue;
    std::optional<SchemaViolation> first;
    bool matched = false;
    std::string alternatives;
    for (const auto& sub : *any) {
      auto v = check(value, sub, root, depth + 1);
      if (!v) {
        matched = true;
        break;
      }
      if (!first) first = v;
      if (sub.is_object() && sub.contains("type")) {
        if (!alternatives.empty()) alternatives += " or ";
        alternatives += typeListText(sub.at("type"));
      }
    }
    if (!matched) {
      if (any->size() == 1 && first) return first;
      if (!alternatives.empty()) {
        return SchemaViolation{"",
                               "must be of type " + alternatives + ", got " + describeValue(value)};
      }
      return first;
    }
  }
  if (auto type = schema.find("type"); type != schema.end()) {
    bool ok = false;
    if (type->is_string()) {
      ok = matchesType(value, type->get<std::string>());
    } else if (type->is_array()) {
      for (const auto& t : *type) {
        if (t.is_string() && matchesType(value, t.get<std::string>())) ok = true;
      }
    } else {
      ok = true;
    }
    if (!ok) {
      return SchemaViolation{
          "", "must be of type " + typeListText(*type) + ", got " + describeValue(value)};
    }
  }
  if (auto en = schema.find("enum"); en != schema.end() && en->is_array()) {
    bool ok = false;
    std::string allowed;
    for (const auto& option : *en) {
      if (option == value) ok = true;
      if (!allowed.empty()) allowed += ", ";
      allowed += option.is_string() ? option.get<std::string>() : safeDump(option);
    }
    if (!ok) {
      return SchemaViolation{"", "must be one of " + allowed + ", got " + describeValue(value)};
    }
  }
  if (auto c = schema.find("const"); c != schema.end() && *c != value) {
    return SchemaViolation{"", "must be " + safeDump(*c) + ", got " + describeValue(value)};
  }
  if (value.is_number()) {
    const double d = value.get<double>();
    if (auto m = schema.find("minimum");
        m != schema.end() && m->is_number() && d < m->get<double>()) {
      return SchemaViolation{"", "must be at least " + m->dump() + ", got " + value.dump()};
    }
    if (auto m = schema.find("maximum");
        m != schema.end() && m->is_number() && d > m->get<double>()) {
      return SchemaViolation{"", "must be at most " + m->dump() + ", got " + value.dump()};
    }
  }
  if (value.is_string()) {
    const auto len = value.get_ref<const std::string&>().size();
    if (auto m = schema.find("minLength");
        m != schema.end() && m->is_number_unsigned() && len < m->get<std::size_t>()) {
      return SchemaViolation{"", "must be at least " + m->dump() + " characters long"};
    }
    if (auto m = schema.find("maxLength");
        m != schema.end() && m->is_number_unsigned() && len > m->get<std::size_t>()) {
      return SchemaViolation{"", "must be at most " + m->dump() + " characters long"};
    }
  }
  if (value.is_object()) {
    const json* props = nullptr;
    if (auto p = schema.find("properties"); p != schema.end() && p->is_object()) props = &*p;
    if (auto req = schema.find("required"); req != schema.end() && req->is_array()) {
      for (const auto& r : *req) {
        if (r.is_string() && !value.contains(r.get<std::string>())) {
          return SchemaViolation{joinPath("", r.get<std::string>()), "required"};
        }
      }
    }
    const auto additional = schema.find("additionalProperties");
    for (const auto& [k, v] : value.items()) {
      const json* sub = nullptr;
      if (props != nullptr) {
        if (auto it = props->find(k); it != props->end()) sub = &*it;
      }
      if (sub == nullptr && additional != schema.end()) sub = &*additional;
      if (sub == nullptr) continue;
      if (auto bad = check(v, *sub, root, depth + 1)) {
        return SchemaViolation{prefixPath(joinPath("", k), bad->path), bad->message};
      }
    }
  }
  if (value.is_array()) {
    if (auto items = schema.find("items"); items != schema.end() && items->is_object()) {
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (auto bad = check(value[i], *items, root, depth + 1)) {
          return SchemaViolation{prefixPath(indexPath("", i), bad->path), bad->message};
        }
      }
    }
  }
  return std::nullopt;
}

std::variant<std::optional<json>, RenderError> apply(
    const json& tmpl, const json& values, const std::function<bool(const std::string&)>& isKnown,
    const std::string& path, const std::string& origin, int depth) {
  if (depth > kMaxDepth) return RenderError{path, "nests too deeply", origin};
  if (tmpl.is_string()) {
    const std::string& text = tmpl.get_ref<const std::string&>();
    const auto placeholders = findPlaceholders(text);
    if (placeholders.empty()) return std::optional<json>(tmpl);
    for (const auto& p : placeholders) {
      switch (p.kind) {
        case PlaceholderKind::BlockDocument:
        case PlaceholderKind::Variable:
          return RenderError{path,
                             p.fullMatch +
                                 " needs the Prefect API (block documents and Prefect variables "
                                 "are resolved by a Prefect worker); put the value in the "
                                 "template or in spec.variables",
                             origin};
        case PlaceholderKind::EnvVar:
          return RenderError{path,
                             p.fullMatch +
                                 " reads the worker's environment, which the operator does not "
                                 "expose; put the value in the template or in spec.variables",
                             origin};
        case PlaceholderKind::Standard:
          break;
      }
      if (!isKnown(rootName(p.name))) {
        return RenderError{path,
                           p.fullMatch + " names no variable of the template (declare \"" +
                               rootName(p.name) + "\" in variables.properties)",
                           origin};
      }
    }
    if (placeholders.size() == 1 && placeholders[0].fullMatch == text) {
      auto v = lookup(values, placeholders[0].name);
      if (!v || v->is_null()) return std::optional<json>();  // unset: the caller drops the key
      return v;
    }
    std::string out = text;
    for (const auto& p : placeholders) {
      auto v = lookup(values, p.name);
      const std::string replacement = (!v || v->is_null()) ? std::string() : toText(*v);
      std::size_t pos = 0;
      while ((pos = out.find(p.fullMatch, pos)) != std::string::npos) {
        out.replace(pos, p.fullMatch.size(), replacement);
        pos += replacement.size();
      }
    }
    return std::optional<json>(json(out));
  }
  if (tmpl.is_object()) {
    json out = json::object();
    for (const auto& [k, v] : tmpl.items()) {
      auto r = apply(v, values, isKnown, joinPath(path, k), origin, depth + 1);
      if (auto* err = std::get_if<RenderError>(&r)) return *err;
      auto& rendered = std::get<std::optional<json>>(r);
      if (rendered) out[k] = std::move(*rendered);
    }
    return std::optional<json>(std::move(out));
  }
  if (tmpl.is_array()) {
    json out = json::array();
    for (std::size_t i = 0; i < tmpl.size(); ++i) {
      auto r = apply(tmpl[i], values, isKnown, indexPath(path, i), origin, depth + 1);
      if (auto* err = std::get_if<RenderError>(&r)) return *err;
      auto& rendered = std::get<std::optional<json>>(r);
      if (rendered) out.push_back(std::move(*rendered));
    }
    return std::optional<json>(std::move(out));
  }
  return std::optional<json>(tmpl);
}

// Bracket nesting outside JSON strings; an over-estimate for YAML, which is fine for a guard.
int maxNesting(const std::string& text, bool json) {
  int depth = 0;
  int maxDepth = 0;
  bool inString = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (json && inString) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        inString = false;
      }
      continue;
    }
    if (json && c == '"') {
      inString = true;
    } else if (c == '{' || c == '[') {
      maxDepth = std::max(maxDepth, ++depth);
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return maxDepth;
}

bool allDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// YAML 1.2 core schema resolution of a plain scalar.
json plainScalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  std::string_view v = s;
  const bool negative = !v.empty() && v[0] == '-';
  std::string_view digits = (!v.empty() && (v[0] == '-' || v[0] == '+')) ? v.substr(1) : v;
  if (allDigits(digits)) {
    std::int64_t n = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
    if (ec == std::errc() && ptr == digits.data() + digits.size()) return negative ? -n : n;
  }
  if (v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'o')) {
    std::int64_t n = 0;
    const int base = v[1] == 'x' ? 16 : 8;
    auto [ptr, ec] = std::from_chars(v.data() + 2, v.data() + v.size(), n, base);
    if (ec == std::errc() && ptr == v.data() + v.size()) return n;
  }
  // [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
  {
    std::size_t i = (v.size() > 0 && (v[0] == '-' || v[0] == '+')) ? 1 : 0;
    std::size_t intDigits = 0;
    while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++intDigits;
    std::size_t fracDigits = 0;
    bool dot = false;
    if (i < v.size() && v[i] == '.') {
      dot = true;
      ++i;
      while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++fracDigits;
    }
    bool ok = intDigits > 0 || (dot && fracDigits > 0);
    if (ok && i < v.size() && (v[i] == 'e' || v[i] == 'E')) {
      ++i;
      if (i < v.size() && (v[i] == '-' || v[i] == '+')) ++i;
      std::size_t expDigits = 0;
      while (i < v.size() && v[i] >= '0' && v[i] <= '9') ++i, ++expDigits;
      ok = expDigits > 0;
    }
    if (ok && i == v.size()) {
      double d = 0;
      const char* begin = v.data() + ((v[0] == '+') ? 1 : 0);
      auto [ptr, ec] = std::from_chars(begin, v.data() + v.size(), d);
      if (ec == std::errc() && ptr == v.data() + v.size() && std::isfinite(d)) return d;
    }
  }
  return s;
}

struct YamlConverter {
  std::size_t nodes = 0;
  std::optional<std::string> error;

  json convert(const YAML::Node& node, int depth) {
    if (error) return nullptr;
    if (++nodes > kMaxYamlNodes) {
      error = "too many nodes (more than " + std::to_string(kMaxYamlNodes) +
              ", are aliases expanding?)";
      return nullptr;
    }
    if (depth > kMaxDepth) {
      error = "nests more than " + std::to_string(kMaxDepth) + " levels deep";
      return nullptr;
    }
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        return nullptr;
      case YAML::NodeType::Scalar: {
        const std::string& tag = node.Tag();
        // "!" marks a quoted (non-plain) scalar: always a string; so does an explicit !!str.
        if (tag == "!" || (tag.size() >= 4 && tag.compare(tag.size() - 4, 4, ":str") == 0)) {
          return node.Scalar();
        }
        return plainScalar(node.Scalar());
      }
      case YAML::NodeType::Sequence: {
        json out = json::array();
        for (const auto& item : node) out.push_back(convert(item, depth + 1));
        return out;
      }
      case YAML::NodeType::Map: {
        json out = json::object();
        for (const auto& kv : node) {
          if (!kv.first.IsScalar()) {
            error = "a mapping key at line " + std::to_string(kv.first.Mark().line + 1) +
                    " is not a plain string";
            return nullptr;
          }
          out[kv.first.Scalar()] = convert(kv.second, depth + 1);
        }
        return out;
      }
    }
    return nullptr;
  }
};

}  // namespace

std::vector<Placeholder> findPlaceholders(const std::string& text) {
  std::vector<Placeholder> out;
  std::size_t i = 0;
  while ((i = text.find("{{", i)) != std::string::npos) {
    std::size_t j = i + 2;
    while (j < text.size() && isSpace(text[j])) ++j;
    const std::size_t nameStart = j;
    while (j < text.size() && isNameChar(text[j])) ++j;
    const std::size_t nameEnd = j;
    while (j < text.size() && isSpace(text[j])) ++j;
    if (nameEnd > nameStart && text.compare(j, 2, "}}") == 0) {
      Placeholder p{text.substr(i, j + 2 - i), text.substr(nameStart, nameEnd - nameStart),
                    PlaceholderKind::Standard};
      p.kind = kindOf(p.name);
      bool seen = false;
      for (const auto& q : out) seen = seen || q.fullMatch == p.fullMatch;
      if (!seen) out.push_back(std::move(p));
      i = j + 2;
    } else {
      ++i;
    }
  }
  return out;
}

std::string rootName(const std::string& name) {
  const std::size_t end = name.find_first_of(".[");
  return end == std::string::npos ? name : name.substr(0, end);
}

std::optional<json> lookup(const json& values, const std::string& name) {
  // Prefect's get_from_dict: "a.b[0]" -> a, b, 0.
  std::string keys = name;
  for (char& c : keys) {
    if (c == '[') c = '.';
  }
  std::erase(keys, ']');
  const json* cur = &values;
  std::size_t start = 0;
  while (start <= keys.size()) {
    std::size_t dot = keys.find('.', start);
    if (dot == std::string::npos) dot = keys.size();
    const std::string key = keys.substr(start, dot - start);
    if (cur->is_object()) {
      auto it = cur->find(key);
      if (it == cur->end()) return std::nullopt;
      cur = &*it;
    } else if (cur->is_array() && allDigits(key)) {
      std::size_t index = 0;
      auto [ptr, ec] = std::from_chars(key.data(), key.data() + key.size(), index);
      if (ec != std::errc() || index >= cur->size()) return std::nullopt;
      cur = &(*cur)[index];
    } else {
      return std::nullopt;
    }
    start = dot + 1;
  }
  return *cur;
}

std::string toText(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  if (value.is_null()) return "None";
  return safeDump(value);
}

std::variant<std::optional<json>, RenderError> applyValues(
    const json& tmpl, const json& values, const std::function<bool(const std::string&)>& isKnown,
    const std::string& path, const std::string& origin) {
  return apply(tmpl, values, isKnown, path, origin, 0);
}

std::optional<SchemaViolation> checkAgainstSchema(const json& value, const json& schema,
                                                  const json& rootSchema) {
  return check(value, schema, rootSchema, 0);
}

std::optional<RenderError> checkTemplateShape(const json& tmpl, const std::string& origin) {
  if (!tmpl.is_object()) {
    return RenderError{"",
                       "a base job template must be an object with job_configuration and "
                       "variables, got " +
                           describeValue(tmpl),
                       origin};
  }
  auto jc = tmpl.find("job_configuration");
  if (jc == tmpl.end()) return RenderError{"job_configuration", "required", origin};
  if (!jc->is_object()) {
    return RenderError{"job_configuration", "must be an object, got " + describeValue(*jc), origin};
  }
  auto jm = jc->find("job_manifest");
  if (jm == jc->end()) return RenderError{"job_configuration.job_manifest", "required", origin};
  if (!jm->is_object()) {
    return RenderError{"job_configuration.job_manifest",
                       "must be an object (the Job manifest), got " + describeValue(*jm), origin};
  }
  auto vars = tmpl.find("variables");
  if (vars != tmpl.end() && !vars->is_null()) {
    if (!vars->is_object()) {
      return RenderError{"variables",
                         "must be an object (a JSON schema), got " + describeValue(*vars), origin};
    }
    auto props = vars->find("properties");
    if (props != vars->end()) {
      if (!props->is_object()) {
        return RenderError{"variables.properties",
                           "must be an object, got " + describeValue(*props), origin};
      }
      for (const auto& [name, schema] : props->items()) {
        if (!schema.is_object()) {
          return RenderError{joinPath("variables.properties", name),
                             "must be an object (a JSON schema), got " + describeValue(schema),
                             origin};
        }
      }
    }
    auto req = vars->find("required");
    if (req != vars->end() && !req->is_array()) {
      return RenderError{"variables.required", "must be a list of variable names", origin};
    }
  }
  return std::nullopt;
}

std::variant<json, RenderError> parseDocument(const std::string& text, const std::string& origin) {
  std::size_t first = 0;
  while (first < text.size() && isSpace(text[first])) ++first;
  if (first == text.size()) return RenderError{"", "is empty", origin};
  if (auto problem = kube::utf8Problem(text); !problem.empty()) {
    return RenderError{"", "is not valid UTF-8 text: " + problem, origin};
  }
  const bool isJson = text[first] == '{' || text[first] == '[';
  if (maxNesting(text, isJson) > kMaxDepth) {
    return RenderError{"", "nests more than " + std::to_string(kMaxDepth) + " levels deep", origin};
  }
  if (isJson) {
    try {
      return json::parse(text);
    } catch (const json::parse_error& e) {
      std::string what = e.what();
      // "[json.exception.parse_error.101] parse error at line 3, column 5: ..." -> the rest
      if (auto pos = what.find("] "); pos != std::string::npos) what = what.substr(pos + 2);
      return RenderError{"", "is not valid JSON: " + what, origin};
    } catch (const std::exception& e) {
      return RenderError{"", std::string("is not valid JSON: ") + e.what(), origin};
    }
  }
  try {
    const YAML::Node node = YAML::Load(text);
    YamlConverter converter;
    json out = converter.convert(node, 0);
    if (converter.error) return RenderError{"", "is not usable YAML: " + *converter.error, origin};
    return out;
  } catch (const YAML::Exception& e) {
    return RenderError{"",
                       "is neither JSON nor valid YAML: line " + std::to_string(e.mark.line + 1) +
                           ", column " + std::to_string(e.mark.column + 1) + ": " + e.msg,
                       origin};
  } catch (const std::exception& e) {
    return RenderError{"", std::string("is neither JSON nor valid YAML: ") + e.what(), origin};
  }
}

std::string joinPath(const std::string& base, const std::string& key) {
  if (isPlainKey(key)) return base.empty() ? key : base + "." + key;
  return base + "[" + safeDump(json(key)) + "]";
}

std::string indexPath(const std::string& base, std::size_t index) {
  return base + "[" + std::to_string(index) + "]";
}

std::string describeValue(const json& value) {
  if (value.is_string()) {
    std::string s = value.get<std::string>();
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return "string " + safeDump(json(s));
  }
  if (value.is_number() || value.is_boolean()) return typeName(value) + " " + value.dump();
  return typeName(value);
}

}  // namespace controllers::flowrun::templating
