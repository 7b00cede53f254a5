#include <catch2/catch.hpp>

#include "test/kubesim/impersonation.h"
#include "test/kubesim/rbac.h"

using namespace kubesim;

namespace {

UserInfo user(const std::string& name, std::vector<std::string> groups) {
  UserInfo u;
  u.name = name;
  u.groups = std::move(groups);
  return u;
}

ImpersonationHeaders as(const std::string& name, std::vector<std::string> groups = {}) {
  ImpersonationHeaders h;
  h.user = name;
  h.userSet = true;
  h.groups = std::move(groups);
  return h;
}

}  // namespace

TEST_CASE("impersonation: a service account is checked as the serviceaccounts object") {
  auto caller = user("alice", {"system:authenticated"});
  auto plan = planImpersonation(caller, as("system:serviceaccount:team:runner"));
  REQUIRE(plan.checks.size() == 1);
  const auto& c = plan.checks[0];
  CHECK(c.user.name == "alice");
  CHECK(c.verb == "impersonate");
  CHECK(c.apiGroup.empty());
  CHECK(c.resource == "serviceaccounts");
  CHECK(c.ns == "team");
  CHECK(c.name == "runner");
  // Its groups are the fixed mapping, plus system:authenticated.
  CHECK(plan.user.name == "system:serviceaccount:team:runner");
  CHECK(plan.user.groups == std::vector<std::string>{"system:serviceaccounts",
                                                     "system:serviceaccounts:team",
                                                     "system:authenticated"});
}

TEST_CASE("impersonation: users, groups, uid and extras each need their own permission") {
  auto caller = user("alice", {"system:authenticated"});
  auto h = as("bob", {"devs"});
  h.uid = "1234";
  h.uidSet = true;
  h.extra["scopes"] = {"read"};
  auto plan = planImpersonation(caller, h);
  REQUIRE(plan.checks.size() == 4);
  CHECK(plan.checks[0].resource == "users");
  CHECK(plan.checks[0].name == "bob");
  CHECK(plan.checks[0].ns.empty());
  CHECK(plan.checks[1].resource == "groups");
  CHECK(plan.checks[1].name == "devs");
  CHECK(plan.checks[2].apiGroup == "authentication.k8s.io");
  CHECK(plan.checks[2].resource == "userextras");
  CHECK(plan.checks[2].subresource == "scopes");
  CHECK(plan.checks[2].name == "read");
  CHECK(plan.checks[3].resource == "uids");
  CHECK(plan.checks[3].name == "1234");
  CHECK(plan.user.uid == "1234");
  CHECK(plan.user.extra.at("scopes") == std::vector<std::string>{"read"});
  // Asked-for groups replace the caller's; system:authenticated is added.
  CHECK(plan.user.groups == std::vector<std::string>{"devs", "system:authenticated"});
}

TEST_CASE("impersonation: the all-users groups and anonymous") {
  auto caller = user("admin", {"system:masters"});
  CHECK(planImpersonation(caller, as("bob", {"system:unauthenticated"})).user.groups ==
        std::vector<std::string>{"system:unauthenticated"});
  CHECK(planImpersonation(caller, as("bob", {"system:authenticated"})).user.groups ==
        std::vector<std::string>{"system:authenticated"});
  CHECK(planImpersonation(caller, as("system:anonymous")).user.groups ==
        std::vector<std::string>{"system:unauthenticated"});
  // A name that only looks like a service account is a user.
  auto odd = planImpersonation(caller, as("system:serviceaccount:team"));
  CHECK(odd.checks[0].resource == "users");
  CHECK(odd.user.groups == std::vector<std::string>{"system:authenticated"});
}

TEST_CASE("impersonation: groups without a user are a bad request") {
  ImpersonationHeaders h;
  h.groups = {"system:masters"};
  try {
    planImpersonation(user("alice", {}), h);
    FAIL("accepted groups without a user");
  } catch (const ApiException& e) {
    CHECK(e.code == 400);
    CHECK(std::string(e.what()).find("without impersonating a user") != std::string::npos);
  }
}

TEST_CASE("impersonation: the checks go through RBAC with kube-apiserver's denial") {
  RbacPolicy p;
  p.clusterRoles.push_back({{"metadata", {{"name", "sa-impersonator"}}},
                            {"rules",
                             {{{"apiGroups", {""}},
                               {"resources", {"serviceaccounts"}},
                               {"resourceNames", {"runner"}},
                               {"verbs", {"impersonate"}}}}}});
  p.roleBindings.push_back({{"metadata", {{"name", "x"}, {"namespace", "team"}}},
                            {"roleRef", {{"kind", "ClusterRole"}, {"name", "sa-impersonator"}}},
                            {"subjects", {{{"kind", "User"}, {"name", "alice"}}}}});
  auto alice = user("alice", {"system:authenticated"});
  auto ok = planImpersonation(alice, as("system:serviceaccount:team:runner"));
  CHECK(evaluateRbac(p, ok.checks[0]).allowed);
  auto other = planImpersonation(alice, as("system:serviceaccount:team:other"));
  CHECK_FALSE(evaluateRbac(p, other.checks[0]).allowed);
  auto bob = planImpersonation(alice, as("bob"));
  CHECK_FALSE(evaluateRbac(p, bob.checks[0]).allowed);
  CHECK(forbiddenMessage(bob.checks[0]) ==
        "users \"bob\" is forbidden: User \"alice\" cannot impersonate resource \"users\" in API "
        "group \"\" at the cluster scope");
  CHECK(forbiddenMessage(other.checks[0]) ==
        "serviceaccounts \"other\" is forbidden: User \"alice\" cannot impersonate resource "
        "\"serviceaccounts\" in API group \"\" in the namespace \"team\"");
}

TEST_CASE("impersonation: extra keys are percent-decoded and lower-cased") {
  CHECK(decodeExtraKey("Scopes") == "scopes");
  CHECK(decodeExtraKey("example.com%2Fteam") == "example.com/team");
  CHECK(decodeExtraKey("bad%zz") == "bad%zz");
  CHECK(decodeExtraKey("end%2") == "end%2");
}
