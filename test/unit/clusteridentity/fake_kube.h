#pragma once
// In-memory fakes of kube::Client, kube::Store and runtime::EventRecorder for the
// ClusterIdentity reconciler's unit tests. The client keeps resourceVersions and answers like an
// API server where the reconciler cares: 404 NotFound, 409 AlreadyExists, 409 Conflict on a stale
// resourceVersion, 404 for a namespace that does not exist, 403 for a forbidden one. Hooks run
// before a write so a test can slip in a racing replica.
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "operator/kube/client.h"
#include "operator/kube/store.h"
#include "operator/runtime/event_recorder.h"

namespace fakes {

using kube::json;

struct Request {
  std::string verb, resource, ns, name;
};

class FakeClient : public kube::Client {
 public:
  using Key = std::tuple<std::string, std::string, std::string>;  // plural.group, ns, name

  std::set<std::string> namespaces{"flowrun-operator", "prefect", "data", "default"};
  std::set<std::string> forbiddenNamespaces;
  // Runs before create/update/updateStatus; a test may call other clients from it.
  std::function<void(const std::string& verb, const kube::ResourceType&, const json&)> beforeWrite;
  // Errors to return for (verb, resource plural) once each.
  std::map<std::pair<std::string, std::string>, kube::ApiError> failOnce;

  std::vector<Request> requests() {
    std::lock_guard<std::mutex> l(mu_);
    return requests_;
  }
  std::size_t count(const std::string& verb, const std::string& resource) {
    std::size_t n = 0;
    for (const auto& r : requests()) n += r.verb == verb && r.resource == resource;
    return n;
  }
  void clearRequests() {
    std::lock_guard<std::mutex> l(mu_);
    requests_.clear();
  }

  // Direct access for arranging and asserting (no request recorded).
  json* find(const kube::ResourceType& t, const std::string& ns, const std::string& name) {
    auto it = objects_.find(key(t, ns, name));
    return it == objects_.end() ? nullptr : &it->second;
  }
  void put(const kube::ResourceType& t, json obj) {
    auto& md = obj["metadata"];
    md["resourceVersion"] = std::to_string(++rv_);
    if (!md.contains("uid")) md["uid"] = "uid-" + std::to_string(++uidCounter_);
    if (!md.contains("generation")) md["generation"] = 1;
    objects_[key(t, md.value("namespace", ""), md["name"].get<std::string>())] = std::move(obj);
  }
  void erase(const kube::ResourceType& t, const std::string& ns, const std::string& name) {
    objects_.erase(key(t, ns, name));
  }
  std::vector<json> all(const kube::ResourceType& t) {
    std::vector<json> out;
    for (const auto& [k, v] : objects_) {
      if (std::get<0>(k) == t.qualifiedName()) out.push_back(v);
    }
    return out;
  }

