// Cluster: the actors besides the API server, on one task thread fed by the store's events.
#include "test/kubesim/cluster.h"

#include <openssl/rand.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <stdexcept>

#include "test/kubesim/clock.h"
#include "test/kubesim/events.h"
#include "test/kubesim/faults.h"
#include "test/kubesim/gc.h"
#include "test/kubesim/job_controller.h"
#include "test/kubesim/kubelet.h"
#include "test/kubesim/rbac.h"

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
  // Loads the tokens of an earlier run from `path` ("" keeps them in memory only).
  void persistIn(const std::string& path) {
    std::lock_guard lock(mu_);
    path_ = path;
    if (path_.empty() || !std::filesystem::exists(path_)) return;
    std::ifstream in(path_);
    json saved = json::parse(in, nullptr, false);
    if (!saved.is_object()) {
      throw std::runtime_error("kubesim: " + path_ + " is not a JSON object of token -> user");
    }
    for (const auto& [token, user] : saved.items()) {
      if (!user.is_object()) continue;
      UserInfo info{
          user.value("name", ""), user.value("groups", std::vector<std::string>{}), {}, {}};
      if (!info.name.empty()) users_[token] = info;
    }
  }
  std::string tokenFor(const std::string& user) {
    std::lock_guard lock(mu_);
    for (const auto& [token, info] : users_) {
      if (info.name == user) return token;
    }
    UserInfo info{user, {"system:authenticated"}, {}, {}};
    if (user == "admin") info.groups.push_back("system:masters");
    const std::string prefix = "system:serviceaccount:";
    if (user.rfind(prefix, 0) == 0) {
      auto ns = user.substr(prefix.size(), user.find(':', prefix.size()) - prefix.size());
      info.groups.push_back("system:serviceaccounts");
      info.groups.push_back("system:serviceaccounts:" + ns);
    }
    auto token = randomToken();
    users_[token] = info;
    save();
    return token;
  }
  std::optional<UserInfo> authenticate(const std::string& bearerToken) override {
    std::lock_guard lock(mu_);
    auto it = users_.find(bearerToken);
    if (it == users_.end()) return std::nullopt;
    return it->second;
  }

 private:
  void save() {
    if (path_.empty()) return;
    json out = json::object();
    for (const auto& [token, info] : users_) {
      out[token] = {{"name", info.name}, {"groups", info.groups}};
    }
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << out.dump();
    }
    std::filesystem::permissions(
        tmp, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    std::filesystem::rename(tmp, path_);
  }

  std::mutex mu_;
  std::string path_;
  std::map<std::string, UserInfo> users_;
};

std::string stripPrefix(std::string path) {
  const std::string prefix = "/kubesim";
  if (path.rfind(prefix, 0) == 0) path = path.substr(prefix.size());
  auto q = path.find('?');
  if (q != std::string::npos) path = path.substr(0, q);
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

}  // namespace

struct Cluster::Impl {
  Impl(ObjectStore& s, ClusterOptions o)
      : store(s),
        options(o),
        clock(o.timeScale),
        faults(o.faultSeed),
        events(s),
        gc(s, runner,
           std::chrono::duration_cast<std::chrono::milliseconds>(
               clock.scaled(o.gcDiscoveryDelaySeconds))),
        jobs(s, runner, clock, events),
        kubelet(s, runner, clock, events) {
    if (!o.dataDir.empty()) {
      std::filesystem::create_directories(o.dataDir);
      tokens.persistIn((std::filesystem::path(o.dataDir) / "tokens.json").string());
    }
    if (o.rbac) rbac = std::make_unique<RbacAuthorizer>(s);
    if (o.faultRules.is_array()) {
      for (const auto& r : o.faultRules) faults.add(parseFaultRule(r));
    }
  }
  ObjectStore& store;
  ClusterOptions options;
  Clock clock;
  TokenAuthenticator tokens;
  Faults faults;
  std::unique_ptr<RbacAuthorizer> rbac;
  TaskRunner runner;
  EventRecorder events;
  GarbageCollector gc;
  JobController jobs;
  Kubelet kubelet;
  std::mutex mu;
  int subscription = -1;
};

Cluster::Cluster(ObjectStore& store, ClusterOptions options)
    : impl_(std::make_unique<Impl>(store, options)) {}

Cluster::~Cluster() {
  stop();
}

