#include "controllers/clusteridentity/shared_identity.h"

namespace controllers::clusteridentity {

std::optional<std::string> SharedIdentity::clusterUid() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (uid_.empty()) return std::nullopt;
  return uid_;
}

void SharedIdentity::set(const std::string& uid) {
  std::lock_guard<std::mutex> lock(mu_);
  uid_ = uid;
}

void SharedIdentity::clear() {
  set("");
}

}  // namespace controllers::clusteridentity
