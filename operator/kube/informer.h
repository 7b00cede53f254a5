#pragma once
// A shared informer: one list+watch per resource kind (per namespace in namespace-pool mode)
// feeding a Store and notifying handlers. Handlers run on the informer's thread and must be
// quick (they map an object to a work-queue key and return).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "operator/kube/client.h"
#include "operator/kube/store.h"

namespace kube {

struct EventHandler {
  std::function<void(const ObjectPtr& obj)> onAdd;
  std::function<void(const ObjectPtr& oldObj, const ObjectPtr& newObj)> onUpdate;
  std::function<void(const ObjectPtr& obj)> onDelete;  // the last known state
};

class SharedInformer {
 public:
  virtual ~SharedInformer() = default;
  virtual const Store& store() const = 0;
  // Handlers added before start() see every object as an add once the initial list arrives.
  virtual void addEventHandler(EventHandler handler) = 0;
  virtual void start() = 0;  // non-blocking: runs on its own thread
  virtual void stop() = 0;   // idempotent; joins the thread
  virtual bool hasSynced() const = 0;
};

struct InformerOptions {
  std::vector<std::string> namespaces;  // empty: all namespaces (or cluster-scoped)
  std::string labelSelector;
  std::string fieldSelector;
  Transform transform;  // trims objects before they are stored; null keeps them whole
};

// Defined by the watcher/reflector implementation (operator/kube/informer.cpp).
std::unique_ptr<SharedInformer> makeInformer(Client& client, const ResourceType& type,
                                             InformerOptions options);

}  // namespace kube
