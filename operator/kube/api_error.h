#pragma once
// Errors cross module boundaries as values: the API server's Status (code, reason, message,
// causes), or a transport failure with code 0. Never carries a secret or a bearer token.
#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kube {

using json = nlohmann::json;

struct StatusCause {
  std::string reason;  // e.g. FieldValueRequired
  std::string message;
  std::string field;  // e.g. spec.image
};

struct ApiError {
  int code = 0;         // HTTP status code; 0 when no response was received
  std::string reason;   // Status.reason (NotFound, Conflict, AlreadyExists, Expired, ...) or a
                        // transport reason (ConnectionFailed, Timeout, TLSError, BadResponse)
  std::string message;  // for a person
  std::vector<StatusCause> causes;
  int retryAfterSeconds = 0;    // from Retry-After or Status.details.retryAfterSeconds
  bool genericMessage = false;  // the server gave no message: `message` is ours

  bool isNotFound() const { return code == 404; }
  bool isConflict() const { return code == 409 && reason != "AlreadyExists"; }
  bool isAlreadyExists() const { return code == 409 && reason == "AlreadyExists"; }
  bool isGone() const { return code == 410; }
  bool isForbidden() const { return code == 403; }
  bool isInvalid() const { return code == 422; }
  bool isTooManyRequests() const { return code == 429; }
  bool isTransport() const { return code == 0; }
  bool isBadRequest() const { return code == 400; }
  // A refusal the same request gets again however often it is retried: the object cannot be
  // decoded (400) or is invalid (422), or the server said why it forbids it (403 with a message:
  // RBAC, a ResourceQuota, an admission plugin or webhook, a namespace being terminated).
  // 401, 404, 409, 429, 5xx and transport failures are not: they may pass on retry.
  bool isPermanentRefusal() const {
    return code == 400 || code == 422 || (code == 403 && !genericMessage);
  }

  // Builds an error from a metav1.Status body (or any body) and the HTTP code.
  static ApiError fromStatus(int httpCode, const json& status);
  // The message is made valid UTF-8 (it often quotes user input: a selector, a kubeconfig).
  static ApiError transport(std::string reason, const std::string& message);
  // "409 Conflict: the object has been modified; ... (spec.image: Required value)"
  std::string describe() const;
};

// A value or an ApiError. Small on purpose: C++20 has no std::expected.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(ApiError error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  const ApiError& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, ApiError> v_;
};

struct Unit {};
using Status = Result<Unit>;  // success with no value, or an error

}  // namespace kube
