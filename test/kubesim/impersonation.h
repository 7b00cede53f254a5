#pragma once
// User impersonation as kube-apiserver does it (the Impersonate-User, Impersonate-Group,
// Impersonate-Uid and Impersonate-Extra-<key> headers that `kubectl --as`, `--as-group` and
// `--as-uid` send). The caller must be allowed the verb "impersonate" on users (or on the
// service account), groups, uids and userextras; the request then runs as the impersonated user.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "test/kubesim/object_store.h"

namespace kubesim {

struct ImpersonationHeaders {
  std::string user;
  bool userSet = false;
  std::vector<std::string> groups;
  std::string uid;
  bool uidSet = false;
  std::map<std::string, std::vector<std::string>> extra;  // key already percent-decoded
  bool any() const { return userSet || !groups.empty() || uidSet || !extra.empty(); }
};

// What impersonating needs: the checks the caller must pass, in the order kube-apiserver makes
// them, and the user the request then runs as.
struct ImpersonationPlan {
  std::vector<RequestAttributes> checks;  // verb "impersonate"
  UserInfo user;
};

// Throws ApiException 400 for groups, uid or extras without a user, as kube-apiserver does.
ImpersonationPlan planImpersonation(const UserInfo& caller, const ImpersonationHeaders& headers);

// "Impersonate-Extra-scopes%2Fread" header name suffix -> "scopes/read".
std::string decodeExtraKey(const std::string& headerSuffix);

}  // namespace kubesim
