#include "test/kubesim/schema.h"

#include <cmath>
#include <regex>
#include <set>

namespace kubesim {

namespace {

std::string child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

bool preserves(const json& s) {
  return s.is_object() && s.value("x-kubernetes-preserve-unknown-fields", false);
}

bool isEmbedded(const json& s) {
  return s.is_object() && s.value("x-kubernetes-embedded-resource", false);
}

void prune(const json& s, json& v, const std::string& path, std::vector<std::string>& unknown,
           bool root) {
  if (!s.is_object()) return;
  if (s.value("x-kubernetes-int-or-string", false)) return;
  if (v.is_object()) {
    const json* props =
        s.contains("properties") && s["properties"].is_object() ? &s["properties"] : nullptr;
    const json* addl = s.contains("additionalProperties") ? &s["additionalProperties"] : nullptr;
    bool keepUnknown = preserves(s) || (addl && addl->is_boolean() && addl->get<bool>());
    // Nulls where the schema is not nullable are dropped before defaulting (as the API server
    // does), so that a default can take their place.
    if (props) {
      for (auto it = v.begin(); it != v.end();) {
        auto p = props->find(it.key());
        if (it->is_null() && p != props->end() && !p->value("nullable", false) &&
            p->contains("default")) {
          it = v.erase(it);
        } else {
          ++it;
        }
      }
    }
    std::vector<std::string> toErase;
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string& k = it.key();
      if ((root || isEmbedded(s)) && (k == "apiVersion" || k == "kind" || k == "metadata"))
        continue;
      if (props && props->contains(k)) {
        prune((*props)[k], it.value(), child(path, k), unknown, false);
      } else if (addl && addl->is_object()) {
        prune(*addl, it.value(), child(path, k), unknown, false);
      } else if (!keepUnknown) {
        toErase.push_back(k);
      }
    }
    for (const auto& k : toErase) {
      unknown.push_back(child(path, k));
      v.erase(k);
    }
    if (props) {
      for (auto& [k, ps] : props->items()) {
        if (!v.contains(k) && ps.is_object() && ps.contains("default")) {
          v[k] = ps["default"];
          // Defaults may themselves need defaulting/pruning below.
          prune(ps, v[k], child(path, k), unknown, false);
        }
      }
    }
  } else if (v.is_array() && s.contains("items") && s["items"].is_object()) {
    for (std::size_t i = 0; i < v.size(); ++i) {
      prune(s["items"], v[i], path + "[" + std::to_string(i) + "]", unknown, false);
    }
  }
}

std::string typeName(const json& v) {
  switch (v.type()) {
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float: {
      double d = v.get<double>();
      return (std::floor(d) == d) ? "integer" : "number";
    }
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::null:
      return "null";
    default:
      return "unknown";
  }
}

// Go's %v of a JSON value in "Invalid value: X".
std::string goValue(const json& v) {
  if (v.is_string()) return quote(v.get<std::string>());
  if (v.is_object()) return "\"object\"";
  if (v.is_array()) return "\"array\"";
  if (v.is_null()) return "\"null\"";
  return v.dump();
}

std::string numberText(const json& v) {
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::floor(d) == d) return std::to_string(static_cast<long long>(d));
  }
  return v.dump();
}

bool typeMatches(const std::string& want, const json& v) {
  std::string got = typeName(v);
  if (want == "number") return got == "integer" || got == "number";
  return want == got;
}

