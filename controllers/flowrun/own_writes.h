#pragma once
// The FlowRuns this controller wrote, as the API server returned them, until the informer's cache
// has caught up. A reconcile triggered by our own Job or pod event can run before the watch
// delivers our last status write; deciding on the cached (older) FlowRun then writes with a stale
// resourceVersion and gets 409. With this overlay it decides on what our own write returned.
// resourceVersions are compared for equality only (they are opaque).
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "operator/kube/store.h"

namespace controllers::flowrun {

class OwnWrites {
 public:
  // The freshest FlowRun for key: ours when the cache still holds a version from before (or
  // between) our writes, else the cached one (caught up, or someone else wrote since: the entry
  // is dropped). A null cached object (deleted) drops the entry too.
  kube::ObjectPtr freshest(const std::string& key, kube::ObjectPtr cached);
  // After a successful write of `written`, which was based on resourceVersion basedOn.
  void wrote(const std::string& key, const std::string& basedOn, kube::ObjectPtr written);
  // After a 409: someone else wrote; the cache is the way to learn what.
  void forget(const std::string& key);
  std::size_t size() const;

 private:
  struct Entry {
    kube::ObjectPtr object;          // what our last write returned
    std::vector<std::string> older;  // versions that mean the cache is behind it
  };
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace controllers::flowrun
