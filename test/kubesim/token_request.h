#pragma once
// TokenRequest (POST /api/v1/namespaces/NS/serviceaccounts/NAME/token, `kubectl create token`):
// bound service account tokens as kube-apiserver issues them (JWT-shaped, with the API server's
// audience, expirationSeconds honoured) and the authenticator that accepts them while they are
// unexpired and their ServiceAccount still exists with the same uid.
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "test/kubesim/storage.h"

namespace kubesim {

class ServiceAccountTokens : public Authenticator {
 public:
  // The audience kube-apiserver accepts by default (--api-audiences = the issuer).
  static constexpr const char* kApiAudience = "https://kubernetes.default.svc.cluster.local";

  explicit ServiceAccountTokens(Storage& store) : store_(store) {}
  // The TokenRequest answer (201 body) for `request`; throws ApiException (404 when the
  // ServiceAccount does not exist, 422 for a duration under 10 minutes or over 2^32 seconds).
  json issue(const std::string& ns, const std::string& name, const json& request);
  std::optional<UserInfo> authenticate(const std::string& bearerToken) override;

 private:
  struct Issued {
    std::string ns, name, uid;
    std::vector<std::string> audiences;
    std::chrono::system_clock::time_point expires;
  };
  Storage& store_;
  std::mutex mu_;
  std::map<std::string, Issued> tokens_;
};

}  // namespace kubesim
