#include "operator/kube/api_error.h"

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
}  // namespace

ApiError ApiError::fromStatus(int httpCode, const json& status) {
  ApiError e;
  e.code = httpCode;
  if (status.is_object() && status.value("kind", "") == "Status") {
    if (status.contains("code") && status["code"].is_number_integer()) {
      e.code = status["code"].get<int>();
    }
    e.reason = status.value("reason", "");
    e.message = status.value("message", "");
    if (auto d = status.find("details"); d != status.end() && d->is_object()) {
      if (auto r = d->find("retryAfterSeconds"); r != d->end() && r->is_number_integer()) {
        e.retryAfterSeconds = r->get<int>();
      }
      if (auto cs = d->find("causes"); cs != d->end() && cs->is_array()) {
        for (const auto& c : *cs) {
          if (!c.is_object()) continue;
          e.causes.push_back({c.value("reason", ""), c.value("message", ""), c.value("field", "")});
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
