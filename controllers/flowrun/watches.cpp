#include "controllers/flowrun/watches.h"

#include <string>

#include "controllers/flowrun/json_util.h"
#include "controllers/flowrun/labels.h"

namespace controllers::flowrun {

namespace {

using json = nlohmann::json;

void copyKeys(const json& from, json& to, std::initializer_list<const char*> keys) {
  if (!from.is_object()) return;
  for (const char* k : keys) {
    auto it = from.find(k);
    if (it != from.end()) to[k] = *it;
  }
}

// Only the operator's own annotations matter on Jobs and pods.
json prefectAnnotations(const json& annotations) {
  json out = json::object();
  if (!annotations.is_object()) return out;
  for (auto it = annotations.begin(); it != annotations.end(); ++it) {
    if (it.key().rfind("prefect.io/", 0) == 0) out[it.key()] = it.value();
  }
  return out;
}

json trimMetadata(const json& metadata, bool keepAllAnnotations) {
  json m = json::object();
  copyKeys(metadata, m,
           {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
            "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "ownerReferences",
            "finalizers"});
  if (metadata.is_object() && metadata.contains("annotations")) {
    json a =
        keepAllAnnotations ? metadata["annotations"] : prefectAnnotations(metadata["annotations"]);
    if (a.is_object()) a.erase("kubectl.kubernetes.io/last-applied-configuration");
    if (a.is_object() && !a.empty()) m["annotations"] = std::move(a);
  }
  return m;
}

json base(const json& obj) {
  json out = json::object();
  copyKeys(obj, out, {"apiVersion", "kind"});
  return out;
}

}  // namespace

using jsonutil::str;

kube::Transform flowRunTransform() {
  return [](json obj) {
    if (!obj.is_object()) return obj;
    json out = base(obj);
    out["metadata"] = trimMetadata(obj.value("metadata", json::object()), true);
    copyKeys(obj, out, {"spec", "status"});
    return out;
  };
}

kube::Transform jobTransform() {
  return [](json obj) {
    if (!obj.is_object()) return obj;
    json out = base(obj);
    out["metadata"] = trimMetadata(obj.value("metadata", json::object()), false);
    json spec = json::object();
    copyKeys(obj.value("spec", json::object()), spec, {"activeDeadlineSeconds", "backoffLimit"});
    out["spec"] = std::move(spec);
    copyKeys(obj, out, {"status"});
    return out;
  };
}

kube::Transform podTransform() {
  return [](json obj) {
    if (!obj.is_object()) return obj;
    json out = base(obj);
    out["metadata"] = trimMetadata(obj.value("metadata", json::object()), false);
    // The container names only: the flow runs in the first container of the spec.
    json containers = json::array();
    const json& spec = obj.value("spec", json::object());
    if (spec.is_object() && spec.contains("containers") && spec["containers"].is_array()) {
      for (const json& c : spec["containers"]) {
        if (c.is_object() && c.contains("name")) containers.push_back({{"name", c["name"]}});
      }
    }
    out["spec"] = {{"containers", std::move(containers)}};
    json status = json::object();
    copyKeys(obj.value("status", json::object()), status,
             {"phase", "reason", "message", "conditions", "containerStatuses", "startTime"});
    out["status"] = std::move(status);
    return out;
  };
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

}  // namespace controllers::flowrun