  kube::Result<json> get(const kube::ResourceType& t, const std::string& ns,
                         const std::string& name) override {
    auto err = record("get", t, ns, name);
    if (err) return *err;
    auto* o = find(t, ns, name);
    if (!o) return notFound(t, name);
    return *o;
  }
  kube::Result<kube::ObjectList> list(const kube::ResourceType& t, const std::string& ns,
                                      const kube::ListOptions&) override {
    auto err = record("list", t, ns, "");
    if (err) return *err;
    kube::ObjectList l;
    for (auto& o : all(t)) {
      if (ns.empty() || o["metadata"].value("namespace", "") == ns) l.items.push_back(o);
    }
    l.resourceVersion = std::to_string(rv_);
    return l;
  }
  kube::Result<json> create(const kube::ResourceType& t, const std::string& ns,
                            const json& object) override {
    if (beforeWrite) beforeWrite("create", t, object);
    const std::string name = object["metadata"]["name"];
    auto err = record("create", t, ns, name);
    if (err) return *err;
    if (t.namespaced) {
      if (forbiddenNamespaces.count(ns)) {
        return kube::ApiError{
            403, "Forbidden", t.plural + " is forbidden in namespace " + ns, {}, 0};
      }
      if (!namespaces.count(ns)) {
        return kube::ApiError{404, "NotFound", "namespaces \"" + ns + "\" not found", {}, 0};
      }
    }
    if (find(t, ns, name)) {
      return kube::ApiError{
          409, "AlreadyExists", t.qualifiedName() + " \"" + name + "\" already exists", {}, 0};
    }
    json obj = object;
    if (t.namespaced) obj["metadata"]["namespace"] = ns;
    obj["metadata"].erase("resourceVersion");
    obj["metadata"].erase("uid");
    obj["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z";
    if (t.group == "prefect.io") obj.erase("status");  // status subresource: ignored on create
    put(t, obj);
    return *find(t, ns, name);
  }
  kube::Result<json> update(const kube::ResourceType& t, const json& object) override {
    return write("update", t, object, false);
  }
  kube::Result<json> updateStatus(const kube::ResourceType& t, const json& object) override {
    return write("updateStatus", t, object, true);
  }
  kube::Result<json> patch(const kube::ResourceType& t, const std::string& ns,
                           const std::string& name, const json& p,
                           const kube::PatchOptions&) override {
    auto err = record("patch", t, ns, name);
    if (err) return *err;
    auto* o = find(t, ns, name);
    if (!o) return notFound(t, name);
    o->merge_patch(p);
    (*o)["metadata"]["resourceVersion"] = std::to_string(++rv_);
    return *o;
  }
  kube::Result<json> remove(const kube::ResourceType& t, const std::string& ns,
                            const std::string& name, const kube::DeleteOptions&) override {
    auto err = record("delete", t, ns, name);
    if (err) return *err;
    auto* o = find(t, ns, name);
    if (!o) return notFound(t, name);
    json copy = *o;
    erase(t, ns, name);
    return copy;
  }
  kube::Result<std::unique_ptr<kube::WatchStream>> watch(const kube::ResourceType& t,
                                                         const std::string& ns,
                                                         const kube::WatchOptions&) override {
    record("watch", t, ns, "");
    return kube::ApiError{405, "MethodNotAllowed", "the fake does not watch", {}, 0};
  }

 private:
  static Key key(const kube::ResourceType& t, const std::string& ns, const std::string& name) {
    return {t.qualifiedName(), t.namespaced ? ns : "", name};
  }
  static kube::ApiError notFound(const kube::ResourceType& t, const std::string& name) {
    return kube::ApiError{
        404, "NotFound", t.qualifiedName() + " \"" + name + "\" not found", {}, 0};
  }
  std::optional<kube::ApiError> record(const std::string& verb, const kube::ResourceType& t,
                                       const std::string& ns, const std::string& name) {
    {
      std::lock_guard<std::mutex> l(mu_);
      requests_.push_back({verb, t.plural, ns, name});
    }
    auto it = failOnce.find({verb, t.plural});
    if (it != failOnce.end()) {
      auto e = it->second;
      failOnce.erase(it);
      return e;
    }
    return std::nullopt;
  }
  kube::Result<json> write(const std::string& verb, const kube::ResourceType& t, const json& object,
                           bool status) {
    if (beforeWrite) beforeWrite(verb, t, object);
    const std::string ns = object["metadata"].value("namespace", "");
    const std::string name = object["metadata"]["name"];
    auto err = record(verb, t, ns, name);
    if (err) return *err;
    auto* o = find(t, ns, name);
    if (!o) return notFound(t, name);
    const std::string rv = object["metadata"].value("resourceVersion", "");
    if (!rv.empty() && rv != (*o)["metadata"]["resourceVersion"]) {
      return kube::ApiError{409,
                            "Conflict",
                            "Operation cannot be fulfilled on " + t.qualifiedName() + " \"" + name +
                                "\": the object has been modified; please apply your "
                                "changes to the latest version and try again",
                            {},
                            0};
    }
    json next = *o;
    if (status) {
      next["status"] = object.value("status", json::object());
    } else if (t.group == "prefect.io") {
      json keep = next.value("status", json());
      const bool specChanged = next.value("spec", json()) != object.value("spec", json());
      auto gen = next["metadata"]["generation"].get<int>();
      next = object;
      if (!keep.is_null()) next["status"] = keep;
      next["metadata"]["generation"] = specChanged ? gen + 1 : gen;
    } else {
      auto uid = next["metadata"]["uid"];
      next = object;
      next["metadata"]["uid"] = uid;
    }
    next["metadata"]["resourceVersion"] = std::to_string(++rv_);
    *o = next;
    return next;
  }

  std::mutex mu_;
  std::vector<Request> requests_;
  std::map<Key, json> objects_;
  long rv_ = 100;
  long uidCounter_ = 0;
};

// A store the test fills explicitly (so it can lag the server, like a real informer cache).
class FakeStore : public kube::Store {
 public:
  void syncFrom(FakeClient& client, const kube::ResourceType& t) {
    objects_.clear();
    for (auto& o : client.all(t)) {
      objects_[{o["metadata"].value("namespace", ""), o["metadata"]["name"]}] =
          std::make_shared<const json>(o);
    }
  }
  void clear() { objects_.clear(); }

  kube::ObjectPtr get(const std::string& ns, const std::string& name) const override {
    auto it = objects_.find({ns, name});
    return it == objects_.end() ? nullptr : it->second;
  }
  std::vector<kube::ObjectPtr> list(const std::string& ns) const override {
    std::vector<kube::ObjectPtr> out;
    for (const auto& [k, v] : objects_) {
      if (ns.empty() || k.first == ns) out.push_back(v);
    }
    return out;
  }
  std::vector<kube::ObjectPtr> byIndex(const std::string&, const std::string&) const override {
    return {};
  }
  bool hasSynced() const override { return true; }
  std::size_t size() const override { return objects_.size(); }

 private:
  std::map<std::pair<std::string, std::string>, kube::ObjectPtr> objects_;
};

struct RecordedEvent {
  std::string object, type, reason, message;
};

class FakeRecorder : public runtime::EventRecorder {
 public:
  void record(const json& object, const std::string& type, const std::string& reason,
              const std::string& message) override {
    std::lock_guard<std::mutex> l(mu_);
    events.push_back({object["metadata"].value("name", ""), type, reason, message});
  }
  std::size_t count(const std::string& reason) {
    std::lock_guard<std::mutex> l(mu_);
    std::size_t n = 0;
    for (const auto& e : events) n += e.reason == reason;
    return n;
  }
  std::vector<RecordedEvent> events;

 private:
  std::mutex mu_;
};

}  // namespace fakes
