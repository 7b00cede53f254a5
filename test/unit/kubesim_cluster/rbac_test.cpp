#include <catch2/catch.hpp>

#include "test/kubesim/rbac.h"

using namespace kubesim;

namespace {

UserInfo sa(const std::string& ns, const std::string& name) {
  return {"system:serviceaccount:" + ns + ":" + name,
          {"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
          {},
          {}};
}

RequestAttributes req(const UserInfo& user, const std::string& verb, const std::string& group,
                      const std::string& resource, const std::string& ns,
                      const std::string& name = "", const std::string& sub = "") {
  RequestAttributes r;
  r.user = user;
  r.verb = verb;
  r.apiGroup = group;
  r.resource = resource;
  r.ns = ns;
  r.name = name;
  r.subresource = sub;
  return r;
}

RbacPolicy operatorPolicy() {
  RbacPolicy p;
  p.roles.push_back({{"metadata", {{"name", "runner"}, {"namespace", "data"}}},
                     {"rules",
                      {{{"apiGroups", {"batch"}},
                        {"resources", {"jobs", "jobs/status"}},
                        {"verbs", {"get", "list", "watch", "create"}}},
                       {{"apiGroups", {""}},
                        {"resources", {"configmaps"}},
                        {"resourceNames", {"only-this"}},
                        {"verbs", {"get"}}}}}});
  p.roleBindings.push_back(
      {{"metadata", {{"name", "runner"}, {"namespace", "data"}}},
       {"roleRef",
        {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", "Role"}, {"name", "runner"}}},
       {"subjects", {{{"kind", "ServiceAccount"}, {"name", "op"}, {"namespace", "ops"}}}}});
  p.clusterRoles.push_back(
      {{"metadata", {{"name", "flowruns"}}},
       {"rules", {{{"apiGroups", {"prefect.io"}}, {"resources", {"*"}}, {"verbs", {"*"}}}}}});
  p.clusterRoleBindings.push_back(
      {{"metadata", {{"name", "flowruns"}}},
       {"roleRef", {{"kind", "ClusterRole"}, {"name", "flowruns"}}},
       {"subjects", {{{"kind", "Group"}, {"name", "system:serviceaccounts:ops"}}}}});
  return p;
}

}  // namespace

TEST_CASE("rbac: a RoleBinding grants its Role's rules only in its namespace") {
  auto p = operatorPolicy();
  auto op = sa("ops", "op");
  auto d = evaluateRbac(p, req(op, "get", "batch", "jobs", "data", "x"));
  CHECK(d.allowed);
  CHECK(d.reason ==
        "RBAC: allowed by RoleBinding \"runner/data\" of Role \"runner\" to ServiceAccount "
        "\"op/ops\"");
  CHECK_FALSE(evaluateRbac(p, req(op, "get", "batch", "jobs", "other", "x")).allowed);
  CHECK_FALSE(evaluateRbac(p, req(op, "delete", "batch", "jobs", "data", "x")).allowed);
  CHECK_FALSE(evaluateRbac(p, req(op, "get", "batch", "jobs", "", "")).allowed);
  CHECK_FALSE(evaluateRbac(p, req(sa("ops", "other"), "get", "batch", "jobs", "data")).allowed);
}

TEST_CASE("rbac: subresources, resourceNames, wildcards and groups") {
  auto p = operatorPolicy();
  auto op = sa("ops", "op");
  CHECK(evaluateRbac(p, req(op, "get", "batch", "jobs", "data", "x", "status")).allowed);
  CHECK_FALSE(evaluateRbac(p, req(op, "get", "", "pods", "data", "x", "log")).allowed);
  CHECK(evaluateRbac(p, req(op, "get", "", "configmaps", "data", "only-this")).allowed);
  CHECK_FALSE(evaluateRbac(p, req(op, "get", "", "configmaps", "data", "another")).allowed);
  CHECK(evaluateRbac(p, req(op, "patch", "prefect.io", "flowruns", "any", "f", "status")).allowed);
  CHECK(evaluateRbac(p, req(op, "deletecollection", "prefect.io", "flowruns", "")).allowed);

  json rule = {{"apiGroups", {""}}, {"resources", {"*/log"}}, {"verbs", {"get"}}};
  CHECK(ruleAllows(rule, req(op, "get", "", "pods", "data", "p", "log")));
  CHECK_FALSE(ruleAllows(rule, req(op, "get", "", "pods", "data", "p")));
}

TEST_CASE("rbac: bootstrap policy: masters, discovery, self access reviews") {
  RbacPolicy p;
  UserInfo admin{"admin", {"system:masters", "system:authenticated"}, {}, {}};
  CHECK(evaluateRbac(p, req(admin, "delete", "", "namespaces", "", "kube-system")).allowed);
  auto op = sa("ops", "op");
  RequestAttributes discovery;
  discovery.user = op;
  discovery.resourceRequest = false;
  discovery.verb = "get";
  discovery.path = "/apis/batch/v1";
  CHECK(evaluateRbac(p, discovery).allowed);
  discovery.path = "/metrics";
  CHECK_FALSE(evaluateRbac(p, discovery).allowed);
  CHECK(forbiddenMessage(discovery) ==
        "forbidden: User \"system:serviceaccount:ops:op\" cannot get path \"/metrics\"");
  CHECK(evaluateRbac(p, req(op, "create", "authorization.k8s.io", "selfsubjectaccessreviews", ""))
            .allowed);
}

TEST_CASE("rbac: Forbidden messages are worded as kube-apiserver words them") {
  auto op = sa("ns", "sa");
  CHECK(forbiddenMessage(req(op, "get", "batch", "jobs", "ns", "x")) ==
        "jobs.batch \"x\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot get resource "
        "\"jobs\" in API group \"batch\" in the namespace \"ns\"");
  CHECK(forbiddenMessage(req(op, "list", "batch", "jobs", "ns")) ==
        "jobs.batch is forbidden: User \"system:serviceaccount:ns:sa\" cannot list resource "
        "\"jobs\" in API group \"batch\" in the namespace \"ns\"");
  CHECK(forbiddenMessage(req(op, "get", "", "namespaces", "", "kube-system")) ==
        "namespaces \"kube-system\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot get "
        "resource \"namespaces\" in API group \"\" at the cluster scope");
  CHECK(forbiddenMessage(req(op, "get", "", "pods", "ns", "p", "log")) ==
        "pods \"p\" is forbidden: User \"system:serviceaccount:ns:sa\" cannot get resource "
        "\"pods/log\" in API group \"\" in the namespace \"ns\"");
}

TEST_CASE("rbac: a binding to a missing role says so in the denial") {
  RbacPolicy p;
  p.roleBindings.push_back({{"metadata", {{"name", "b"}, {"namespace", "ns"}}},
                            {"roleRef", {{"kind", "Role"}, {"name", "missing"}}},
                            {"subjects", {{{"kind", "User"}, {"name", "alice"}}}}});
  UserInfo alice{"alice", {"system:authenticated"}, {}, {}};
  auto d = evaluateRbac(p, req(alice, "get", "", "pods", "ns", "p"));
  CHECK_FALSE(d.allowed);
  CHECK(d.reason == "RBAC: role.rbac.authorization.k8s.io \"missing\" not found");
}

TEST_CASE("rbac: SubjectAccessReview spec in, status out, everything allowed without RBAC") {
  json spec = {
      {"user", "system:serviceaccount:ns:sa"},
      {"resourceAttributes", {{"verb", "get"}, {"resource", "pods"}, {"namespace", "ns"}}}};
  CHECK(reviewAccess(nullptr, spec)["allowed"] == true);
}

TEST_CASE("rbac: a rules review lists what kubectl auth can-i --list shows") {
  auto p = operatorPolicy();
  auto op = sa("ops", "op");
  json inData = rulesReview(p, op, "data");
  CHECK(inData["incomplete"] == false);
  // Bootstrap (3 self reviews in 2 rules), the ClusterRole through the group, the Role.
  json resources = json::array();
  for (const auto& r : inData["resourceRules"]) resources.push_back(r["resources"]);
  CHECK(resources == json{{"selfsubjectaccessreviews", "selfsubjectrulesreviews"},
                          {"selfsubjectreviews"},
                          {"*"},
                          {"jobs", "jobs/status"},
                          {"configmaps"}});
  CHECK(inData["resourceRules"][4]["resourceNames"] == json{"only-this"});
  CHECK(inData["nonResourceRules"].size() == 1);
  // The Role applies only in its namespace.
  CHECK(rulesReview(p, op, "elsewhere")["resourceRules"].size() == 3);
  // A binding to a missing role makes the review incomplete, saying which.
  p.roleBindings.push_back(
      {{"metadata", {{"name", "broken"}, {"namespace", "data"}}},
       {"roleRef", {{"kind", "Role"}, {"name", "gone"}}},
       {"subjects", {{{"kind", "ServiceAccount"}, {"name", "op"}, {"namespace", "ops"}}}}});
  json broken = rulesReview(p, op, "data");
  CHECK(broken["incomplete"] == true);
  CHECK(broken["evaluationError"] == "role.rbac.authorization.k8s.io \"gone\" not found");
  // Without an authorizer everything is allowed, said as one wildcard rule.
  json all = reviewRules(nullptr, op, "data");
  CHECK(all["resourceRules"] ==
        json{{{"verbs", {"*"}}, {"apiGroups", {"*"}}, {"resources", {"*"}}}});
}
