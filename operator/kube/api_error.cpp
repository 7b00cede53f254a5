#include "operator/kube/api_error.h"

#include "operator/kube/utf8.h"

namespace kube {

namespace {
std::string defaultReason(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return code >= 500 ? "InternalError" : "Unknown";
  }
}
// A string member of a Status, "" when absent or of another type: the body may come from a proxy
// or a broken server, and json::value() throws on a type mismatch.
std::string str(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// An integer member that fits an int, else `fallback`.
int integer(const json& obj, const char* key, int fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_number_integer()) return fallback;
  auto v = it->get<std::int64_t>();
  return v >= 0 && v <= 1000000000 ? static_cast<int>(v) : fallback;
}

}  // namespace

ApiError ApiError::fromStatus(int httpCode, const json& status) {
  ApiError e;
  e.code = httpCode;
  if (status.is_object() && str(status, "kind") == "Status") {
    int code = integer(status, "code", 0);
    if (code >= 100 && code <= 599) e.code = code;
    e.reason = str(status, "reason");
    e.message = str(status, "message");
    if (auto d = status.find("details"); d != status.end() && d->is_object()) {
      e.retryAfterSeconds = integer(*d, "retryAfterSeconds", 0);
      if (auto cs = d->find("causes"); cs != d->end() && cs->is_array()) {
        for (const auto& c : *cs) {
          if (!c.is_object()) continue;
          e.causes.push_back({str(c, "reason"), str(c, "message"), str(c, "field")});
        }
      }
    }
  }
  if (e.reason.empty()) e.reason = defaultReason(e.code);
  if (e.message.empty()) {
    e.message = "the server responded with HTTP " + std::to_string(httpCode);
    e.genericMessage = true;
  }
  return e;
}

ApiError ApiError::transport(std::string reason, const std::string& message) {
  return ApiError{0, std::move(reason), validUtf8(message), {}, 0};
}

std::string ApiError::describe() const {
  std::string s = code == 0 ? reason : std::to_string(code) + " " + reason;
  s += ": " + message;
  // The API server's message usually lists the causes already; add them only when it does not.
  for (const auto& c : causes) {
    if (!c.field.empty() && message.find(c.field) == std::string::npos) {
      s += " (" + c.field + ": " + c.message + ")";
    }
  }
  return s;
}

}  // namespace kube
