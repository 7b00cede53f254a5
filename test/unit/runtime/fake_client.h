#pragma once
// An in-memory kube::Client with the API server's optimistic concurrency (resourceVersion
// checks -> 409), AlreadyExists and NotFound, merge patches, and fault injection.
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <tuple>

#include "operator/kube/client.h"

namespace runtimetest {

class FakeClient : public kube::Client {
 public:
  using json = kube::json;

  kube::Result<json> get(const kube::ResourceType& t, const std::string& ns,
                         const std::string& name) override {
    std::unique_lock l(mu_);
    if (auto e = enter(l, "get")) return *e;
    auto it = objects_.find({t.plural, ns, name});
    if (it == objects_.end()) return notFound(t, name);
    return it->second;
  }
  kube::Result<kube::ObjectList> list(const kube::ResourceType& t, const std::string& ns,
                                      const kube::ListOptions&) override {
    std::unique_lock l(mu_);
    if (auto e = enter(l, "list")) return *e;
    kube::ObjectList out;
    for (auto& [k, v] : objects_)
      if (std::get<0>(k) == t.plural && (ns.empty() || std::get<1>(k) == ns))
        out.items.push_back(v);
    out.resourceVersion = std::to_string(rv_);
    return out;
  }
  kube::Result<json> create(const kube::ResourceType& t, const std::string& ns,
                            const json& object) override {
    std::unique_lock l(mu_);
    if (auto e = enter(l, "create")) return *e;
    std::string name = object["metadata"].value("name", "");
    auto key = std::make_tuple(t.plural, ns, name);
    if (objects_.count(key))
      return kube::ApiError{
          409, "AlreadyExists", t.plural + " \"" + name + "\" already exists", {}, 0};
    json o = object;
    o["metadata"]["namespace"] = ns;
    o["metadata"]["uid"] = "uid-" + std::to_string(++uid_);
    o["metadata"]["resourceVersion"] = std::to_string(++rv_);
    objects_[key] = o;
    ++writes[t.plural + ":create"];
    return o;
  }
  kube::Result<json> update(const kube::ResourceType& t, const json& object) override {
    std::unique_lock l(mu_);
    if (auto e = enter(l, "update")) return *e;
    auto key = std::make_tuple(t.plural, object["metadata"].value("namespace", ""),
                               object["metadata"].value("name", ""));
    auto it = objects_.find(key);
    if (it == objects_.end()) return notFound(t, std::get<2>(key));
    auto want = object["metadata"].value("resourceVersion", "");
    if (!want.empty() && want != it->second["metadata"].value("resourceVersion", ""))
      return kube::ApiError{409,
                            "Conflict",
                            "Operation cannot be fulfilled: the object has been modified; please "
                            "apply your changes to the latest version and try again",
                            {},
                            0};
    json o = object;
    o["metadata"]["uid"] = it->second["metadata"]["uid"];
    o["metadata"]["resourceVersion"] = std::to_string(++rv_);
    it->second = o;
    ++writes[t.plural + ":update"];
    return o;
  }
  kube::Result<json> updateStatus(const kube::ResourceType& t, const json& object) override {
    return update(t, object);
  }
  kube::Result<json> patch(const kube::ResourceType& t, const std::string& ns,
                           const std::string& name, const json& patch,
                           const kube::PatchOptions&) override {
    std::unique_lock l(mu_);
    if (auto e = enter(l, "patch")) return *e;
    auto it = objects_.find({t.plural, ns, name});
    if (it == objects_.end()) return notFound(t, name);
    it->second.merge_patch(patch);
    it->second["metadata"]["resourceVersion"] = std::to_string(++rv_);
    ++writes[t.plural + ":patch"];
    return it->second;
  }
  kube::Result<json> remove(const kube::ResourceType& t, const std::string& ns,
                            const std::string& name, const kube::DeleteOptions&) override {
    std::unique_lock l(mu_);
    if (auto e = enter(l, "delete")) return *e;
    auto it = objects_.find({t.plural, ns, name});
    if (it == objects_.end()) return notFound(t, name);
    json o = it->second;
    objects_.erase(it);
    return o;
  }
  kube::Result<std::unique_ptr<kube::WatchStream>> watch(const kube::ResourceType&,
                                                         const std::string&,
                                                         const kube::WatchOptions&) override {
    return kube::ApiError{405, "MethodNotAllowed", "the fake client does not watch", {}, 0};
  }

  // Test controls.
  std::vector<json> all(const std::string& plural) {
    std::lock_guard l(mu_);
    std::vector<json> out;
    for (auto& [k, v] : objects_)
      if (std::get<0>(k) == plural) out.push_back(v);
    return out;
  }
  int writeCount(const std::string& what) {
    std::lock_guard l(mu_);
    return writes[what];
  }
  void setFailing(bool f) {
    std::lock_guard l(mu_);
    failing_ = f;
  }
  // While blocked, every request waits (a hung connection).
  void setBlocked(bool b) {
    std::lock_guard l(mu_);
    blocked_ = b;
    cv_.notify_all();
  }

 private:
  std::optional<kube::ApiError> enter(std::unique_lock<std::mutex>& l, const char*) {
    cv_.wait(l, [&] { return !blocked_; });
    if (failing_) return kube::ApiError::transport("ConnectionFailed", "injected failure");
    return std::nullopt;
  }
  static kube::ApiError notFound(const kube::ResourceType& t, const std::string& name) {
    return kube::ApiError{404, "NotFound", t.plural + " \"" + name + "\" not found", {}, 0};
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::tuple<std::string, std::string, std::string>, json> objects_;
  std::map<std::string, int> writes;
  long rv_ = 0, uid_ = 0;
  bool failing_ = false, blocked_ = false;
};

}  // namespace runtimetest
