#include "test/kubesim/gc.h"
#include "test/kubesim/cluster_json.h"

#include <algorithm>

namespace kubesim {

namespace {

constexpr const char* kForeground = "foregroundDeletion";
constexpr const char* kOrphan = "orphan";
constexpr const char* kNamespaceFinalizer = "kubernetes";

bool deleting(const json& obj) {
  const auto md = objectAt(obj, "metadata");
  return md.contains("deletionTimestamp") && !md["deletionTimestamp"].is_null();
}

bool hasFinalizer(const json& obj, const std::string& f) {
  const auto md = objectAt(obj, "metadata");
  for (const auto& x : arrayAt(md, "finalizers")) {
    if (x == f) return true;
  }
  return false;
}

std::string groupOf(const std::string& apiVersion) {
  auto slash = apiVersion.find('/');
  return slash == std::string::npos ? "" : apiVersion.substr(0, slash);
}

}  // namespace

GarbageCollector::GarbageCollector(ObjectStore& store, TaskRunner& runner,
                                   std::chrono::milliseconds discoveryDelay)
    : store_(store), runner_(runner), discoveryDelay_(discoveryDelay) {
  if (discoveryDelay_.count() > 0) {
    for (const auto& r : store_.resources()) monitored_.insert(r);
  }
}

bool GarbageCollector::monitored(const std::string& resource) {
  if (discoveryDelay_.count() == 0) return true;
  {
    std::lock_guard lock(mu_);
    if (monitored_.count(resource)) return true;
  }
  // The next discovery refresh (a pending one keeps its earlier time).
  runner_.scheduleAfter("gc/discovery", discoveryDelay_, [this] { discover(); });
  return false;
}

void GarbageCollector::discover() {
  std::vector<std::string> fresh;
  {
    std::lock_guard lock(mu_);
    for (const auto& r : store_.resources()) {
      if (monitored_.insert(r).second) fresh.push_back(r);
    }
    kinds_.clear();
  }
  // New monitors start with a list: every object of the new resources enters the graph.
  for (const auto& resource : fresh) {
    std::vector<json> objects;
    try {
      objects = store_.list(resource, "");
    } catch (const std::exception&) {
      continue;
    }
    for (const auto& obj : objects)
      onEvent(StoreEvent{StoreEvent::Type::Added, resource, obj, json()});
  }
  // Dependents waiting on owners of kinds unknown until now are looked at again.
  std::vector<ObjectRef> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [ref, _] : owners_) all.push_back(ref);
  }
  for (const auto& ref : all) enqueueDependent(ref);
}

void GarbageCollector::index(const std::string& resource, const json& object, bool present) {
  const auto md = objectAt(object, "metadata");
  ObjectRef ref{resource, md.value("namespace", ""), md.value("name", "")};
  std::lock_guard lock(mu_);
  auto old = owners_.find(ref);
  if (old != owners_.end()) {
    for (const auto& uid : old->second) {
      auto it = dependents_.find(uid);
      if (it != dependents_.end()) {
        it->second.erase(ref);
        if (it->second.empty()) dependents_.erase(it);
      }
    }
    owners_.erase(old);
  }
  if (!present) return;
  std::vector<std::string> uids;
  for (const auto& o : arrayAt(md, "ownerReferences")) {
    std::string uid = o.value("uid", "");
    if (uid.empty()) continue;
    uids.push_back(uid);
    dependents_[uid].insert(ref);
  }
  if (!uids.empty()) owners_[ref] = uids;
}