void Cluster::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->subscription >= 0) return;
  impl_->runner.start();
  Impl* impl = impl_.get();
  impl_->subscription = impl_->store.subscribe([impl](const StoreEvent& e) {
    // Events are cheap to route: each actor only indexes and queues a keyed task.
    if (e.resource == "events") return;
    impl->gc.onEvent(e);
    impl->jobs.onEvent(e);
    impl->kubelet.onEvent(e);
  });
  impl_->gc.resync();
  impl_->jobs.resync();
  impl_->kubelet.resync();
}

void Cluster::stop() {
  std::lock_guard lock(impl_->mu);
  if (impl_->subscription >= 0) {
    impl_->store.unsubscribe(impl_->subscription);
    impl_->subscription = -1;
  }
  impl_->runner.stop();
}

std::string Cluster::tokenFor(const std::string& user) {
  return impl_->tokens.tokenFor(user);
}

Authenticator& Cluster::authenticator() {
  return impl_->tokens;
}

Authorizer* Cluster::authorizer() {
  return impl_->rbac.get();
}

FaultInjector& Cluster::faults() {
  return impl_->faults;
}

json Cluster::reviewAccess(const json& spec) {
  return kubesim::reviewAccess(impl_->rbac.get(), spec);
}

json Cluster::reviewRules(const UserInfo& user, const std::string& ns) {
  return kubesim::reviewRules(impl_->rbac.get(), user, ns);
}

json Cluster::admin(const std::string& method, const std::string& rawPath, const json& body) {
  const std::string path = stripPrefix(rawPath);
  auto& faults = impl_->faults;
  auto seconds = [&](const char* key, double fallback) {
    if (!body.is_object() || !body.contains(key)) return fallback;
    if (!body[key].is_number() || body[key].get<double>() < 0) {
      throw ApiException(422, "Invalid", std::string(key) + ": must be a non-negative number");
    }
    return body[key].get<double>();
  };
  if (path == "/faults") {
    if (method == "GET") return faults.describe();
    if (method == "DELETE") {
      faults.clear();
      return faults.describe();
    }
    if (method == "POST") {
      json ids = json::array();
      if (body.is_object() && body.contains("rules")) {
        if (!body["rules"].is_array()) throw ApiException(422, "Invalid", "rules: must be a list");
        std::vector<FaultRule> parsed;
        for (const auto& r : body["rules"]) parsed.push_back(parseFaultRule(r));
        for (auto& r : parsed) ids.push_back(faults.add(r));
      } else {
        ids.push_back(faults.add(parseFaultRule(body)));
      }
      json out = faults.describe();
      out["added"] = ids;
      return out;
    }
  } else if (path.rfind("/faults/", 0) == 0 && method == "DELETE") {
    // One rule, by the id POST /kubesim/faults answered with.
    const std::string id = path.substr(8);
    char* end = nullptr;
    const long n = std::strtol(id.c_str(), &end, 10);
    if (id.empty() || *end != '\0' || !faults.remove(static_cast<int>(n))) {
      throw ApiException(404, "NotFound", "no fault rule " + id);
    }
    return faults.describe();
  } else if (path == "/watches/close" && method == "POST") {
    faults.closeWatches();
    return faults.describe();
  } else if (path == "/watches/expire-next" && method == "POST") {
    faults.expireNextWatches(static_cast<int>(seconds("count", 1)));
    return faults.describe();
  } else if (path == "/outage" && method == "POST") {
    faults.outage(std::chrono::milliseconds(static_cast<long>(seconds("seconds", 5) * 1000)));
    return faults.describe();
  } else if (path == "/tokens" && method == "POST") {
    if (!body.is_object() || !body.contains("user") || !body["user"].is_string() ||
        body["user"].get<std::string>().empty()) {
      throw ApiException(422, "Invalid", "user: required, e.g. system:serviceaccount:NS:NAME");
    }
    return {{"user", body["user"]}, {"token", tokenFor(body["user"].get<std::string>())}};
  } else if (path == "/clock" && method == "GET") {
    return {{"timeScale", impl_->clock.scale()}, {"now", Clock::nowRfc3339()}};
  } else if (path == "/access-review" && method == "POST") {
    return reviewAccess(body.is_object() && body.contains("spec") ? body["spec"] : body);
  }
  throw ApiException(404, "NotFound", "no kubesim admin endpoint " + method + " " + rawPath);
}

}  // namespace kubesim
