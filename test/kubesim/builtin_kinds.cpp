#include "test/kubesim/builtin_kinds.h"

#include <algorithm>
#include <cctype>

#include "test/kubesim/util.h"

namespace kubesim {

bool ResourceInfo::servesVersion(const std::string& v) const {
  return std::find(versions.begin(), versions.end(), v) != versions.end();
}

const json* ResourceInfo::schemaFor(const std::string& v) const {
  for (std::size_t i = 0; i < versions.size() && i < schemas.size(); ++i) {
    if (versions[i] == v && schemas[i] && !schemas[i]->is_null()) return schemas[i].get();
  }
  return nullptr;
}

const std::vector<PrinterColumn>* ResourceInfo::columnsFor(const std::string& v) const {
  for (std::size_t i = 0; i < versions.size() && i < columns.size(); ++i) {
    if (versions[i] == v) return &columns[i];
  }
  return nullptr;
}

namespace {

ResourceInfo make(std::string group, std::string version, std::string plural, std::string singular,
                  std::string kind, bool namespaced, std::vector<std::string> shortNames = {},
                  std::vector<std::string> categories = {}, bool status = false,
                  bool generation = false) {
  ResourceInfo r;
  r.group = std::move(group);
  r.version = version;
  r.versions = {version};
  r.plural = std::move(plural);
  r.singular = std::move(singular);
  r.kind = kind;
  r.listKind = kind + "List";
  r.namespaced = namespaced;
  r.shortNames = std::move(shortNames);
  r.categories = std::move(categories);
  r.statusSubresource = status;
  r.hasGeneration = generation;
  return r;
}

}  // namespace

std::vector<ResourceInfo> builtinResources() {
  std::vector<ResourceInfo> out;
  out.push_back(make("", "v1", "namespaces", "namespace", "Namespace", false, {"ns"}, {}, true));
  out.push_back(make("", "v1", "configmaps", "configmap", "ConfigMap", true, {"cm"}));
  out.push_back(make("", "v1", "secrets", "secret", "Secret", true));
  out.push_back(
      make("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, {"sa"}));
  auto pods = make("", "v1", "pods", "pod", "Pod", true, {"po"}, {"all"}, true);
  pods.logSubresource = true;
  out.push_back(pods);
  out.push_back(make("", "v1", "events", "event", "Event", true, {"ev"}));
  out.push_back(make("", "v1", "services", "service", "Service", true, {"svc"}, {"all"}, true));
  auto ev = make("events.k8s.io", "v1", "events", "event", "Event", true, {"ev"});
  ev.storageResource = "events";
  out.push_back(ev);
  out.push_back(make("batch", "v1", "jobs", "job", "Job", true, {}, {"all"}, true, true));
  out.push_back(make("apps", "v1", "deployments", "deployment", "Deployment", true, {"deploy"},
                     {"all"}, true, true));
  out.push_back(make("coordination.k8s.io", "v1", "leases", "lease", "Lease", true));
  out.push_back(make("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", true));
  out.push_back(
      make("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", true));
  out.push_back(
      make("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", false));
  out.push_back(make("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding",
                     "ClusterRoleBinding", false));
  out.push_back(make("apiextensions.k8s.io", "v1", "customresourcedefinitions",
                     "customresourcedefinition", "CustomResourceDefinition", false, {"crd", "crds"},
                     {"api-extensions"}, true, true));
  return out;
}

namespace {
const char* kCrdKind = "CustomResourceDefinition";
const char* kCrdGroup = "apiextensions.k8s.io";

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
}  // namespace

void validateCrd(const json& crd) {
  std::vector<FieldCause> causes;
  std::string name = crd.value("/metadata/name"_json_pointer, std::string());
  const json spec = crd.value("spec", json::object());
  std::string group = spec.value("group", std::string());
  json names = spec.value("names", json::object());
  std::string plural = names.is_object() ? names.value("plural", std::string()) : "";
  std::string kind = names.is_object() ? names.value("kind", std::string()) : "";
  if (group.empty()) {
    causes.push_back({"FieldValueRequired", "spec.group", "Required value"});
  } else if (group.find('.') == std::string::npos) {
    causes.push_back(
        {"FieldValueInvalid", "spec.group",
         "Invalid value: " + quote(group) + ": should be a domain with at least one dot"});
  }
  if (plural.empty())
    causes.push_back({"FieldValueRequired", "spec.names.plural", "Required value"});
  else if (auto e = validateDns1123Label(plural); !e.empty())
    causes.push_back(
        {"FieldValueInvalid", "spec.names.plural", "Invalid value: " + quote(plural) + ": " + e});
  if (kind.empty()) causes.push_back({"FieldValueRequired", "spec.names.kind", "Required value"});
  if (!plural.empty() && !group.empty() && name != plural + "." + group) {
    causes.push_back(
        {"FieldValueInvalid", "metadata.name",
         "Invalid value: " + quote(name) + ": must be spec.names.plural+\".\"+spec.group"});
  }
  std::string scope = spec.value("scope", std::string());
  if (scope != "Namespaced" && scope != "Cluster") {
    if (scope.empty())
      causes.push_back({"FieldValueRequired", "spec.scope", "Required value"});
    else
      causes.push_back({"FieldValueNotSupported", "spec.scope",
                        "Unsupported value: " + quote(scope) +
                            ": supported values: \"Cluster\", \"Namespaced\""});
  }
  json versions = spec.value("versions", json::array());
  if (!versions.is_array() || versions.empty()) {
    causes.push_back(
        {"FieldValueInvalid", "spec.versions",
         "Invalid value: null: must have exactly one version marked as storage version"});
  } else {
    int storage = 0;
    for (std::size_t i = 0; i < versions.size(); ++i) {
      const auto& v = versions[i];
      std::string p = "spec.versions[" + std::to_string(i) + "]";
      if (!v.is_object() || v.value("name", std::string()).empty()) {
        causes.push_back({"FieldValueRequired", p + ".name", "Required value"});
        continue;
      }
      if (v.value("storage", false)) ++storage;
      const json* sch = v.contains("schema") ? &v["schema"] : nullptr;
      if (!sch || !sch->is_object() || !sch->contains("openAPIV3Schema")) {
        causes.push_back({"FieldValueRequired", p + ".schema.openAPIV3Schema",
                          "Required value: schemas are required"});
      } else if (!(*sch)["openAPIV3Schema"].is_object() ||
                 (*sch)["openAPIV3Schema"].value("type", std::string()) != "object") {
        causes.push_back({"FieldValueRequired", p + ".schema.openAPIV3Schema.type",
                          "Required value: must not be empty at the root"});
      }
    }
    if (storage != 1) {
      causes.push_back({"FieldValueInvalid", "spec.versions",
                        "Invalid value: " + versions.dump() +
                            ": must have exactly one version marked as storage version"});
    }
  }
  if (!causes.empty()) throw invalid(kCrdKind, kCrdGroup, name, causes);
}

ResourceInfo resourceFromCrd(const json& crd) {
  validateCrd(crd);
  const json& spec = crd["spec"];
  const json& names = spec["names"];
  ResourceInfo r;
  r.crd = true;
  r.group = spec["group"].get<std::string>();
  r.plural = names["plural"].get<std::string>();
  r.kind = names["kind"].get<std::string>();
  r.singular = names.value("singular", lower(r.kind));
  r.listKind = names.value("listKind", r.kind + "List");
  r.namespaced = spec.value("scope", std::string("Namespaced")) == "Namespaced";
  r.shortNames = names.value("shortNames", std::vector<std::string>{});
  r.categories = names.value("categories", std::vector<std::string>{});
  r.hasGeneration = true;
  // Served versions: the storage version is the preferred one when it is served (a
  // simplification of the real priority order, documented).
  std::vector<json> versions;
  for (const auto& v : spec["versions"]) {
    if (v.value("served", true)) versions.push_back(v);
  }
  std::stable_sort(versions.begin(), versions.end(), [](const json& a, const json& b) {
    return a.value("storage", false) > b.value("storage", false);
  });
  for (const auto& v : versions) {
    r.versions.push_back(v["name"].get<std::string>());
    r.schemas.push_back(std::make_shared<const json>(v["schema"]["openAPIV3Schema"]));
    bool status = v.contains("subresources") && v["subresources"].is_object() &&
                  v["subresources"].contains("status");
    if (status) r.statusSubresource = true;
    std::vector<PrinterColumn> cols;
    if (v.contains("additionalPrinterColumns") && v["additionalPrinterColumns"].is_array()) {
      for (const auto& c : v["additionalPrinterColumns"]) {
        PrinterColumn pc;
        pc.name = c.value("name", std::string());
        pc.type = c.value("type", std::string("string"));
        pc.format = c.value("format", std::string());
        pc.description = c.value("description", std::string());
        pc.jsonPath = c.value("jsonPath", std::string());
        pc.priority = c.value("priority", 0);
        cols.push_back(pc);
      }
    }
    r.columns.push_back(cols);
  }
  if (r.versions.empty()) {
    r.version = spec["versions"][0]["name"].get<std::string>();
  } else {
    r.version = r.versions[0];
  }
  return r;
}

json eventToEventsV1(const json& e) {
  json o = json::object();
  o["apiVersion"] = "events.k8s.io/v1";
  o["kind"] = "Event";
  o["metadata"] = e.value("metadata", json::object());
  auto copy = [&](const char* from, const char* to) {
    if (e.contains(from) && !e[from].is_null()) o[to] = e[from];
  };
  copy("involvedObject", "regarding");
  copy("message", "note");
  copy("reason", "reason");
  copy("type", "type");
  copy("reportingComponent", "reportingController");
  copy("reportingInstance", "reportingInstance");
  copy("source", "deprecatedSource");
  copy("firstTimestamp", "deprecatedFirstTimestamp");
  copy("lastTimestamp", "deprecatedLastTimestamp");
  copy("count", "deprecatedCount");
  copy("eventTime", "eventTime");
  copy("action", "action");
  copy("related", "related");
  copy("series", "series");
  return o;
}

json eventFromEventsV1(const json& v) {
  json o = json::object();
  o["apiVersion"] = "v1";
  o["kind"] = "Event";
  o["metadata"] = v.value("metadata", json::object());
  auto copy = [&](const char* from, const char* to) {
    if (v.contains(from) && !v[from].is_null()) o[to] = v[from];
  };
  copy("regarding", "involvedObject");
  copy("note", "message");
  copy("reason", "reason");
  copy("type", "type");
  copy("reportingController", "reportingComponent");
  copy("reportingInstance", "reportingInstance");
  copy("deprecatedSource", "source");
  copy("deprecatedFirstTimestamp", "firstTimestamp");
  copy("deprecatedLastTimestamp", "lastTimestamp");
  copy("deprecatedCount", "count");
  copy("eventTime", "eventTime");
  copy("action", "action");
  copy("related", "related");
  copy("series", "series");
  if (!o.contains("involvedObject")) o["involvedObject"] = json::object();
  return o;
}

}  // namespace kubesim