std::vector<GarbageCollector::ObjectRef> GarbageCollector::dependentsOf(const std::string& uid) {
  std::lock_guard lock(mu_);
  auto it = dependents_.find(uid);
  if (it == dependents_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void GarbageCollector::onEvent(const StoreEvent& event) {
  if (event.resource == "customresourcedefinitions.apiextensions.k8s.io")
    (void)monitored("");                   // a CRD changed: the next discovery refresh finds it
  if (!monitored(event.resource)) return;  // no monitor for it yet
  const auto md = objectAt(event.object, "metadata");
  const ObjectRef self{event.resource, md.value("namespace", ""), md.value("name", "")};
  const bool gone = event.type == StoreEvent::Type::Deleted;
  index(event.resource, event.object, !gone);
  const auto refs = arrayAt(md, "ownerReferences");
  if (gone) {
    // Its dependents lost an owner; its owners may be waiting for it (foreground).
    for (const auto& dep : dependentsOf(md.value("uid", ""))) enqueueDependent(dep);
    for (const auto& o : refs) {
      auto r = resourceFor(o.value("apiVersion", ""), o.value("kind", ""));
      if (r) enqueueOwner({r->first, r->second ? self.ns : "", o.value("name", "")});
    }
    if (event.resource == "namespaces") return;
    if (!self.ns.empty()) {
      // The last object of a terminating namespace releases it.
      enqueueNamespace(self.ns);
    }
    return;
  }
  const auto oldRefs = arrayAt(objectAt(event.oldObject, "metadata"), "ownerReferences");
  if (!refs.empty() && (event.type == StoreEvent::Type::Added || refs != oldRefs)) {
    enqueueDependent(self);
  }
  if (deleting(event.object)) {
    if (event.resource == "namespaces") {
      enqueueNamespace(self.name);
    } else if (hasFinalizer(event.object, kForeground) || hasFinalizer(event.object, kOrphan)) {
      enqueueOwner(self);
    }
  }
}

void GarbageCollector::resync() {
  for (const auto& resource : store_.resources()) {
    std::vector<json> objects;
    try {
      objects = store_.list(resource, "");
    } catch (const std::exception&) {
      continue;
    }
    for (const auto& obj : objects) {
      StoreEvent ev{StoreEvent::Type::Added, resource, obj, json()};
      onEvent(ev);
    }
  }
}

void GarbageCollector::enqueueDependent(const ObjectRef& ref) {
  runner_.scheduleNow("gc/dependent/" + ref.resource + "/" + ref.ns + "/" + ref.name,
                      [this, ref] { processDependent(ref); });
}

void GarbageCollector::enqueueOwner(const ObjectRef& ref) {
  runner_.scheduleNow("gc/owner/" + ref.resource + "/" + ref.ns + "/" + ref.name,
                      [this, ref] { processOwner(ref); });
}

void GarbageCollector::enqueueNamespace(const std::string& name) {
  runner_.scheduleNow("gc/namespace/" + name, [this, name] { processNamespace(name); });
}

std::optional<std::pair<std::string, bool>> GarbageCollector::resourceFor(
    const std::string& apiVersion, const std::string& kind) {
  const std::string key = groupOf(apiVersion) + "/" + kind;
  {
    std::lock_guard lock(mu_);
    auto it = kinds_.find(key);
    if (it != kinds_.end()) return it->second;
  }
  // Unknown yet (a CRD established later): ask the store what it serves now.
  std::map<std::string, std::pair<std::string, bool>> fresh;
  for (const auto& resource : store_.resources()) {
    if (discoveryDelay_.count() > 0) {
      std::lock_guard lock(mu_);
      if (!monitored_.count(resource)) continue;  // not discovered yet
    }
    try {
      auto d = store_.describe(resource);
      fresh[groupOf(d.value("apiVersion", "")) + "/" + d.value("kind", "")] = {
          resource, d.value("namespaced", true)};
    } catch (const std::exception&) {
    }
  }
  std::lock_guard lock(mu_);
  kinds_ = std::move(fresh);
  auto it = kinds_.find(key);
  if (it == kinds_.end()) return std::nullopt;
  return it->second;
}

void GarbageCollector::processDependent(const ObjectRef& ref) {
  json obj;
  try {
    obj = store_.get(ref.resource, ref.ns, ref.name);
  } catch (const ApiException& e) {
    if (e.code == 404) return;
    throw;
  }
  const auto refs = arrayAt(obj["metadata"], "ownerReferences");
  if (refs.empty()) return;
  std::vector<std::string> dangling;
  bool solid = false, waiting = false, unknown = false;
  for (const auto& o : refs) {
    auto r = resourceFor(o.value("apiVersion", ""), o.value("kind", ""));
    if (!r) {
      unknown = true;  // the real collector leaves dependents of unresolvable kinds alone
      continue;
    }
    try {
      json owner = store_.get(r->first, r->second ? ref.ns : "", o.value("name", ""));
      if (owner["metadata"].value("uid", "") != o.value("uid", "")) {
        dangling.push_back(o.value("uid", ""));
      } else if (deleting(owner) && hasFinalizer(owner, kForeground)) {
        waiting = true;
      } else {
        solid = true;
      }
    } catch (const ApiException& e) {
      if (e.code != 404) throw;
      dangling.push_back(o.value("uid", ""));
    }
  }
  if (solid || unknown) {
    if (!dangling.empty()) {
      json updated = obj;
      json kept = json::array();
      for (const auto& o : refs) {
        if (std::find(dangling.begin(), dangling.end(), o.value("uid", "")) == dangling.end()) {
          kept.push_back(o);
        }
      }
      updated["metadata"]["ownerReferences"] = kept;
      store_.update(ref.resource, updated);
    }
    return;
  }
  if (deleting(obj)) return;
  DeleteOptions opts;
  opts.preconditionUid = obj["metadata"].value("uid", "");
  // An owner deleted in the foreground takes its dependents' own dependents down the same way.
  opts.propagationPolicy = waiting && !dependentsOf(obj["metadata"].value("uid", "")).empty()
                               ? "Foreground"
                               : "Background";
  try {
    store_.remove(ref.resource, ref.ns, ref.name, opts);
  } catch (const ApiException& e) {
    if (e.code != 404 && e.code != 409) throw;
  }
}

void GarbageCollector::processOwner(const ObjectRef& ref) {
  json owner;
  try {
    owner = store_.get(ref.resource, ref.ns, ref.name);
  } catch (const ApiException& e) {
    if (e.code == 404) return;
    throw;
  }
  if (!deleting(owner)) return;
  const std::string uid = owner["metadata"].value("uid", "");
  auto removeFinalizer = [&](const std::string& f) {
    json updated = owner;
    json kept = json::array();
    for (const auto& x : arrayAt(owner["metadata"], "finalizers")) {
      if (x != f) kept.push_back(x);
    }
    updated["metadata"]["finalizers"] = kept;
    store_.update(ref.resource, updated);
  };
  if (hasFinalizer(owner, kOrphan)) {
    for (const auto& dep : dependentsOf(uid)) {
      json obj;
      try {
        obj = store_.get(dep.resource, dep.ns, dep.name);
      } catch (const ApiException& e) {
        if (e.code == 404) continue;
        throw;
      }
      json kept = json::array();
      for (const auto& o : arrayAt(obj["metadata"], "ownerReferences")) {
        if (o.value("uid", "") != uid) kept.push_back(o);
      }
      obj["metadata"]["ownerReferences"] = kept;
      store_.update(dep.resource, obj);
    }
    removeFinalizer(kOrphan);
    return;
  }
  if (hasFinalizer(owner, kForeground)) {
    bool blocked = false;
    for (const auto& dep : dependentsOf(uid)) {
      json obj;
      try {
        obj = store_.get(dep.resource, dep.ns, dep.name);
      } catch (const ApiException& e) {
        if (e.code == 404) continue;
        throw;
      }
      bool blocks = false, owned = false;
      for (const auto& o : arrayAt(obj["metadata"], "ownerReferences")) {
        if (o.value("uid", "") == uid) {
          owned = true;
          blocks = blocks || o.value("blockOwnerDeletion", false);
        }
      }
      if (!owned) continue;
      if (blocks) blocked = true;
      if (!deleting(obj)) enqueueDependent(dep);
    }
    if (!blocked) removeFinalizer(kForeground);
  }
}

void GarbageCollector::processNamespace(const std::string& name) {
  json ns;
  try {
    ns = store_.get("namespaces", "", name);
  } catch (const ApiException& e) {
    if (e.code == 404) return;
    throw;
  }
  if (!deleting(ns)) return;
  bool empty = true;
  for (const auto& resource : store_.resources()) {
    bool namespaced = true;
    try {
      namespaced = store_.describe(resource).value("namespaced", true);
    } catch (const std::exception&) {
      continue;
    }
    if (!namespaced) continue;
    for (const auto& obj : store_.list(resource, name)) {
      empty = false;
      if (deleting(obj)) continue;
      DeleteOptions opts;
      opts.propagationPolicy = "Background";
      try {
        store_.remove(resource, name, obj["metadata"].value("name", ""), opts);
      } catch (const ApiException& e) {
        if (e.code != 404 && e.code != 409) throw;
      }
    }
  }
  if (!empty) return;  // the last Deleted event in the namespace brings us back
  // Release the namespace: drop the "kubernetes" finalizer (spec, as namespaces/finalize does)
  // and any metadata finalizer that is ours.
  bool changed = false;
  json updated = ns;
  if (updated.contains("spec") && updated["spec"].contains("finalizers")) {
    json kept = json::array();
    for (const auto& f : updated["spec"]["finalizers"]) {
      if (f != kNamespaceFinalizer) kept.push_back(f);
    }
    if (kept.size() != updated["spec"]["finalizers"].size()) {
      updated["spec"]["finalizers"] = kept;
      changed = true;
    }
  }
  if (hasFinalizer(ns, kNamespaceFinalizer)) {
    json kept = json::array();
    for (const auto& f : ns["metadata"]["finalizers"]) {
      if (f != kNamespaceFinalizer) kept.push_back(f);
    }
    updated["metadata"]["finalizers"] = kept;
    changed = true;
  }
  if (changed) store_.update("namespaces", updated);
}

}  // namespace kubesim
