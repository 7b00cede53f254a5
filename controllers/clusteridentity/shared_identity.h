#pragma once
// The IdentityProvider the ClusterIdentity reconciler feeds: a thread-safe cell holding the
// identity in effect. Readers (the FlowRun controller's workers) never block on the API server;
// they only take a short lock to copy a string.
#include <mutex>
#include <optional>
#include <string>

#include "controllers/clusteridentity/identity_provider.h"

namespace controllers::clusteridentity {

class SharedIdentity final : public IdentityProvider {
 public:
  std::optional<std::string> clusterUid() const override;
  // Sets the identity in effect; an empty uid is treated as clear() so that an empty cluster UID
  // can never be handed out.
  void set(const std::string& uid);
  void clear();

 private:
  mutable std::mutex mu_;
  std::string uid_;  // guarded by mu_; empty: not assigned
};

}  // namespace controllers::clusteridentity
