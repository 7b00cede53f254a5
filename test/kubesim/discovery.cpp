#include "test/kubesim/discovery.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

namespace kubesim {

namespace {

// Built-in groups in the order kube-apiserver lists them; CRD groups follow alphabetically.
const std::vector<std::string>& builtinGroupOrder() {
  static const std::vector<std::string> order = {"apps",
                                                 "events.k8s.io",
                                                 "batch",
                                                 "rbac.authorization.k8s.io",
                                                 "coordination.k8s.io",
                                                 "apiextensions.k8s.io"};
  return order;
}

std::vector<std::string> groupsInOrder(const std::vector<ResourceInfo>& infos) {
  std::set<std::string> present, crdGroups;
  for (const auto& i : infos) {
    if (i.group.empty()) continue;
    present.insert(i.group);
    if (i.crd) crdGroups.insert(i.group);
  }
  std::vector<std::string> out;
  for (const auto& g : builtinGroupOrder())
    if (present.count(g)) out.push_back(g);
  for (const auto& g : crdGroups)
    if (std::find(out.begin(), out.end(), g) == out.end()) out.push_back(g);
  return out;
}

std::vector<std::string> versionsOf(const std::vector<ResourceInfo>& infos,
                                    const std::string& group) {
  std::vector<std::string> out;
  for (const auto& i : infos) {
    if (i.group != group) continue;
    for (const auto& v : i.versions)
      if (std::find(out.begin(), out.end(), v) == out.end()) out.push_back(v);
  }
  return out;
}

json groupJson(const std::vector<ResourceInfo>& infos, const std::string& g) {
  json versions = json::array();
  for (const auto& v : versionsOf(infos, g))
    versions.push_back({{"groupVersion", g + "/" + v}, {"version", v}});
  return {{"name", g},
          {"versions", versions},
          {"preferredVersion", versions.empty() ? json() : versions[0]}};
}

const json kVerbs = json::array(
    {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"});

std::string hashOf(const std::string& s) {
  std::size_t h = std::hash<std::string>{}(s);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016zX%016zX", h, static_cast<std::size_t>(h * 1099511628211ULL));
  return buf;
}

std::string reverseDomain(const std::string& group) {
  if (group.empty()) return "io.k8s.api.core";
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto p = group.find('.', start);
    parts.push_back(group.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  std::string out;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) out += (out.empty() ? "" : ".") + *it;
  return out;
}

std::string schemaName(const ResourceInfo& i, const std::string& version) {
  if (!i.crd) {
    std::string g = i.group.empty() ? "core" : i.group.substr(0, i.group.find('.'));
    return "io.k8s.api." + g + "." + version + "." + i.kind;
  }
  return reverseDomain(i.group) + "." + version + "." + i.kind;
}

const char* kObjectMeta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

json objectMetaSchema() {
  json str = {{"type", "string"}};
  return {
      {"description",
       "ObjectMeta is metadata that all persisted resources must have, which includes all objects "
       "users must "
       "create."},
      {"type", "object"},
      {"properties",
       {{"name", {{"type", "string"}, {"description", "Name must be unique within a namespace."}}},
        {"namespace",
         {{"type", "string"},
          {"description", "Namespace defines the space within which each name must be unique."}}},
        {"generateName",
         {{"type", "string"},
          {"description",
           "GenerateName is an optional prefix, used by the server, to generate a unique name ONLY "
           "IF the Name field has not been provided."}}},
        {"labels",
         {{"type", "object"},
          {"additionalProperties", str},
          {"description",
           "Map of string keys and values that can be used to organize and categorize (scope and "
           "select) objects."}}},
        {"annotations",
         {{"type", "object"},
          {"additionalProperties", str},
          {"description",
           "Annotations is an unstructured key value map stored with a resource that may be set by "
           "external tools to store and retrieve arbitrary metadata."}}},
        {"uid",
         {{"type", "string"},
          {"description", "UID is the unique in time and space value for this object."}}},
        {"resourceVersion",
         {{"type", "string"},
          {"description", "An opaque value that represents the internal version of this object."}}},
        {"generation",
         {{"type", "integer"},
          {"format", "int64"},
          {"description",
           "A sequence number representing a specific generation of the desired state."}}},
        {"creationTimestamp",
         {{"type", "string"},
          {"format", "date-time"},
          {"description",
           "CreationTimestamp is a timestamp representing the server time when this object was "
           "created."}}},
        {"deletionTimestamp",
         {{"type", "string"},
          {"format", "date-time"},
          {"description",
           "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted."}}},
        {"finalizers",
         {{"type", "array"},
          {"items", str},
          {"description", "Must be empty before the object is deleted from the registry."}}},
        {"ownerReferences",
         {{"type", "array"},
          {"items", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}},
          {"description", "List of objects depended by this object."}}},
        {"managedFields",
         {{"type", "array"},
          {"items", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}},
          {"description",
           "ManagedFields maps workflow-id and version to the set of fields that are managed by "
           "that workflow."}}}}}};
}

// The schema a resource publishes: the CRD's openAPIV3Schema with apiVersion/kind/metadata
// filled in the way the API server publishes them; built-in kinds get a permissive outline.
json publishedSchema(const ResourceInfo& i, const std::string& version,
                     const std::string& refPrefix) {
  json s;
  const json* crdSchema = i.crd ? i.schemaFor(version) : nullptr;
  if (crdSchema) {
    s = *crdSchema;
  } else {
    s = {{"type", "object"},
         {"description", i.kind + " (kubesim publishes an outline schema for built-in kinds)"},
         {"properties",
          {{"spec", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}},
           {"status", {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}}};
  }
  if (!s.contains("properties")) s["properties"] = json::object();
  s["properties"]["apiVersion"] = {{"type", "string"},
                                   {"description",
                                    "APIVersion defines the versioned schema of this "
                                    "representation of an object. Servers should convert "
                                    "recognized schemas to the latest internal value, and may "
                                    "reject unrecognized values. More info: "
                                    "https://git.k8s.io/community/contributors/devel/"
                                    "sig-architecture/api-conventions.md#resources"}};
  s["properties"]["kind"] = {{"type", "string"},
                             {"description",
                              "Kind is a string value representing the REST resource this object "
                              "represents. Servers may infer this "
                              "from the endpoint the client submits requests to. Cannot be "
                              "updated. In CamelCase. More info: "
                              "https://git.k8s.io/community/contributors/devel/sig-architecture/"
                              "api-conventions.md#types-kinds"}};
  s["properties"]["metadata"] = {{"description",
                                  "Standard object's metadata. More info: "
                                  "https://git.k8s.io/community/contributors/devel/"
                                  "sig-architecture/api-conventions.md#metadata"},
                                 {"allOf", json::array({{{"$ref", refPrefix + kObjectMeta}}})}};
  s["x-kubernetes-group-version-kind"] =
      json::array({{{"group", i.group}, {"kind", i.kind}, {"version", version}}});
  return s;
}

json param(const std::string& name, const std::string& in, const std::string& description,
           bool v3) {
  json p = {{"name", name}, {"in", in}, {"description", description}};
  if (in == "path") p["required"] = true;
  if (v3)
    p["schema"] = {{"type", "string"}, {"uniqueItems", true}};
  else
    p["type"] = "string";
  return p;
}

void addPaths(json& paths, const ResourceInfo& i, const std::string& version, bool v3,
              const std::string& refPrefix) {
  std::string base = i.group.empty() ? "/api/" + version : "/apis/" + i.group + "/" + version;
  std::string coll = base + (i.namespaced ? "/namespaces/{namespace}/" : "/") + i.plural;
  std::string item = coll + "/{name}";
  json gvk = {{"group", i.group}, {"version", version}, {"kind", i.kind}};
  std::string ref = refPrefix + schemaName(i, version);
  auto response = [&](const std::string& r) {
    if (v3)
      return json{{"200",
                   {{"description", "OK"},
                    {"content", {{"application/json", {{"schema", {{"$ref", r}}}}}}}}}};
    return json{{"200", {{"description", "OK"}, {"schema", {{"$ref", r}}}}}};
  };
  auto op = [&](const std::string& action, const std::string& opId) {
    json o = {{"operationId", opId + i.kind},
              {"x-kubernetes-action", action},
              {"x-kubernetes-group-version-kind", gvk},
              {"responses", response(ref)}};
    return o;
  };
  json fieldValidation =
      param("fieldValidation", "query",
            "fieldValidation instructs the server on how to handle objects in the request "
            "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: Ignore, "
            "Warn, Strict.",
            v3);
  json fieldManager = param(
      "fieldManager", "query",
      "fieldManager is a name associated with the actor or entity that is making these changes.",
      v3);
  json dryRun = param("dryRun", "query",
                      "When present, indicates that modifications should not be persisted.", v3);
  json force = param("force", "query", "Force is going to \"force\" Apply requests.", v3);
  json pathParams = json::array({param("name", "path", "name of the " + i.kind, v3)});
  json collParams = json::array();
  if (i.namespaced) {
    pathParams.push_back(param("namespace", "path",
                               "object name and auth scope, such as for teams and projects", v3));
    collParams.push_back(param("namespace", "path",
                               "object name and auth scope, such as for teams and projects", v3));
  }
  json body = v3 ? json{{"content", {{"application/json", {{"schema", {{"$ref", ref}}}}}}},
                        {"required", true}}
                 : json();
  json post = op("post", "create");
  post["parameters"] = json::array({fieldValidation, fieldManager, dryRun});
  if (v3) post["requestBody"] = body;
  json list = op("list", "list");
  json put = op("put", "replace");
  put["parameters"] = json::array({fieldValidation, fieldManager, dryRun});
  if (v3) put["requestBody"] = body;
  json patch = op("patch", "patch");
  patch["parameters"] = json::array({fieldValidation, fieldManager, dryRun, force});
  if (v3) {
    json content = json::object();
    for (const char* ct : {"application/json-patch+json", "application/merge-patch+json",
                           "application/apply-patch+yaml"}) {
      content[ct] = {{"schema", {{"type", "object"}}}};
    }
    patch["requestBody"] = {{"content", content}, {"required", true}};
  }
  json get = op("get", "read");
  json del = op("delete", "delete");
  paths[coll] = {{"get", list}, {"post", post}, {"parameters", collParams}};
  paths[item] = {
      {"get", get}, {"put", put}, {"patch", patch}, {"delete", del}, {"parameters", pathParams}};
  if (i.statusSubresource) {
    json sget = op("get", "read");
    json sput = put, spatch = patch;
    sget["operationId"] = "read" + i.kind + "Status";
    sput["operationId"] = "replace" + i.kind + "Status";
    spatch["operationId"] = "patch" + i.kind + "Status";
    paths[item + "/status"] = {
        {"get", sget}, {"put", sput}, {"patch", spatch}, {"parameters", pathParams}};
  }
}

}  // namespace

json versionInfo() {
  return {{"major", "1"},
          {"minor", "32"},
          {"gitVersion", "v1.32.0-kubesim"},
          {"gitCommit", "0000000000000000000000000000000000000000"},
          {"gitTreeState", "clean"},
          {"buildDate", "2024-12-11T00:00:00Z"},
          {"goVersion", "go1.23.3"},
          {"compiler", "gc"},
          {"platform", "linux/amd64"}};
}

json apiVersions(const std::string& serverAddress) {
  return {{"kind", "APIVersions"},
          {"versions", json::array({"v1"})},
          {"serverAddressByClientCIDRs",
           json::array({{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", serverAddress}}})}};
}

json apiGroupList(const std::vector<ResourceInfo>& infos) {
  json groups = json::array();
  for (const auto& g : groupsInOrder(infos)) groups.push_back(groupJson(infos, g));
  return {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}};
}

json apiGroup(const std::vector<ResourceInfo>& infos, const std::string& group) {
  if (versionsOf(infos, group).empty()) return nullptr;
  json g = groupJson(infos, group);
  g["kind"] = "APIGroup";
  g["apiVersion"] = "v1";
  return g;
}

json apiResourceList(const std::vector<ResourceInfo>& infos, const std::string& group,
                     const std::string& version) {
  json resources = json::array();
  bool any = false;
  std::vector<const ResourceInfo*> sorted;
  for (const auto& i : infos)
    if (i.group == group && i.servesVersion(version)) sorted.push_back(&i);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->plural < b->plural; });
  for (const auto* ip : sorted) {
    const auto& i = *ip;
    any = true;
    json r = {{"name", i.plural},
              {"singularName", i.singular},
              {"namespaced", i.namespaced},
              {"kind", i.kind},
              {"verbs", kVerbs},
              {"storageVersionHash", hashOf(i.qualified()).substr(0, 12)}};
    if (!i.shortNames.empty()) r["shortNames"] = i.shortNames;
    if (!i.categories.empty()) r["categories"] = i.categories;
    resources.push_back(r);
    if (i.statusSubresource) {
      resources.push_back({{"name", i.plural + "/status"},
                           {"singularName", ""},
                           {"namespaced", i.namespaced},
                           {"kind", i.kind},
                           {"verbs", json::array({"get", "patch", "update"})}});
    }
    if (i.logSubresource) {
      resources.push_back({{"name", i.plural + "/log"},
                           {"singularName", ""},
                           {"namespaced", i.namespaced},
                           {"kind", i.kind},
                           {"verbs", json::array({"get"})}});
    }
  }
  if (!any) return nullptr;
  return {{"kind", "APIResourceList"},
          {"apiVersion", "v1"},
          {"groupVersion", group.empty() ? version : group + "/" + version},
          {"resources", resources}};
}

json openapiV3GroupVersion(const std::vector<ResourceInfo>& infos, const std::string& group,
                           const std::string& version) {
  json paths = json::object();
  json schemas = json::object();
  const std::string prefix = "#/components/schemas/";
  bool any = false;
  for (const auto& i : infos) {
    if (i.group != group || !i.servesVersion(version)) continue;
    any = true;
    addPaths(paths, i, version, true, prefix);
    schemas[schemaName(i, version)] = publishedSchema(i, version, prefix);
  }
  if (!any) return nullptr;
  schemas[kObjectMeta] = objectMetaSchema();
  return {{"openapi", "3.0.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
          {"paths", paths},
          {"components", {{"schemas", schemas}}}};
}

json openapiV3Root(const std::vector<ResourceInfo>& infos) {
  json paths = json::object();
  std::set<std::string> gvs;
  for (const auto& i : infos)
    for (const auto& v : i.versions)
      gvs.insert(i.group.empty() ? "api/" + v : "apis/" + i.group + "/" + v);
  for (const auto& gv : gvs) {
    std::string group, version;
    if (gv.rfind("api/", 0) == 0) {
      version = gv.substr(4);
    } else {
      auto rest = gv.substr(5);
      group = rest.substr(0, rest.find('/'));
      version = rest.substr(rest.find('/') + 1);
    }
    std::string doc = openapiV3GroupVersion(infos, group, version).dump();
    paths[gv] = {{"serverRelativeURL", "/openapi/v3/" + gv + "?hash=" + hashOf(doc)}};
  }
  return {{"paths", paths}};
}

json openapiV2(const std::vector<ResourceInfo>& infos) {
  json defs = json::object();
  json paths = json::object();
  const std::string prefix = "#/definitions/";
  for (const auto& i : infos) {
    if (!i.crd) continue;
    for (const auto& v : i.versions) {
      addPaths(paths, i, v, false, prefix);
      defs[schemaName(i, v)] = publishedSchema(i, v, prefix);
    }
  }
  defs[kObjectMeta] = objectMetaSchema();
  return {{"swagger", "2.0"},
          {"info", {{"title", "Kubernetes"}, {"version", "v1.32.0"}}},
          {"paths", paths},
          {"definitions", defs}};
}

}  // namespace kubesim
