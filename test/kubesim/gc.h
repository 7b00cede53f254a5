#pragma once
// The garbage collector: dependents follow their owners through metadata.ownerReferences (by
// uid), with the Background, Foreground (foregroundDeletion finalizer, blockOwnerDeletion) and
// Orphan (orphan finalizer) propagation policies; dependents whose owners are all gone are
// deleted; a namespace being deleted is emptied and then released (the namespace controller).
// With a discovery delay, resources served after the start (new CRDs) are unknown to it for that
// long: their objects are not watched and owners of their kinds cannot be resolved, so their
// dependents are left alone; then it resyncs them (graph_builder's monitors after a discovery
// refresh).
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "test/kubesim/clock.h"
#include "test/kubesim/object_store.h"

namespace kubesim {

class GarbageCollector {
 public:
  GarbageCollector(ObjectStore& store, TaskRunner& runner,
                   std::chrono::milliseconds discoveryDelay = std::chrono::milliseconds(0));
  // Called on the store's dispatcher thread: updates the owner index and queues work.
  void onEvent(const StoreEvent& event);
  // Builds the index from everything stored (start, restart with --data-dir).
  void resync();

 private:
  struct ObjectRef {
    std::string resource, ns, name;
    auto operator<=>(const ObjectRef&) const = default;
  };
  void index(const std::string& resource, const json& object, bool present);
  void enqueueDependent(const ObjectRef& ref);
  void enqueueOwner(const ObjectRef& ref);
  void enqueueNamespace(const std::string& name);
  void processDependent(const ObjectRef& ref);
  void processOwner(const ObjectRef& ref);
  void processNamespace(const std::string& name);
  std::vector<ObjectRef> dependentsOf(const std::string& uid);
  // The served resource for an ownerReference (apiVersion + kind), and whether it is namespaced.
  std::optional<std::pair<std::string, bool>> resourceFor(const std::string& apiVersion,
                                                          const std::string& kind);
  // False for a resource the collector has not discovered yet (schedules the discovery).
  bool monitored(const std::string& resource);
  void discover();

  ObjectStore& store_;
  TaskRunner& runner_;
  std::mutex mu_;
  std::map<std::string, std::set<ObjectRef>> dependents_;      // owner uid -> dependents
  std::map<ObjectRef, std::vector<std::string>> owners_;       // dependent -> owner uids
  std::map<std::string, std::pair<std::string, bool>> kinds_;  // group/Kind -> resource, namespaced
  std::chrono::milliseconds discoveryDelay_;
  std::set<std::string> monitored_;  // with a delay: the resources discovered so far
};

}  // namespace kubesim
