#include "test/kubesim/token_request.h"

#include <openssl/rand.h>

#include <algorithm>

#include "test/kubesim/util.h"

namespace kubesim {

namespace {

std::string base64Url(const std::string& in) {
  std::string s = base64Encode(in);
  for (auto& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

std::int64_t unixSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

constexpr std::int64_t kDefaultExpirationSeconds = 3600;

}  // namespace

json ServiceAccountTokens::issue(const std::string& ns, const std::string& name,
                                 const json& request) {
  const json sa = store_.get("serviceaccounts", ns, name);  // 404 serviceaccounts "x" not found
  const json spec = request.is_object() && request.contains("spec") && request["spec"].is_object()
                        ? request["spec"]
                        : json::object();
  std::int64_t seconds = kDefaultExpirationSeconds;
  if (spec.contains("expirationSeconds") && spec["expirationSeconds"].is_number_integer())
    seconds = spec["expirationSeconds"].get<std::int64_t>();
  // ValidateTokenRequest; the REST storage reports it without a name.
  std::vector<FieldCause> causes;
  if (seconds < 600)
    causes.push_back({"FieldValueInvalid", "spec.expirationSeconds",
                      "Invalid value: " + std::to_string(seconds) +
                          ": may not specify a duration less than 10 minutes"});
  if (seconds > (std::int64_t{1} << 32))
    causes.push_back({"FieldValueInvalid", "spec.expirationSeconds",
                      "Invalid value: " + std::to_string(seconds) +
                          ": may not specify a duration larger than 2^32 seconds"});
  if (!causes.empty()) throw invalid("TokenRequest", "authentication.k8s.io", "", causes);
  std::vector<std::string> audiences;
  if (spec.contains("audiences") && spec["audiences"].is_array()) {
    for (const auto& a : spec["audiences"])
      if (a.is_string()) audiences.push_back(a.get<std::string>());
  }
  if (audiences.empty()) audiences.push_back(kApiAudience);
  const auto now = std::chrono::system_clock::now();
  const auto expires = now + std::chrono::seconds(seconds);
  const std::string uid = sa["metadata"].value("uid", std::string());
  const std::string user = "system:serviceaccount:" + ns + ":" + name;
  const json claims = {
      {"aud", audiences},
      {"exp", unixSeconds(expires)},
      {"iat", unixSeconds(now)},
      {"iss", kApiAudience},
      {"jti", randomUuid()},
      {"kubernetes.io", {{"namespace", ns}, {"serviceaccount", {{"name", name}, {"uid", uid}}}}},
      {"nbf", unixSeconds(now)},
      {"sub", user}};
  unsigned char sig[64];
  RAND_bytes(sig, sizeof sig);
  const std::string token = base64Url(json{{"alg", "RS256"}, {"kid", "kubesim"}}.dump()) + "." +
                            base64Url(claims.dump()) + "." +
                            base64Url(std::string(reinterpret_cast<const char*>(sig), sizeof sig));
  {
    std::lock_guard lock(mu_);
    tokens_[token] = Issued{ns, name, uid, audiences, expires};
  }
  return {{"kind", "TokenRequest"},
          {"apiVersion", "authentication.k8s.io/v1"},
          {"metadata", {{"name", name}, {"namespace", ns}, {"creationTimestamp", nullptr}}},
          {"spec",
           {{"audiences", audiences}, {"expirationSeconds", seconds}, {"boundObjectRef", nullptr}}},
          {"status", {{"token", token}, {"expirationTimestamp", formatRfc3339(expires)}}}};
}

std::optional<UserInfo> ServiceAccountTokens::authenticate(const std::string& bearerToken) {
  Issued t;
  {
    std::lock_guard lock(mu_);
    auto it = tokens_.find(bearerToken);
    if (it == tokens_.end()) return std::nullopt;
    if (std::chrono::system_clock::now() >= it->second.expires) {
      tokens_.erase(it);
      return std::nullopt;
    }
    t = it->second;
  }
  if (std::find(t.audiences.begin(), t.audiences.end(), kApiAudience) == t.audiences.end())
    return std::nullopt;
  // A bound token dies with its ServiceAccount (a new one of the same name has another uid).
  try {
    const json sa = store_.get("serviceaccounts", t.ns, t.name);
    if (sa["metadata"].value("uid", std::string()) != t.uid) return std::nullopt;
  } catch (const ApiException&) {
    return std::nullopt;
  }
  UserInfo u;
  u.name = "system:serviceaccount:" + t.ns + ":" + t.name;
  u.groups = {"system:serviceaccounts", "system:serviceaccounts:" + t.ns, "system:authenticated"};
  u.uid = t.uid;
  return u;
}

}  // namespace kubesim
