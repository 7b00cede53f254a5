// Cluster: the actors besides the API server. This first version knows the admin token and
// injects no faults; the garbage collector, Job controller, kubelet, RBAC and faults plug in here.
#include "test/kubesim/cluster.h"

#include <openssl/rand.h>
#include <map>
#include <mutex>

namespace kubesim {

namespace {

std::string randomToken() {
  unsigned char bytes[24];
  RAND_bytes(bytes, sizeof bytes);
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned char b : bytes) {
    s += hex[b >> 4];
    s += hex[b & 15];
  }
  return s;
}

class TokenAuthenticator : public Authenticator {
 public:
  std::string tokenFor(const std::string& user) {
    std::lock_guard lock(mu_);
    for (const auto& [token, info] : users_) {
      if (info.name == user) return token;
    }
    UserInfo info{user, {"system:authenticated"}};
    if (user == "admin") info.groups.push_back("system:masters");
    const std::string prefix = "system:serviceaccount:";
    if (user.rfind(prefix, 0) == 0) {
      auto ns = user.substr(prefix.size(), user.find(':', prefix.size()) - prefix.size());
      info.groups.push_back("system:serviceaccounts");
      info.groups.push_back("system:serviceaccounts:" + ns);
    }
    auto token = randomToken();
    users_[token] = info;
    return token;
  }
  std::optional<UserInfo> authenticate(const std::string& bearerToken) override {
    std::lock_guard lock(mu_);
    auto it = users_.find(bearerToken);
    if (it == users_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, UserInfo> users_;
};

class NoFaults : public FaultInjector {
 public:
  FaultDecision onRequest(const RequestAttributes&) override { return {}; }
  std::uint64_t watchEpoch() const override { return 0; }
};

}  // namespace

struct Cluster::Impl {
  Impl(ObjectStore& s, ClusterOptions o) : store(s), options(o) {}
  ObjectStore& store;
  ClusterOptions options;
  TokenAuthenticator tokens;
  NoFaults faults;
};

Cluster::Cluster(ObjectStore& store, ClusterOptions options)
    : impl_(std::make_unique<Impl>(store, options)) {}
Cluster::~Cluster() {
  stop();
}
void Cluster::start() {}
void Cluster::stop() {}
std::string Cluster::tokenFor(const std::string& user) {
  return impl_->tokens.tokenFor(user);
}
Authenticator& Cluster::authenticator() {
  return impl_->tokens;
}
Authorizer* Cluster::authorizer() {
  return nullptr;
}
FaultInjector& Cluster::faults() {
  return impl_->faults;
}
json Cluster::admin(const std::string&, const std::string& path, const json&) {
  throw ApiException(404, "NotFound", "no kubesim admin endpoint " + path);
}

}  // namespace kubesim
