#pragma once
// What every fuzz target checks besides "no crash, no sanitizer report": text that the operator
// may put into a status, an Event or a log line is valid UTF-8 (the API server and our JSON
// encoder refuse anything else), and no exception escapes.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

namespace fuzz {

// Aborts (a finding) when `text` is not valid UTF-8: nlohmann's strict encoder throws on it,
// exactly what happens when such a message reaches a status write.
inline void requireUtf8(const std::string& text, const char* what) {
  try {
    (void)nlohmann::json(text).dump();
  } catch (const nlohmann::json::exception&) {
    std::fprintf(stderr, "finding: %s is not valid UTF-8\n", what);
    std::abort();
  }
}

inline void requireSerializable(const nlohmann::json& value, const char* what) {
  try {
    (void)value.dump();
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "finding: %s cannot be serialized: %s\n", what, e.what());
    std::abort();
  }
}

}  // namespace fuzz
