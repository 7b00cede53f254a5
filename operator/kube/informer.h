#pragma once
// A shared informer: one list+watch per resource kind (per namespace in namespace-pool mode)
// feeding a Store and notifying handlers. Handlers run on the informer's thread and must be
// quick (they map an object to a work-queue key and return).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "operator/kube/backoff.h"
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
  // The members the transform reads, kept while list pages and watch events are decoded (the
  // rest is never built: json_decode.h). Null decodes whole objects.
  std::shared_ptr<const json> keep;
  // Label keys to index; Store::byIndex("label:<key>", value) then answers without a scan.
  std::vector<std::string> labelIndexes;
  Indexers indexers;  // further named indexes, for Store::byIndex(name, value)
  // Reconnect/retry delay after a failure (reset after progress). Capped and jittered.
  BackoffPolicy backoff{std::chrono::milliseconds(800), std::chrono::milliseconds(30000), 2.0, 0.2};
  // The cap while the resource itself is not served (404: its CRD is not installed yet, or was
  // deleted): such requests are cheap, and the CRD coming back must be noticed within seconds,
  // not after a back-off that grew to 30 s while it was gone.
  std::chrono::milliseconds missingResourceMaxDelay{std::chrono::seconds(4)};
  std::int64_t pageSize = 500;  // list page size (limit/continue)
  int watchTimeoutSeconds = 0;  // 0: a random 5-10 minutes per watch
  // Every period the informer relists (a full list diffed against the cache, as after a 410:
  // an event the watch lost shows up as a difference) and hands each cached object to the
  // handlers again as an update with old == new (client-go's resyncPeriod: a lost requeue is
  // recovered). 0 turns it off.
  std::chrono::milliseconds resyncPeriod{0};
  // Called after every change to the cache with its object count and packed bytes (for the
  // informer_cache_objects/_bytes gauges). On the informer's thread: must be quick.
  std::function<void(std::size_t objects, std::size_t packedBytes)> onCacheSize;
};

// Defined by the watcher/reflector implementation (operator/kube/informer.cpp).
std::unique_ptr<SharedInformer> makeInformer(Client& client, const ResourceType& type,
                                             InformerOptions options);

}  // namespace kube
