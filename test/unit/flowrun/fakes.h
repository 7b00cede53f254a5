#pragma once
// Small in-memory fakes of kube::Client, kube::Store, the EventRecorder and the IdentityProvider
// for the FlowRun reconciler's unit tests. The client keeps objects per resource with
// resourceVersion checks; the stores are separate snapshots the test fills (so a test can make
// the cache lag the API server on purpose).
#include <nlohmann/json.hpp>

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "controllers/clusteridentity/identity_provider.h"
#include "controllers/flowrun/watches.h"
#include "operator/kube/client.h"
#include "operator/kube/selector.h"
#include "operator/kube/store.h"
#include "operator/runtime/event_recorder.h"

namespace flowrun_test {

using json = nlohmann::json;

class FakeStore : public kube::Store {
 public:
  void put(const json& obj) {
    const json& md = obj["metadata"];
    objects_[md.value("namespace", "") + "/" + md.value("name", "")] =
        std::make_shared<const json>(obj);
  }
  void erase(const std::string& ns, const std::string& name) { objects_.erase(ns + "/" + name); }
  void clear() { objects_.clear(); }

  kube::ObjectPtr get(const std::string& ns, const std::string& name) const override {
    auto it = objects_.find(ns + "/" + name);
    return it == objects_.end() ? nullptr : it->second;
  }
  std::vector<kube::ObjectPtr> list(const std::string& ns = "") const override {
    std::vector<kube::ObjectPtr> out;
    for (const auto& [k, v] : objects_) {
      if (ns.empty() || (*v)["metadata"].value("namespace", "") == ns) out.push_back(v);
    }
    return out;
  }
  std::vector<kube::ObjectPtr> byIndex(const std::string& index,
                                       const std::string& value) const override {
    std::vector<kube::ObjectPtr> out;
    for (const auto& [k, v] : objects_) {
      const json& md = (*v)["metadata"];
      if (index == kube::kIndexNamespace && md.value("namespace", "") == value) out.push_back(v);
      if (index.rfind("label:", 0) == 0 && md.contains("labels") &&
          md["labels"].value(index.substr(6), "") == value) {
        out.push_back(v);
      }
      if (index == controllers::flowrun::kIndexFlowRun) {
        auto key = controllers::flowrun::flowRunKeyFor(*v);
        if (key && key->name == value) out.push_back(v);
      }
      if ((index == kube::kIndexControllerUid || index == kube::kIndexOwnerUid) &&
          md.contains("ownerReferences")) {
        for (const json& r : md["ownerReferences"]) {
          bool controller = r.value("controller", false);
          if (r.value("uid", "") == value && (controller || index == kube::kIndexOwnerUid)) {
            out.push_back(v);
            break;
          }
        }
      }
    }
    return out;
  }
  bool hasSynced() const override { return true; }
  std::size_t size() const override { return objects_.size(); }

 private:
  std::map<std::string, kube::ObjectPtr> objects_;
};

struct Call {
  std::string verb;  // get list create update updateStatus patch delete
  std::string resource;
  std::string ns;
  std::string name;
  json body;
  kube::ListOptions listOptions;
  kube::DeleteOptions deleteOptions;
};

class FakeClient : public kube::Client {
 public:
  // Objects per qualified resource ("jobs.batch"), keyed "ns/name".
  std::map<std::string, std::map<std::string, json>> objects;
  std::vector<Call> calls;
  // Errors to answer the next matching calls with ("verb resource"), consumed in order.
  std::map<std::string, std::deque<kube::ApiError>> failures;
  int nextRv = 100;
  int nextUid = 1;

  void put(const kube::ResourceType& type, json obj) {
    json& md = obj["metadata"];
    if (!md.contains("resourceVersion")) md["resourceVersion"] = std::to_string(nextRv++);
    if (!md.contains("uid")) md["uid"] = "uid-" + std::to_string(nextUid++);
    objects[type.qualifiedName()][key(md.value("namespace", ""), md.value("name", ""))] = obj;
  }
  std::optional<json> find(const kube::ResourceType& type, const std::string& ns,
                           const std::string& name) const {
    auto r = objects.find(type.qualifiedName());
    if (r == objects.end()) return std::nullopt;
    auto it = r->second.find(key(ns, name));
    if (it == r->second.end()) return std::nullopt;
    return it->second;
  }
  std::size_t count(const std::string& verb, const std::string& resource) const {
    std::size_t n = 0;
    for (const Call& c : calls) n += c.verb == verb && c.resource == resource;
    return n;
  }

