#include "controllers/flowrun/watches.h"

#include <string>

#include "controllers/flowrun/json_util.h"
#include "controllers/flowrun/labels.h"

namespace controllers::flowrun {

namespace {

using json = nlohmann::json;
using jsonutil::str;

// The transforms own the object they trim (a decoded copy), so the kept values are moved out of
// it, not copied: one allocation fewer per kept string, array and object.

// The member `key` of obj, or a null when obj is not an object or has none. The null is this
// thread's own, and the helpers only ever move out of what they are given.
json& member(json& obj, const char* key) {
  thread_local json none;
  none = nullptr;
  if (!obj.is_object()) return none;
  auto it = obj.find(key);
  return it == obj.end() ? none : *it;
}

void moveKeys(json& from, json& to, std::initializer_list<const char*> keys) {
  if (!from.is_object()) return;
  for (const char* k : keys) {
    auto it = from.find(k);
    if (it != from.end()) to[k] = std::move(*it);
  }
}

json pick(json& from, std::initializer_list<const char*> keys) {
  json out = json::object();
  moveKeys(from, out, keys);
  return out;
}

// Only the operator's own labels and annotations (prefect.io/...) are read from cached objects.
json prefectKeys(json& map) {
  json out = json::object();
  if (!map.is_object()) return out;
  for (auto it = map.begin(); it != map.end(); ++it) {
    if (it.key().rfind("prefect.io/", 0) == 0) out[it.key()] = std::move(it.value());
  }
  return out;
}

// The controller ownerReference alone: what isControlledBy, flowRunKeyFor and the
// controller-uid index read.
json controllerRef(json& refs) {
  json out = json::array();
  if (!refs.is_array()) return out;
  for (json& r : refs) {
    if (member(r, "controller").is_boolean() && r["controller"].get<bool>()) {
      out.push_back(pick(r, {"apiVersion", "kind", "name", "uid", "controller"}));
    }
  }
  return out;
}

// FlowRuns keep every prefect.io/ label (worker mode selects on prefect.io/workpool); Jobs and
// pods only prefect.io/flowrun, the one flowRunKeyFor reads.
json trimMetadata(json& metadata, bool allPrefectLabels) {
  json m = pick(metadata,
                {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
                 "deletionTimestamp", "deletionGracePeriodSeconds", "finalizers"});
  json labels = allPrefectLabels ? prefectKeys(member(metadata, "labels"))
                                 : pick(member(metadata, "labels"), {kLabelFlowRun});
  if (!labels.empty()) m["labels"] = std::move(labels);
  json annotations = prefectKeys(member(metadata, "annotations"));
  if (!annotations.empty()) m["annotations"] = std::move(annotations);
  json owners = controllerRef(member(metadata, "ownerReferences"));
  if (!owners.empty()) m["ownerReferences"] = std::move(owners);
  return m;
}

// FlowRuns keep their apiVersion and kind (their Events name them); no reader asks a cached Job
// or pod for its own.
json base(json& obj, bool isFlowRun = false) {
  json out = isFlowRun ? pick(obj, {"apiVersion", "kind"}) : json::object();
  out["metadata"] = trimMetadata(member(obj, "metadata"), isFlowRun);
  return out;
}

// A container state (waiting, running, terminated) without its container and image IDs.
json trimState(json& state) {
  json out = json::object();
  if (!state.is_object()) return out;
  for (auto it = state.begin(); it != state.end(); ++it) {
    out[it.key()] =
        pick(it.value(), {"reason", "message", "exitCode", "signal", "startedAt", "finishedAt"});
  }
  return out;
}

json trimContainerStatuses(json& statuses) {
  json out = json::array();
  if (!statuses.is_array()) return out;
  for (json& c : statuses) {
    json t = pick(c, {"name", "started", "restartCount"});
    for (const char* k : {"state", "lastState"}) {
      if (member(c, k).is_object()) t[k] = trimState(c[k]);
    }
    out.push_back(std::move(t));
  }
  return out;
}

// Conditions of the given types, without probe times.
json trimConditions(json& conditions, std::initializer_list<const char*> types) {
  json out = json::array();
  if (!conditions.is_array()) return out;
  for (json& c : conditions) {
    const std::string type = str(c, "type");
    bool keep = false;
    for (const char* t : types) keep = keep || type == t;
    if (keep) out.push_back(pick(c, {"type", "status", "reason", "message", "lastTransitionTime"}));
  }
  return out;
}

}  // namespace

// The spec is read whole only to render the Job, and that read goes to the API server
// (FlowRunReconciler::createJob): the cache keeps the fields read on every reconcile, so its
// size does not grow with templates, env or job variables.
kube::Transform flowRunTransform() {
  return [](json obj) {
    if (!obj.is_object()) return obj;
    json out = base(obj, true);
    json& spec = member(obj, "spec");
    json s =
        pick(spec, {"flowRunId", "cancel", "cancelGracePeriodSeconds", "podWatchTimeoutSeconds"});
    if (json& v = member(member(spec, "variables"), "pod_watch_timeout_seconds"); !v.is_null()) {
      s["variables"] = {{"pod_watch_timeout_seconds", std::move(v)}};
    }
    out["spec"] = std::move(s);
    moveKeys(obj, out, {"status"});
    return out;
  };
}

kube::Transform jobTransform() {
  return [](json obj) {
    if (!obj.is_object()) return obj;
    json out = base(obj);
    out["spec"] = pick(member(obj, "spec"), {"activeDeadlineSeconds", "backoffLimit"});
    json& status = member(obj, "status");
    json st = pick(status, {"active", "succeeded", "failed", "startTime", "completionTime"});
    json conditions = trimConditions(member(status, "conditions"), {"Complete", "Failed"});
    if (!conditions.empty()) st["conditions"] = std::move(conditions);
    out["status"] = std::move(st);
    return out;
  };
}

kube::Transform podTransform() {
  return [](json obj) {
    if (!obj.is_object()) return obj;
    json out = base(obj);
    // The first container's name: the flow runs in the first container of the spec.
    json containers = json::array();
    json& specContainers = member(member(obj, "spec"), "containers");
    if (specContainers.is_array() && !specContainers.empty()) {
      containers.push_back(pick(specContainers[0], {"name"}));
    }
    out["spec"] = {{"containers", std::move(containers)}};
    json& status = member(obj, "status");
    json st = pick(status, {"phase", "reason", "message", "startTime"});
    json conditions = trimConditions(member(status, "conditions"), {"PodScheduled"});
    if (!conditions.empty()) st["conditions"] = std::move(conditions);
    json cs = trimContainerStatuses(member(status, "containerStatuses"));
    if (!cs.empty()) st["containerStatuses"] = std::move(cs);
    out["status"] = std::move(st);
    return out;
  };
}

namespace {

json metadataFields() {
  json m = json::object();
  for (const char* k : {"name", "namespace", "uid", "resourceVersion", "generation",
                        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                        "finalizers", "labels", "annotations", "ownerReferences"}) {
    m[k] = true;
  }
  return m;
}

std::shared_ptr<const json> fields(json spec, json status) {
  return std::make_shared<const json>(json{{"apiVersion", true},
                                           {"kind", true},
                                           {"metadata", metadataFields()},
                                           {"spec", std::move(spec)},
                                           {"status", std::move(status)}});
}

}  // namespace

std::shared_ptr<const json> flowRunFields() {
  static const auto f = fields({{"flowRunId", true},
                                {"cancel", true},
                                {"cancelGracePeriodSeconds", true},
                                {"podWatchTimeoutSeconds", true},
                                {"variables", {{"pod_watch_timeout_seconds", true}}}},
                               true);
  return f;
}

std::shared_ptr<const json> jobFields() {
  static const auto f =
      fields({{"activeDeadlineSeconds", true}, {"backoffLimit", true}}, {{"active", true},
                                                                         {"succeeded", true},
                                                                         {"failed", true},
                                                                         {"startTime", true},
                                                                         {"completionTime", true},
                                                                         {"conditions", true}});
  return f;
}

std::shared_ptr<const json> podFields() {
  static const auto f = fields({{"containers", {{"name", true}}}}, {{"phase", true},
                                                                    {"reason", true},
                                                                    {"message", true},
                                                                    {"startTime", true},
                                                                    {"conditions", true},
                                                                    {"containerStatuses", true}});
  return f;
}

std::optional<runtime::ObjectKey> flowRunKeyFor(const json& obj) {
  if (!obj.is_object()) return std::nullopt;
  const json& md = obj.value("metadata", json::object());
  std::string ns = str(md, "namespace");
  if (ns.empty()) return std::nullopt;
  if (md.contains("ownerReferences") && md["ownerReferences"].is_array()) {
    for (const json& ref : md["ownerReferences"]) {
      if (str(ref, "kind") == "FlowRun" && str(ref, "apiVersion").rfind("prefect.io/", 0) == 0 &&
          ref.value("controller", false) && !str(ref, "name").empty()) {
        return runtime::ObjectKey{ns, str(ref, "name")};
      }
    }
  }
  if (md.contains("annotations")) {
    std::string name = str(md["annotations"], kAnnotationFlowRunName);
    if (!name.empty()) return runtime::ObjectKey{ns, name};
  }
  if (md.contains("labels")) {
    std::string name = str(md["labels"], kLabelFlowRun);
    if (!name.empty()) return runtime::ObjectKey{ns, name};
  }
  return std::nullopt;
}

kube::Indexers podIndexers() {
  kube::Indexers out;
  out[kube::kIndexControllerUid] = kube::controllerUidIndexer();  // FlowRunReconciler::podsOf
  out[kIndexFlowRun] = [](const json& pod) {
    std::vector<std::string> names;
    if (auto key = flowRunKeyFor(pod)) names.push_back(key->name);
    return names;
  };
  return out;
}

}  // namespace controllers::flowrun
