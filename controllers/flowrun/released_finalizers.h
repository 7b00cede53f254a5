#pragma once
// The outcome finalizers this operator removed, by object uid and the resourceVersion the
// removal was made from. Until the cache shows the object at a newer version, it still lists the
// finalizer; a reconcile triggered meanwhile (by the Job's update when only the pod's is cached,
// or the other way round) would send the removal again and get a 422 from its test. The memory
// is bounded: past kMax entries it starts over (the cost of forgetting is one such 422).
#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace controllers::flowrun {

class ReleasedFinalizers {
 public:
  static constexpr std::size_t kMax = 4096;

  // True when the removal was already made from this version of the object.
  bool alreadyReleased(const std::string& uid, const std::string& resourceVersion) const {
    std::lock_guard lock(mu_);
    auto it = released_.find(uid);
    return it != released_.end() && it->second == resourceVersion;
  }
  void released(const std::string& uid, const std::string& resourceVersion) {
    std::lock_guard lock(mu_);
    if (released_.size() >= kMax) released_.clear();
    released_[uid] = resourceVersion;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::string> released_;
};

}  // namespace controllers::flowrun
