#pragma once
// RBAC authorization with rbac.authorization.k8s.io/v1 semantics, read from the store on each
// request, plus the bootstrap policy every cluster has (system:masters, discovery for
// system:authenticated, public health/version info, self access reviews).
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "test/kubesim/object_store.h"

namespace kubesim {

struct RbacPolicy {
  std::vector<json> roles, clusterRoles, roleBindings, clusterRoleBindings;
};

struct RbacDecision {
  bool allowed = false;
  // Allowed: `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "z"`.
  // Denied: why a binding could not be evaluated (a missing role), else empty.
  std::string reason;
};

// One PolicyRule against one request.
bool ruleAllows(const json& rule, const RequestAttributes& request);
// One subject of a binding against the caller.
bool subjectMatches(const json& subject, const UserInfo& user, const std::string& bindingNamespace);
RbacDecision evaluateRbac(const RbacPolicy& policy, const RequestAttributes& request);
// The kube-apiserver Forbidden message, e.g.
//   jobs.batch "x" is forbidden: User "u" cannot get resource "jobs" in API group "batch" in the
//   namespace "ns"
std::string forbiddenMessage(const RequestAttributes& request, const std::string& reason = "");

class RbacAuthorizer : public Authorizer {
 public:
  explicit RbacAuthorizer(ObjectStore& store) : store_(store) {}
  std::optional<std::string> deny(const RequestAttributes& request) override;
  std::function<bool(const RequestAttributes&)> snapshotFor(const UserInfo& user) override;
  RbacDecision decide(const RequestAttributes& request);
  // The roles and bindings that can apply to `user` (none are read for system:masters).
  RbacPolicy policyFor(const UserInfo& user);

 private:
  ObjectStore& store_;
};

// authorization.k8s.io/v1 SubjectAccessReview: spec in, status out. With no authorizer (RBAC
// off) everything is allowed, as kubesim then allows every request.
json reviewAccess(RbacAuthorizer* authorizer, const json& spec);

// authorization.k8s.io/v1 SelfSubjectRulesReview status: the rules `user` has in namespace `ns`
// (ClusterRoleBindings, plus RoleBindings of `ns`), as `kubectl auth can-i --list` shows them.
json rulesReview(const RbacPolicy& policy, const UserInfo& user, const std::string& ns);
json reviewRules(RbacAuthorizer* authorizer, const UserInfo& user, const std::string& ns);

}  // namespace kubesim
