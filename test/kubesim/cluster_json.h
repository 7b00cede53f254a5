#pragma once
// Null-safe reads for the cluster actors: stored objects may carry `"status": null` or miss a
// field, and nlohmann's value() returns a stored null as is.
#include <nlohmann/json.hpp>

namespace kubesim {

// j[key] when it is an object, else {}.
inline nlohmann::json objectAt(const nlohmann::json& j, const char* key) {
  if (j.is_object()) {
    auto it = j.find(key);
    if (it != j.end() && it->is_object()) return *it;
  }
  return nlohmann::json::object();
}

// j[key] when it is an array, else [].
inline nlohmann::json arrayAt(const nlohmann::json& j, const char* key) {
  if (j.is_object()) {
    auto it = j.find(key);
    if (it != j.end() && it->is_array()) return *it;
  }
  return nlohmann::json::array();
}

}  // namespace kubesim