  kube::Result<json> get(const kube::ResourceType& type, const std::string& ns,
                         const std::string& name) override {
    calls.push_back({"get", type.plural, ns, name, {}, {}, {}});
    if (auto e = failure("get", type)) return *e;
    if (auto o = find(type, ns, name)) return *o;
    return notFound(type, name);
  }
  kube::Result<kube::ObjectList> list(const kube::ResourceType& type, const std::string& ns,
                                      const kube::ListOptions& options) override {
    calls.push_back({"list", type.plural, ns, "", {}, options, {}});
    if (auto e = failure("list", type)) return *e;
    kube::ObjectList out;
    std::string uidFilter;
    const std::string prefix = "involvedObject.uid=";
    if (options.fieldSelector.rfind(prefix, 0) == 0)
      uidFilter = options.fieldSelector.substr(prefix.size());
    auto selector = kube::LabelSelector::parse(options.labelSelector);
    if (!selector) return selector.error();
    for (const auto& [k, v] : objects[type.qualifiedName()]) {
      if (!ns.empty() && v["metadata"].value("namespace", "") != ns) continue;
      if (!uidFilter.empty() && v["involvedObject"].value("uid", "") != uidFilter) continue;
      auto labels = v["metadata"].find("labels");
      if (!selector->matches(labels != v["metadata"].end() ? *labels : json())) continue;
      out.items.push_back(v);
    }
    return out;
  }
  kube::Result<json> create(const kube::ResourceType& type, const std::string& ns,
                            const json& object) override {
    calls.push_back(
        {"create", type.plural, ns, object["metadata"].value("name", ""), object, {}, {}});
    if (auto e = failure("create", type)) return *e;
    std::string name = object["metadata"].value("name", "");
    if (find(type, ns, name)) {
      return kube::ApiError{
          409, "AlreadyExists", type.plural + " \"" + name + "\" already exists", {}, 0};
    }
    json obj = object;
    obj["metadata"]["namespace"] = ns;
    obj["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z";
    obj["metadata"].erase("resourceVersion");
    obj["metadata"].erase("uid");
    put(type, obj);
    return *find(type, ns, name);
  }
  kube::Result<json> update(const kube::ResourceType& type, const json& object) override {
    return write("update", type, object);
  }
  kube::Result<json> updateStatus(const kube::ResourceType& type, const json& object) override {
    return write("updateStatus", type, object);
  }
  kube::Result<json> patch(const kube::ResourceType& type, const std::string& ns,
                           const std::string& name, const json& patch,
                           const kube::PatchOptions& options) override {
    calls.push_back({"patch", type.plural, ns, name, patch, {}, {}});
    if (auto e = failure("patch", type)) return *e;
    // JSON patches (the outcome finalizer's removal) and merge patches (the worker's
    // annotations), applied as the API server would: a resourceVersion in a merge patch is a
    // precondition, and a write bumps it.
    if (options.type != kube::PatchType::JsonPatch && options.type != kube::PatchType::Merge) {
      return kube::ApiError{405, "MethodNotAllowed", "not in the fake", {}, 0};
    }
    auto o = find(type, ns, name);
    if (!o) return notFound(type, name);
    json patched;
    if (options.type == kube::PatchType::Merge) {
      const std::string rv = patch.value("metadata", json::object()).value("resourceVersion", "");
      if (!rv.empty() && rv != (*o)["metadata"].value("resourceVersion", "")) {
        return kube::ApiError{409, "Conflict", "the object has been modified", {}, 0};
      }
      patched = *o;
      patched.merge_patch(patch);
      patched["metadata"]["resourceVersion"] = std::to_string(nextRv++);
    } else {
      try {
        patched = o->patch(patch);
      } catch (const json::exception& e) {
        return kube::ApiError{422, "Invalid", e.what(), {}, 0};
      }
    }
    objects[type.qualifiedName()][key(ns, name)] = patched;
    return patched;
  }
  kube::Result<json> remove(const kube::ResourceType& type, const std::string& ns,
                            const std::string& name, const kube::DeleteOptions& options) override {
    Call call;             // member by member: `{..., {}, {}, options}` trips GCC 12's false
    call.verb = "delete";  // -Wmaybe-uninitialized at -O3
    call.resource = type.plural;
    call.ns = ns;
    call.name = name;
    call.deleteOptions = options;
    calls.push_back(std::move(call));
    if (auto e = failure("delete", type)) return *e;
    auto o = find(type, ns, name);
    if (!o) return notFound(type, name);
    objects[type.qualifiedName()].erase(key(ns, name));
    return *o;
  }
  kube::Result<std::unique_ptr<kube::WatchStream>> watch(const kube::ResourceType&,
                                                         const std::string&,
                                                         const kube::WatchOptions&) override {
    return kube::ApiError{405, "MethodNotAllowed", "not in the fake", {}, 0};
  }

 private:
  static std::string key(const std::string& ns, const std::string& name) { return ns + "/" + name; }
  static kube::ApiError notFound(const kube::ResourceType& type, const std::string& name) {
    return kube::ApiError{404, "NotFound", type.plural + " \"" + name + "\" not found", {}, 0};
  }
  std::optional<kube::ApiError> failure(const std::string& verb, const kube::ResourceType& type) {
    auto it = failures.find(verb + " " + type.plural);
    if (it == failures.end() || it->second.empty()) return std::nullopt;
    kube::ApiError e = it->second.front();
    it->second.pop_front();
    return e;
  }
  kube::Result<json> write(const std::string& verb, const kube::ResourceType& type,
                           const json& object) {
    std::string ns = object["metadata"].value("namespace", "");
    std::string name = object["metadata"].value("name", "");
    calls.push_back({verb, type.plural, ns, name, object, {}, {}});
    if (auto e = failure(verb, type)) return *e;
    auto current = find(type, ns, name);
    if (!current) return notFound(type, name);
    std::string rv = object["metadata"].value("resourceVersion", "");
    if (!rv.empty() && rv != (*current)["metadata"].value("resourceVersion", "")) {
      return kube::ApiError{409, "Conflict", "the object has been modified", {}, 0};
    }
    json next = *current;
    if (verb == "updateStatus") {
      next["status"] = object.value("status", json::object());
    } else {
      next = object;
    }
    next["metadata"]["resourceVersion"] = std::to_string(nextRv++);
    objects[type.qualifiedName()][key(ns, name)] = next;
    return next;
  }
};

struct RecordedEvent {
  std::string type, reason, message;
};

class FakeEvents : public runtime::EventRecorder {
 public:
  std::vector<RecordedEvent> events;
  void record(const json&, const std::string& type, const std::string& reason,
              const std::string& message) override {
    events.push_back({type, reason, message});
  }
};

class FakeIdentity : public controllers::clusteridentity::IdentityProvider {
 public:
  std::optional<std::string> uid = "cluster-uid-1";
  std::optional<std::string> clusterUid() const override { return uid; }
};

}  // namespace flowrun_test
