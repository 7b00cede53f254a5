#pragma once
// Forwards to another client, with per-replica faults: failing (network partition) or blocked
// (a request that hangs). Lets two electors share one API but fail independently.
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "operator/kube/client.h"

namespace runtimetest {

class ProxyClient : public kube::Client {
 public:
  using json = kube::json;
  explicit ProxyClient(kube::Client& inner) : inner_(inner) {}

  void setFailing(bool f) { failing_ = f; }
  void setBlocked(bool b) {
    std::lock_guard l(mu_);
    blocked_ = b;
    cv_.notify_all();
  }

  kube::Result<json> get(const kube::ResourceType& t, const std::string& ns,
                         const std::string& name) override {
    if (auto e = gate()) return *e;
    return inner_.get(t, ns, name);
  }
  kube::Result<kube::ObjectList> list(const kube::ResourceType& t, const std::string& ns,
                                      const kube::ListOptions& o) override {
    if (auto e = gate()) return *e;
    return inner_.list(t, ns, o);
  }
  kube::Result<json> create(const kube::ResourceType& t, const std::string& ns,
                            const json& o) override {
    if (auto e = gate()) return *e;
    return inner_.create(t, ns, o);
  }
  kube::Result<json> update(const kube::ResourceType& t, const json& o) override {
    if (auto e = gate()) return *e;
    return inner_.update(t, o);
  }
  kube::Result<json> updateStatus(const kube::ResourceType& t, const json& o) override {
    if (auto e = gate()) return *e;
    return inner_.updateStatus(t, o);
  }
  kube::Result<json> patch(const kube::ResourceType& t, const std::string& ns,
                           const std::string& name, const json& p,
                           const kube::PatchOptions& o) override {
    if (auto e = gate()) return *e;
    return inner_.patch(t, ns, name, p, o);
  }
  kube::Result<json> remove(const kube::ResourceType& t, const std::string& ns,
                            const std::string& name, const kube::DeleteOptions& o) override {
    if (auto e = gate()) return *e;
    return inner_.remove(t, ns, name, o);
  }
  kube::Result<std::unique_ptr<kube::WatchStream>> watch(const kube::ResourceType& t,
                                                         const std::string& ns,
                                                         const kube::WatchOptions& o) override {
    if (auto e = gate()) return *e;
    return inner_.watch(t, ns, o);
  }

 private:
  std::optional<kube::ApiError> gate() {
    std::unique_lock l(mu_);
    cv_.wait(l, [&] { return !blocked_; });
    if (failing_) return kube::ApiError::transport("ConnectionFailed", "injected partition");
    return std::nullopt;
  }
  kube::Client& inner_;
  std::atomic<bool> failing_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool blocked_ = false;
};

}  // namespace runtimetest
