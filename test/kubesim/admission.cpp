#include "test/kubesim/admission.h"

#include <set>

#include "test/kubesim/cluster_json.h"

namespace kubesim {

namespace {

json ownerReferences(const json* object) {
  if (!object || !object->is_object()) return json::array();
  auto refs = arrayAt(objectAt(*object, "metadata"), "ownerReferences");
  return refs.is_array() ? refs : json::array();
}

std::set<std::string> blockingUids(const json& refs) {
  std::set<std::string> out;
  for (const auto& r : refs) {
    if (r.is_object() && r.value("blockOwnerDeletion", false)) out.insert(r.value("uid", ""));
  }
  return out;
}

ApiException forbiddenWrite(const RequestAttributes& request, const json& object,
                            const std::string& why) {
  const std::string name = objectAt(object, "metadata").value("name", request.name);
  const std::string qualified =
      request.apiGroup.empty() ? request.resource : request.resource + "." + request.apiGroup;
  json details = {{"name", name}, {"kind", request.resource}};
  if (!request.apiGroup.empty()) details["group"] = request.apiGroup;
  return ApiException(403, "Forbidden", qualified + " \"" + name + "\" is forbidden: " + why,
                      details);
}

}  // namespace

void enforceOwnerReferencesPermission(const RequestAttributes& request, const json& object,
                                      const json* old, const AccessCheck& allowed,
                                      const OwnerKindResolver& resolve) {
  // The plugin's one exception: pod status updates.
  if (request.resource == "pods" && request.apiGroup.empty() && request.subresource == "status")
    return;
  const json now = ownerReferences(&object);
  const json before = ownerReferences(old);
  if (now == before) return;  // not changing owner references: always allowed
  // Creating: whoever may create it could as well never have created it. Otherwise changing
  // owner references needs the right to delete the object.
  if (old) {
    RequestAttributes del = request;
    del.verb = "delete";
    del.subresource.clear();
    del.name = objectAt(object, "metadata").value("name", request.name);
    if (!allowed(del)) {
      throw forbiddenWrite(request, object,
                           "cannot set an ownerRef on a resource you can't delete: , <nil>");
    }
  }
  const auto wasBlocking = blockingUids(before);
  for (const auto& ref : now) {
    if (!ref.is_object() || !ref.value("blockOwnerDeletion", false)) continue;
    if (wasBlocking.count(ref.value("uid", ""))) continue;
    const std::string apiVersion = ref.value("apiVersion", ""), kind = ref.value("kind", "");
    auto owner = resolve(apiVersion, kind);
    if (!owner) {
      const auto slash = apiVersion.find('/');
      const std::string version =
          slash == std::string::npos ? apiVersion : apiVersion.substr(slash + 1);
      const std::string group = slash == std::string::npos ? "" : apiVersion.substr(0, slash);
      throw forbiddenWrite(request, object,
                           "cannot set blockOwnerDeletion in this case because cannot find "
                           "RESTMapping for APIVersion " +
                               apiVersion + " Kind " + kind + ": no matches for kind \"" + kind +
                               "\" in version \"" + (group.empty() ? "" : group + "/") + version +
                               "\"");
    }
    RequestAttributes fin;
    fin.user = request.user;
    fin.resourceRequest = true;
    fin.verb = "update";
    fin.apiGroup = owner->group;
    fin.resource = owner->resource;
    fin.subresource = "finalizers";
    fin.ns = request.ns;
    fin.name = ref.value("name", "");
    if (!allowed(fin)) {
      throw forbiddenWrite(request, object,
                           "cannot set blockOwnerDeletion if an ownerReference refers to a "
                           "resource you can't set finalizers on: , <nil>");
    }
  }
}

}  // namespace kubesim
