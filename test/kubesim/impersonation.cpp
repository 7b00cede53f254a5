#include "test/kubesim/impersonation.h"

#include <cctype>

namespace kubesim {

namespace {

const std::string kServiceAccountPrefix = "system:serviceaccount:";

RequestAttributes impersonateCheck(const UserInfo& caller, std::string apiGroup,
                                   std::string resource, std::string name, std::string ns = "",
                                   std::string subresource = "") {
  RequestAttributes a;
  a.user = caller;
  a.resourceRequest = true;
  a.verb = "impersonate";
  a.apiGroup = std::move(apiGroup);
  a.apiVersion = "v1";
  a.resource = std::move(resource);
  a.subresource = std::move(subresource);
  a.name = std::move(name);
  a.ns = std::move(ns);
  return a;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string decodeExtraKey(const std::string& s) {
  // Header names are case-insensitive, so kube-apiserver lowercases the key before unescaping.
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      int hi = hexValue(s[i + 1]), lo = hexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
        continue;
      }
    }
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i])));
  }
  return out;
}

ImpersonationPlan planImpersonation(const UserInfo& caller, const ImpersonationHeaders& h) {
  if (!h.userSet || h.user.empty()) {
    std::string what;
    if (!h.groups.empty()) what = "groups";
    if (h.uidSet) what += std::string(what.empty() ? "" : ", ") + "uid";
    if (!h.extra.empty()) what += std::string(what.empty() ? "" : ", ") + "user extras";
    throw ApiException(400, "BadRequest",
                       "requested impersonation of " + what + " without impersonating a user " +
                           "(set the Impersonate-User header, kubectl --as)");
  }
  ImpersonationPlan plan;
  UserInfo& u = plan.user;
  u.name = h.user;
  // The user first: a service account is checked as the serviceaccounts object it names.
  bool serviceAccount = false;
  std::string saNamespace;
  if (h.user.rfind(kServiceAccountPrefix, 0) == 0) {
    auto rest = h.user.substr(kServiceAccountPrefix.size());
    auto colon = rest.find(':');
    if (colon != std::string::npos && colon > 0 && colon + 1 < rest.size() &&
        rest.find(':', colon + 1) == std::string::npos) {
      serviceAccount = true;
      saNamespace = rest.substr(0, colon);
      plan.checks.push_back(
          impersonateCheck(caller, "", "serviceaccounts", rest.substr(colon + 1), saNamespace));
    }
  }
  if (!serviceAccount) plan.checks.push_back(impersonateCheck(caller, "", "users", h.user));
  for (const auto& g : h.groups) plan.checks.push_back(impersonateCheck(caller, "", "groups", g));
  for (const auto& [key, values] : h.extra) {
    for (const auto& v : values) {
      plan.checks.push_back(
          impersonateCheck(caller, "authentication.k8s.io", "userextras", v, "", key));
    }
  }
  if (h.uidSet) {
    plan.checks.push_back(impersonateCheck(caller, "authentication.k8s.io", "uids", h.uid));
    u.uid = h.uid;
  }
  u.groups = h.groups;
  if (serviceAccount && h.groups.empty()) {
    // The groups of a service account are a fixed mapping.
    u.groups = {"system:serviceaccounts", "system:serviceaccounts:" + saNamespace};
  }
  u.extra = h.extra;
  if (u.name == "system:anonymous") {
    bool has = false;
    for (const auto& g : u.groups) has = has || g == "system:unauthenticated";
    if (!has) u.groups.push_back("system:unauthenticated");
  } else {
    // As kube-apiserver: system:authenticated is added unless either of the two all-users
    // groups was asked for.
    bool add = true;
    for (const auto& g : u.groups) {
      if (g == "system:authenticated" || g == "system:unauthenticated") add = false;
    }
    if (add) u.groups.push_back("system:authenticated");
  }
  return plan;
}

}  // namespace kubesim
