#pragma once
// Keeps credentials out of logs and error text: Authorization headers, token query parameters,
// Secret data, and any registered secret string (bearer tokens read from files or plugins).
#include <string>

#include "operator/kube/api_error.h"

namespace kube {

inline constexpr const char* kRedacted = "<redacted>";

// "Bearer abc" -> "Bearer <redacted>"; other schemes keep only their name.
std::string redactAuthorization(const std::string& headerValue);
// Replaces the values of token-like query parameters (token, access_token, id_token, password,
// client_secret) in a URL or a query string.
std::string redactUrl(const std::string& url);
// A copy of an object with Secret data/stringData values replaced (lists and watch events of
// Secrets too). Other objects are returned unchanged.
json redactObject(const json& object);

// Secrets the process holds (bearer tokens, client keys). redactText() replaces every
// registered value in a text. Registration is process-wide and thread-safe; values shorter
// than 8 characters are ignored (they would blank out ordinary words).
void registerSecret(const std::string& value);
std::string redactText(std::string text);

}  // namespace kube
