#pragma once
// The parts of a cluster besides the API server: garbage collector, Job controller, scheduler and
// kubelet (scenario-driven), RBAC authorization, ServiceAccount tokens and fault injection.
// The Simulator constructs one Cluster over its ObjectStore and plugs its Authenticator,
// Authorizer and FaultInjector into the HTTP layer. See docs/kubesim-cluster.md.
#include <memory>
#include <string>

#include "test/kubesim/object_store.h"

namespace kubesim {

struct ClusterOptions {
  double timeScale = 1.0;
  bool rbac = false;
  // Fault rules active from the start (same JSON as POST /kubesim/faults).
  json faultRules = json::array();
  std::uint64_t faultSeed = 1;  // fraction-based faults draw from this seed: reproducible runs
  // The garbage collector learns resources served after its start (new CRDs) only this long
  // (scenario seconds) after they appear, as a real one waits for its discovery refresh.
  double gcDiscoveryDelaySeconds = 0;
  // With a data dir, the issued tokens are kept in <dataDir>/tokens.json (mode 0600) and
  // reloaded, so that clients keep working across a kubesim restart.
  std::string dataDir;
};

class Cluster {
 public:
  Cluster(ObjectStore& store, ClusterOptions options);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  void start();
  void stop();

  // Tokens: "admin" (system:masters) is always known; ServiceAccount tokens are issued here.
  std::string tokenFor(const std::string& user);
  Authenticator& authenticator();
  Authorizer* authorizer();  // null unless rbac
  FaultInjector& faults();
  // The admin endpoint under /kubesim/ (faults, clock). Returns the response body, or throws
  // ApiException. method is GET, POST or DELETE; body is JSON or empty. `path` may carry the
  // /kubesim prefix or not.
  json admin(const std::string& method, const std::string& path, const json& body);
  // authorization.k8s.io/v1 SubjectAccessReview (and SelfSubjectAccessReview once the server has
  // filled spec.user/groups from the caller): takes the review's spec, returns its status
  // ({allowed, reason}). Everything is allowed when rbac is off.
  json reviewAccess(const json& spec);
  // SelfSubjectRulesReview status for `user` in namespace `ns` (kubectl auth can-i --list).
  json reviewRules(const UserInfo& user, const std::string& ns);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kubesim