void validate(const json& s, const json& v, const std::string& path, std::vector<FieldCause>& out) {
  if (!s.is_object()) return;
  std::string type = s.value("type", std::string());
  if (v.is_null()) {
    if (s.value("nullable", false) || type.empty()) return;
    out.push_back(
        {"FieldValueTypeInvalid", path,
         "Invalid value: \"null\": " + path + " in body must be of type " + type + ": \"null\""});
    return;
  }
  if (s.value("x-kubernetes-int-or-string", false)) {
    if (!v.is_string() && typeName(v) != "integer") {
      out.push_back({"FieldValueTypeInvalid", path,
                     "Invalid value: " + quote(typeName(v)) + ": " + path +
                         " in body must be of type integer,string: " + quote(typeName(v))});
    }
    return;
  }
  if (!type.empty() && !typeMatches(type, v)) {
    out.push_back({"FieldValueTypeInvalid", path,
                   "Invalid value: " + quote(typeName(v)) + ": " + path +
                       " in body must be of type " + type + ": " + quote(typeName(v))});
    return;
  }
  if (s.contains("enum") && s["enum"].is_array()) {
    bool found = false;
    for (const auto& e : s["enum"]) found = found || e == v;
    if (!found) {
      std::string vals;
      for (const auto& e : s["enum"]) vals += (vals.empty() ? "" : ", ") + goValue(e);
      out.push_back({"FieldValueNotSupported", path,
                     "Unsupported value: " + goValue(v) + ": supported values: " + vals});
    }
  }
  if (v.is_string()) {
    const auto str = v.get<std::string>();
    // Length in characters (UTF-8 code points), as Go's utf8.RuneCountInString.
    std::size_t len = 0;
    for (unsigned char c : str) len += (c & 0xC0) != 0x80;
    if (s.contains("maxLength") && s["maxLength"].is_number() &&
        len > s["maxLength"].get<std::size_t>()) {
      out.push_back(
          {"FieldValueTooLong", path, "Too long: may not be longer than " + s["maxLength"].dump()});
    }
    if (s.contains("minLength") && s["minLength"].is_number() &&
        len < s["minLength"].get<std::size_t>()) {
      out.push_back({"FieldValueInvalid", path,
                     "Invalid value: " + goValue(v) + ": " + path + " in body should be at least " +
                         s["minLength"].dump() + " chars long"});
    }
    if (s.contains("pattern") && s["pattern"].is_string()) {
      std::string pat = s["pattern"].get<std::string>();
      try {
        std::regex re(pat, std::regex::ECMAScript);
        if (!std::regex_search(str, re)) {
          out.push_back({"FieldValueInvalid", path,
                         "Invalid value: " + goValue(v) + ": " + path + " in body should match '" +
                             pat + "'"});
        }
      } catch (const std::regex_error&) {
        // A pattern std::regex cannot compile (RE2-only syntax) is not enforced; documented.
      }
    }
  }
  if (v.is_number()) {
    double d = v.get<double>();
    if (s.contains("minimum") && s["minimum"].is_number()) {
      double m = s["minimum"].get<double>();
      bool excl = s.value("exclusiveMinimum", false);
      if (excl ? d <= m : d < m) {
        out.push_back({"FieldValueInvalid", path,
                       "Invalid value: " + numberText(v) + ": " + path +
                           " in body should be greater than " + (excl ? "" : "or equal to ") +
                           numberText(s["minimum"])});
      }
    }
    if (s.contains("maximum") && s["maximum"].is_number()) {
      double m = s["maximum"].get<double>();
      bool excl = s.value("exclusiveMaximum", false);
      if (excl ? d >= m : d > m) {
        out.push_back({"FieldValueInvalid", path,
                       "Invalid value: " + numberText(v) + ": " + path +
                           " in body should be less than " + (excl ? "" : "or equal to ") +
                           numberText(s["maximum"])});
      }
    }
    if (s.contains("multipleOf") && s["multipleOf"].is_number()) {
      double m = s["multipleOf"].get<double>();
      if (m != 0 && std::fmod(d, m) != 0) {
        out.push_back({"FieldValueInvalid", path,
                       "Invalid value: " + numberText(v) + ": " + path +
                           " in body should be a multiple of " + numberText(s["multipleOf"])});
      }
    }
  }
  if (v.is_array()) {
    if (s.contains("maxItems") && s["maxItems"].is_number() &&
        v.size() > s["maxItems"].get<std::size_t>()) {
      out.push_back({"FieldValueTooMany", path,
                     "Too many: " + std::to_string(v.size()) + ": must have at most " +
                         s["maxItems"].dump() + " items"});
    }
    if (s.contains("minItems") && s["minItems"].is_number() &&
        v.size() < s["minItems"].get<std::size_t>()) {
      out.push_back({"FieldValueInvalid", path,
                     "Invalid value: " + std::to_string(v.size()) + ": " + path +
                         " in body should have at least " + s["minItems"].dump() + " items"});
    }
    if (s.value("uniqueItems", false) ||
        s.value("x-kubernetes-list-type", std::string()) == "set") {
      for (std::size_t i = 0; i < v.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
          if (v[i] == v[j]) {
            out.push_back({"FieldValueDuplicate", path + "[" + std::to_string(i) + "]",
                           "Duplicate value: " + goValue(v[i])});
          }
        }
      }
    }
    if (s.contains("items") && s["items"].is_object()) {
      for (std::size_t i = 0; i < v.size(); ++i) {
        validate(s["items"], v[i], path + "[" + std::to_string(i) + "]", out);
      }
    }
  }
  if (v.is_object()) {
    if (s.contains("required") && s["required"].is_array()) {
      for (const auto& r : s["required"]) {
        if (r.is_string() && !v.contains(r.get<std::string>())) {
          out.push_back(
              {"FieldValueRequired", child(path, r.get<std::string>()), "Required value"});
        }
      }
    }
    if (s.contains("maxProperties") && s["maxProperties"].is_number() &&
        v.size() > s["maxProperties"].get<std::size_t>()) {
      out.push_back({"FieldValueTooMany", path,
                     "Too many: " + std::to_string(v.size()) + ": must have at most " +
                         s["maxProperties"].dump() + " items"});
    }
    if (s.contains("minProperties") && s["minProperties"].is_number() &&
        v.size() < s["minProperties"].get<std::size_t>()) {
      out.push_back({"FieldValueInvalid", path,
                     "Invalid value: " + std::to_string(v.size()) + ": " + path +
                         " in body should have at least " + s["minProperties"].dump() +
                         " properties"});
    }
    const json* props =
        s.contains("properties") && s["properties"].is_object() ? &s["properties"] : nullptr;
    for (auto it = v.begin(); it != v.end(); ++it) {
      if (path.empty() &&
          (it.key() == "apiVersion" || it.key() == "kind" || it.key() == "metadata"))
        continue;
      if (props && props->contains(it.key())) {
        validate((*props)[it.key()], it.value(), child(path, it.key()), out);
      } else if (s.contains("additionalProperties") && s["additionalProperties"].is_object()) {
        validate(s["additionalProperties"], it.value(), child(path, it.key()), out);
      }
    }
  }
}

}  // namespace

void pruneAndDefault(const json& schema, json& object, std::vector<std::string>& unknown) {
  prune(schema, object, "", unknown, true);
}

std::vector<FieldCause> validateSchema(const json& schema, const json& object) {
  std::vector<FieldCause> out;
  validate(schema, object, "", out);
  return out;
}

}  // namespace kubesim
