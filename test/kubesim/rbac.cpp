#include "test/kubesim/rbac.h"
#include "test/kubesim/cluster_json.h"

#include <algorithm>
#include <memory>

namespace kubesim {

namespace {

bool contains(const json& list, const std::string& value) {
  if (!list.is_array()) return false;
  for (const auto& v : list) {
    if (v.is_string() && v.get<std::string>() == value) return true;
  }
  return false;
}

bool containsOrStar(const json& list, const std::string& value) {
  return contains(list, "*") || contains(list, value);
}

bool inGroup(const UserInfo& user, const std::string& group) {
  return std::find(user.groups.begin(), user.groups.end(), group) != user.groups.end();
}

bool nonResourceMatches(const json& urls, const std::string& path) {
  if (!urls.is_array()) return false;
  for (const auto& u : urls) {
    if (!u.is_string()) continue;
    std::string s = u.get<std::string>();
    if (s == "*" || s == path) return true;
    if (!s.empty() && s.back() == '*' && path.rfind(s.substr(0, s.size() - 1), 0) == 0) return true;
  }
  return false;
}

// The bootstrap policy: rules every authenticated (or any) caller has in a real cluster.
bool bootstrapAllows(const RequestAttributes& r, std::string& reason) {
  if (inGroup(r.user, "system:masters")) {
    reason =
        "RBAC: allowed by ClusterRoleBinding \"cluster-admin\" of ClusterRole \"cluster-admin\" "
        "to Group \"system:masters\"";
    return true;
  }
  const bool authenticated = inGroup(r.user, "system:authenticated");
  if (!r.resourceRequest) {
    static const json publicInfo = {"/healthz", "/livez", "/readyz", "/version", "/version/"};
    static const json discovery = {"/api",     "/api/*",     "/apis",    "/apis/*",
                                   "/openapi", "/openapi/*", "/version", "/version/",
                                   "/healthz", "/livez",     "/readyz"};
    if (r.verb == "get" && nonResourceMatches(publicInfo, r.path)) {
      reason =
          "RBAC: allowed by ClusterRoleBinding \"system:public-info-viewer\" of ClusterRole "
          "\"system:public-info-viewer\" to Group \"system:authenticated\"";
      return true;
    }
    if (authenticated && r.verb == "get" && nonResourceMatches(discovery, r.path)) {
      reason =
          "RBAC: allowed by ClusterRoleBinding \"system:discovery\" of ClusterRole "
          "\"system:discovery\" to Group \"system:authenticated\"";
      return true;
    }
    return false;
  }
  if (authenticated && r.verb == "create" && r.apiGroup == "authorization.k8s.io" &&
      (r.resource == "selfsubjectaccessreviews" || r.resource == "selfsubjectrulesreviews")) {
    reason =
        "RBAC: allowed by ClusterRoleBinding \"system:basic-user\" of ClusterRole "
        "\"system:basic-user\" to Group \"system:authenticated\"";
    return true;
  }
  if (authenticated && r.verb == "create" && r.apiGroup == "authentication.k8s.io" &&
      r.resource == "selfsubjectreviews") {
    reason =
        "RBAC: allowed by ClusterRoleBinding \"system:basic-user\" of ClusterRole "
        "\"system:basic-user\" to Group \"system:authenticated\"";
    return true;
  }
  return false;
}

std::string describeSubject(const json& s, const std::string& bindingNs) {
  std::string kind = s.value("kind", "");
  if (kind == "ServiceAccount") {
    std::string ns = s.value("namespace", "");
    if (ns.empty()) ns = bindingNs;
    return "ServiceAccount \"" + s.value("name", "") + "/" + ns + "\"";
  }
  return kind + " \"" + s.value("name", "") + "\"";
}

const json* findByName(const std::vector<json>& objects, const std::string& name,
                       const std::string& ns = "") {
  for (const auto& o : objects) {
    const auto md = objectAt(o, "metadata");
    if (md.value("name", "") == name && (ns.empty() || md.value("namespace", "") == ns)) return &o;
  }
  return nullptr;
}

// cluster-admin exists in every cluster; kubesim answers for it when no object defines it.
const json& builtinClusterAdmin() {
  static const json role = {
      {"metadata", {{"name", "cluster-admin"}}},
      {"rules", json::array({{{"apiGroups", {"*"}}, {"resources", {"*"}}, {"verbs", {"*"}}},
                             {{"nonResourceURLs", {"*"}}, {"verbs", {"*"}}}})}};
  return role;
}

}  // namespace

bool ruleAllows(const json& rule, const RequestAttributes& r) {
  if (!containsOrStar(arrayAt(rule, "verbs"), r.verb)) return false;
  if (!r.resourceRequest) {
    return nonResourceMatches(arrayAt(rule, "nonResourceURLs"), r.path);
  }
  if (!containsOrStar(arrayAt(rule, "apiGroups"), r.apiGroup)) return false;
  const json resources = arrayAt(rule, "resources");
  const std::string combined =
      r.subresource.empty() ? r.resource : r.resource + "/" + r.subresource;
  bool resourceOk = contains(resources, "*") || contains(resources, combined) ||
                    (!r.subresource.empty() && contains(resources, "*/" + r.subresource));
  if (!resourceOk) return false;
  const json names = arrayAt(rule, "resourceNames");
  if (names.is_array() && !names.empty()) return contains(names, r.name);
  return true;
}

bool subjectMatches(const json& s, const UserInfo& user, const std::string& bindingNs) {
  const std::string kind = s.value("kind", "");
  const std::string name = s.value("name", "");
  if (kind == "User") return user.name == name;
  if (kind == "Group") return inGroup(user, name);
  if (kind == "ServiceAccount") {
    std::string ns = s.value("namespace", "");
    if (ns.empty()) ns = bindingNs;
    return user.name == "system:serviceaccount:" + ns + ":" + name;
  }
  return false;
}

RbacDecision evaluateRbac(const RbacPolicy& p, const RequestAttributes& r) {
  RbacDecision d;
  if (bootstrapAllows(r, d.reason)) {
    d.allowed = true;
    return d;
  }
  std::vector<std::string> errors;
  auto rulesOf = [&](const json& roleRef, const std::string& bindingNs) -> const json* {
    const std::string kind = roleRef.value("kind", "");
    const std::string name = roleRef.value("name", "");
    const json* role = nullptr;
    if (kind == "ClusterRole") {
      role = findByName(p.clusterRoles, name);
      if (!role && name == "cluster-admin") role = &builtinClusterAdmin();
      if (!role)
        errors.push_back("clusterrole.rbac.authorization.k8s.io \"" + name + "\" not found");
    } else if (kind == "Role") {
      role = findByName(p.roles, name, bindingNs);
      if (!role) errors.push_back("role.rbac.authorization.k8s.io \"" + name + "\" not found");
    }
    return role;
  };
  auto tryBinding = [&](const json& b, const std::string& bindingKind) {
    const auto md = objectAt(b, "metadata");
    const std::string bns = md.value("namespace", "");
    std::optional<json> matched;
    for (const auto& s : arrayAt(b, "subjects")) {
      if (subjectMatches(s, r.user, bns)) {
        matched = s;
        break;
      }
    }
    if (!matched) return false;
    const json roleRef = objectAt(b, "roleRef");
    const json* role = rulesOf(roleRef, bns);
    if (!role) return false;
    for (const auto& rule : arrayAt(*role, "rules")) {
      if (ruleAllows(rule, r)) {
        std::string bindingName = md.value("name", "");
        if (!bns.empty()) bindingName += "/" + bns;
        d.reason = "RBAC: allowed by " + bindingKind + " \"" + bindingName + "\" of " +
                   roleRef.value("kind", "") + " \"" + roleRef.value("name", "") + "\" to " +
                   describeSubject(*matched, bns);
        return true;
      }
    }
    return false;
  };
  for (const auto& b : p.clusterRoleBindings) {
    if (tryBinding(b, "ClusterRoleBinding")) {
      d.allowed = true;
      return d;
    }
  }
  if (r.resourceRequest && !r.ns.empty()) {
    for (const auto& b : p.roleBindings) {
      if (b["metadata"].value("namespace", "") != r.ns) continue;
      if (tryBinding(b, "RoleBinding")) {
        d.allowed = true;
        return d;
      }
    }
  }
  if (!errors.empty()) {
    std::string joined;
    for (const auto& e : errors) joined += (joined.empty() ? "" : ", ") + e;
    d.reason = "RBAC: " + joined;
  }
  return d;
}

std::string forbiddenMessage(const RequestAttributes& r, const std::string& reason) {
  std::string msg;
  if (!r.resourceRequest) {
    msg = "forbidden: User \"" + r.user.name + "\" cannot " + r.verb + " path \"" + r.path + "\"";
  } else {
    std::string resource = r.resource;
    if (!r.subresource.empty()) resource += "/" + r.subresource;
    std::string detail = "User \"" + r.user.name + "\" cannot " + r.verb + " resource \"" +
                         resource + "\" in API group \"" + r.apiGroup + "\"";
    detail += r.ns.empty() ? " at the cluster scope" : " in the namespace \"" + r.ns + "\"";
    std::string qualified = r.apiGroup.empty() ? r.resource : r.resource + "." + r.apiGroup;
    msg = r.name.empty() ? qualified + " is forbidden: " + detail
                         : qualified + " \"" + r.name + "\" is forbidden: " + detail;
  }
  if (!reason.empty()) msg += ": " + reason;
  return msg;
}

json rulesReview(const RbacPolicy& p, const UserInfo& user, const std::string& ns) {
  json resourceRules = json::array(), nonResourceRules = json::array();
  std::vector<std::string> errors;
  auto add = [&](const json& rule) {
    json verbs = arrayAt(rule, "verbs");
    if (rule.contains("nonResourceURLs")) {
      nonResourceRules.push_back({{"verbs", verbs}, {"nonResourceURLs", rule["nonResourceURLs"]}});
      return;
    }
    json out = {{"verbs", verbs},
                {"apiGroups", arrayAt(rule, "apiGroups")},
                {"resources", arrayAt(rule, "resources")}};
    if (!arrayAt(rule, "resourceNames").empty()) out["resourceNames"] = rule["resourceNames"];
    resourceRules.push_back(out);
  };
  if (inGroup(user, "system:masters")) {
    for (const auto& rule : builtinClusterAdmin()["rules"]) add(rule);
  } else if (inGroup(user, "system:authenticated")) {
    // The bootstrap roles every authenticated user is bound to.
    add({{"verbs", {"create"}},
         {"apiGroups", {"authorization.k8s.io"}},
         {"resources", {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}}});
    add({{"verbs", {"create"}},
         {"apiGroups", {"authentication.k8s.io"}},
         {"resources", {"selfsubjectreviews"}}});
    add({{"verbs", {"get"}},
         {"nonResourceURLs",
          {"/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*",
           "/readyz", "/version", "/version/"}}});
  }
  auto fromBinding = [&](const json& b, bool clusterBinding) {
    const auto md = objectAt(b, "metadata");
    const std::string bns = md.value("namespace", "");
    if (!clusterBinding && bns != ns) return;
    bool matched = false;
    for (const auto& s : arrayAt(b, "subjects")) matched = matched || subjectMatches(s, user, bns);
    if (!matched) return;
    const json roleRef = objectAt(b, "roleRef");
    const std::string kind = roleRef.value("kind", ""), name = roleRef.value("name", "");
    const json* role = nullptr;
    if (kind == "ClusterRole") {
      role = findByName(p.clusterRoles, name);
      if (!role && name == "cluster-admin") role = &builtinClusterAdmin();
    } else if (kind == "Role") {
      role = findByName(p.roles, name, bns);
    }
    if (!role) {
      errors.push_back((kind == "Role" ? "role" : "clusterrole") +
                       std::string(".rbac.authorization.k8s.io \"") + name + "\" not found");
      return;
    }
    for (const auto& rule : arrayAt(*role, "rules")) {
      // A RoleBinding grants only resource rules, inside its namespace.
      if (!clusterBinding && rule.contains("nonResourceURLs")) continue;
      add(rule);
    }
  };
  for (const auto& b : p.clusterRoleBindings) fromBinding(b, true);
  if (!ns.empty()) {
    for (const auto& b : p.roleBindings) fromBinding(b, false);
  }
  json status = {{"resourceRules", resourceRules},
                 {"nonResourceRules", nonResourceRules},
                 {"incomplete", !errors.empty()}};
  if (!errors.empty()) {
    std::string joined;
    for (const auto& e : errors) joined += (joined.empty() ? "" : ", ") + e;
    status["evaluationError"] = joined;
  }
  return status;
}

RbacPolicy RbacAuthorizer::policyFor(const UserInfo& user) {
  RbacPolicy p;
  auto load = [&](const std::string& resource, std::vector<json>& into) {
    try {
      into = store_.list(resource, "");
    } catch (const std::exception&) {
      into.clear();
    }
  };
  if (!inGroup(user, "system:masters")) {
    load("roles.rbac.authorization.k8s.io", p.roles);
    load("clusterroles.rbac.authorization.k8s.io", p.clusterRoles);
    load("rolebindings.rbac.authorization.k8s.io", p.roleBindings);
    load("clusterrolebindings.rbac.authorization.k8s.io", p.clusterRoleBindings);
  }
  return p;
}

json reviewRules(RbacAuthorizer* authorizer, const UserInfo& user, const std::string& ns) {
  if (!authorizer) {
    // No authorizer: every request is allowed, which a rules review says as one wildcard rule.
    return {{"resourceRules",
             json::array({{{"verbs", {"*"}}, {"apiGroups", {"*"}}, {"resources", {"*"}}}})},
            {"nonResourceRules", json::array({{{"verbs", {"*"}}, {"nonResourceURLs", {"*"}}}})},
            {"incomplete", false}};
  }
  return rulesReview(authorizer->policyFor(user), user, ns);
}

RbacDecision RbacAuthorizer::decide(const RequestAttributes& request) {
  return evaluateRbac(policyFor(request.user), request);
}

std::function<bool(const RequestAttributes&)> RbacAuthorizer::snapshotFor(const UserInfo& user) {
  auto policy = std::make_shared<const RbacPolicy>(policyFor(user));
  return [policy](const RequestAttributes& r) { return evaluateRbac(*policy, r).allowed; };
}

std::optional<std::string> RbacAuthorizer::deny(const RequestAttributes& request) {
  auto d = decide(request);
  if (d.allowed) return std::nullopt;
  return forbiddenMessage(request, d.reason);
}

json reviewAccess(RbacAuthorizer* authorizer, const json& spec) {
  RequestAttributes r;
  r.user.name = spec.value("user", "");
  for (const auto& g : arrayAt(spec, "groups")) {
    if (g.is_string()) r.user.groups.push_back(g.get<std::string>());
  }
  if (spec.contains("resourceAttributes") && spec["resourceAttributes"].is_object()) {
    const auto& a = spec["resourceAttributes"];
    r.resourceRequest = true;
    r.verb = a.value("verb", "");
    r.apiGroup = a.value("group", "");
    r.apiVersion = a.value("version", "");
    r.resource = a.value("resource", "");
    r.subresource = a.value("subresource", "");
    r.ns = a.value("namespace", "");
    r.name = a.value("name", "");
  } else if (spec.contains("nonResourceAttributes") && spec["nonResourceAttributes"].is_object()) {
    const auto& a = spec["nonResourceAttributes"];
    r.resourceRequest = false;
    r.verb = a.value("verb", "");
    r.path = a.value("path", "");
  }
  if (!authorizer) return {{"allowed", true}};
  auto d = authorizer->decide(r);
  json status = {{"allowed", d.allowed}};
  if (!d.reason.empty()) status["reason"] = d.reason;
  return status;
}

}  // namespace kubesim
