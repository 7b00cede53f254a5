#pragma once
// Shared by the controllers (flowrun, workpool): reading fields of Kubernetes objects that may be
// missing or have the wrong type, without throwing.
#include <nlohmann/json.hpp>

#include <string>

namespace controllers::flowrun::jsonutil {

// obj[key] when obj is an object and that member is a string, else "".
inline std::string str(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

// obj[key] when obj is an object that has it, else null.
inline const nlohmann::json& at(const nlohmann::json& obj, const char* key) {
  static const nlohmann::json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it != obj.end() ? *it : kNull;
}

}  // namespace controllers::flowrun::jsonutil
