#pragma once
// The OwnerReferencesPermissionEnforcement admission plugin (kube-apiserver
// --enable-admission-plugins, on in OpenShift and other hardened clusters; off by default
// upstream): changing an object's ownerReferences needs `delete` on the object (updates only),
// and setting `blockOwnerDeletion: true` on a reference needs `update` on the owner's
// `finalizers` subresource. The messages are kube-apiserver's, Go's "%v, %v" included.
#include <functional>
#include <optional>
#include <string>

#include "test/kubesim/object_store.h"

namespace kubesim {

struct OwnerResource {
  std::string group;
  std::string resource;  // plural
};
// apiVersion + kind of an owner reference -> its resource; nullopt when no such kind is served.
using OwnerKindResolver = std::function<std::optional<OwnerResource>(const std::string& apiVersion,
                                                                     const std::string& kind)>;
// Whether the request's user may do what the attributes say (the authorizer's answer).
using AccessCheck = std::function<bool(const RequestAttributes&)>;

// `request` is the write (create, update or patch; its user, group, resource, namespace);
// `object` the object about to be stored, `old` the stored one (null on create). Throws
// ApiException 403 when the plugin refuses the write.
void enforceOwnerReferencesPermission(const RequestAttributes& request, const json& object,
                                      const json* old, const AccessCheck& allowed,
                                      const OwnerKindResolver& resolve);

}  // namespace kubesim
