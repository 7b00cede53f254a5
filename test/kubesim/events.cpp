#include "test/kubesim/events.h"
#include "test/kubesim/cluster_json.h"

#include <chrono>
#include <cstdio>

#include "test/kubesim/clock.h"
#include "test/kubesim/util.h"

namespace kubesim {

namespace {

// The Kind and apiVersion of an object, from the object or from the store's description.
std::pair<std::string, std::string> kindOf(ObjectStore& store, const json& object,
                                           const std::string& resource) {
  std::string kind = object.value("kind", "");
  std::string apiVersion = object.value("apiVersion", "");
  if (kind.empty() || apiVersion.empty()) {
    try {
      auto d = store.describe(resource);
      if (kind.empty()) kind = d.value("kind", "");
      if (apiVersion.empty()) apiVersion = d.value("apiVersion", "");
    } catch (const std::exception&) {
    }
  }
  return {kind, apiVersion};
}

// Real event names are <object>.<unix nanoseconds in hex>.
std::string eventName(const std::string& objectName) {
  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, "%llx", static_cast<unsigned long long>(nanos));
  return objectName + "." + suffix;
}

}  // namespace

bool EventRecorder::growExisting(const std::string& key, const std::string& resource,
                                 const std::string& ns, const std::function<void(json&)>& grow) {
  std::string existing;
  {
    std::lock_guard lock(mu_);
    auto it = names_.find(key);
    if (it != names_.end()) existing = it->second;
  }
  if (existing.empty()) return false;
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      json ev = store_.get(resource, ns, existing);
      grow(ev);
      store_.update(resource, ev);
      return true;
    } catch (const ApiException& e) {
      if (e.code != 409) break;  // gone: the caller writes a new one
    }
  }
  return false;
}

void EventRecorder::record(const json& object, const std::string& resource,
                           const std::string& component, const EventSpec& event,
                           const std::string& host) {
  if (component == "default-scheduler") {
    // kube-scheduler records through the events.k8s.io/v1 API.
    return recordEventsV1(object, resource, component,
                          event.reason == "Scheduled" ? "Binding" : "Scheduling", event);
  }
  try {
    const json metadata = objectAt(object, "metadata");
    std::string ns = metadata.value("namespace", "");
    std::string name = metadata.value("name", "");
    std::string uid = metadata.value("uid", "");
    if (ns.empty()) ns = "default";  // events about cluster-scoped objects live in default
    std::string key = uid + "\x1f" + event.fieldPath + "\x1f" + event.type + "\x1f" + event.reason +
                      "\x1f" + event.message + "\x1f" + component;
    std::string now = Clock::nowRfc3339();
    if (growExisting(key, "events", ns, [&](json& ev) {
          ev["count"] = ev.value("count", 1) + 1;
          ev["lastTimestamp"] = now;
        })) {
      return;
    }
    auto [kind, apiVersion] = kindOf(store_, object, resource);
    std::string evName = eventName(name);
    json involved = {{"kind", kind},
                     {"namespace", metadata.value("namespace", "")},
                     {"name", name},
                     {"uid", uid},
                     {"apiVersion", apiVersion},
                     {"resourceVersion", metadata.value("resourceVersion", "")}};
    if (involved["namespace"] == "") involved.erase("namespace");
    if (!event.fieldPath.empty()) involved["fieldPath"] = event.fieldPath;
    json source = {{"component", component}};
    if (!host.empty()) source["host"] = host;
    json ev = {{"apiVersion", "v1"},
               {"kind", "Event"},
               {"metadata", {{"name", evName}, {"namespace", ns}}},
               {"involvedObject", involved},
               {"reason", event.reason},
               {"message", event.message},
               {"source", source},
               {"firstTimestamp", now},
               {"lastTimestamp", now},
               {"count", 1},
               {"type", event.type},
               {"eventTime", nullptr},
               {"reportingComponent", component},
               {"reportingInstance", host.empty() ? component : host}};
    store_.create("events", ns, ev);
    std::lock_guard lock(mu_);
    names_[key] = evName;
  } catch (const std::exception&) {
    // Dropped, as the real event broadcaster drops events it cannot write.
  }
}

void EventRecorder::recordEventsV1(const json& object, const std::string& resource,
                                   const std::string& controller, const std::string& action,
                                   const EventSpec& event) {
  static const std::string kResource = "events.events.k8s.io";
  try {
    const json metadata = objectAt(object, "metadata");
    std::string ns = metadata.value("namespace", "");
    const std::string name = metadata.value("name", "");
    const std::string uid = metadata.value("uid", "");
    if (ns.empty()) ns = "default";
    const std::string key = uid + "\x1f" + event.type + "\x1f" + event.reason + "\x1f" +
                            event.message + "\x1f" + controller + "\x1fv1";
    const std::string now = nowRfc3339Micro();
    // An isomorphic event again: the recorder grows its series (count starts at 2).
    if (growExisting(key, kResource, ns, [&](json& ev) {
          const json series = objectAt(ev, "series");
          ev["series"] = {{"count", series.value("count", 1) + 1}, {"lastObservedTime", now}};
        })) {
      return;
    }
    auto [kind, apiVersion] = kindOf(store_, object, resource);
    const std::string evName = eventName(name);
    json regarding = {{"kind", kind},
                      {"namespace", metadata.value("namespace", "")},
                      {"name", name},
                      {"uid", uid},
                      {"apiVersion", apiVersion},
                      {"resourceVersion", metadata.value("resourceVersion", "")}};
    if (regarding["namespace"] == "") regarding.erase("namespace");
    json ev = {{"apiVersion", "events.k8s.io/v1"},
               {"kind", "Event"},
               {"metadata", {{"name", evName}, {"namespace", ns}}},
               {"eventTime", now},
               {"reportingController", controller},
               {"reportingInstance", controller + "-kubesim-control-plane"},
               {"action", action},
               {"reason", event.reason},
               {"regarding", regarding},
               {"note", event.message},
               {"type", event.type}};
    store_.create(kResource, ns, ev);
    std::lock_guard lock(mu_);
    names_[key] = evName;
  } catch (const std::exception&) {
    // Dropped, as the real event broadcaster drops events it cannot write.
  }
}

}  // namespace kubesim
