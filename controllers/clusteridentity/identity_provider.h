#pragma once
// How other controllers read the cluster identity without blocking: "not ready yet" is an answer.
#include <optional>
#include <string>

namespace controllers::clusteridentity {

class IdentityProvider {
 public:
  virtual ~IdentityProvider() = default;
  // The cluster UID once an identity is Ready; nullopt until then. Never returns an empty string.
  virtual std::optional<std::string> clusterUid() const = 0;
};

}  // namespace controllers::clusteridentity
