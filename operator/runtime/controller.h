#pragma once
// A controller joins watches (informers) to a Reconciler through a WorkQueue of keys.
// Level-based: event handlers only turn objects into keys; the reconciler reads current state.
//
//   runtime::Controller c("flowrun", reconciler, {.maxConcurrentReconciles = 4});
//   c.forKind(kube::resources::FlowRuns, flowRunInformer);   // object -> its own key
//   c.owns(jobInformer);                                     // Job -> its controller FlowRun
//   c.watches(podInformer, [](const kube::json& pod) { ... return keys; });
//   if (auto err = c.start()) { ... }  // waits for every informer's hasSynced, starts workers
//   ...
//   c.stop(std::chrono::seconds(30));  // in-flight reconciles finish within the bound
//
// Informers are shared and owned by the caller, who starts them; handlers are registered by
// forKind/owns/watches, so call those before the informers start.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "operator/kube/informer.h"
#include "operator/kube/resource.h"
#include "operator/runtime/logging.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/rate_limiter.h"
#include "operator/runtime/reconciler.h"
#include "operator/runtime/work_queue.h"

namespace runtime {

// Maps a watched object to the keys of the objects to reconcile (may be empty).
using MapFunc = std::function<std::vector<ObjectKey>(const kube::json& object)>;

struct ControllerOptions {
  int maxConcurrentReconciles = 1;
  std::unique_ptr<RateLimiter> rateLimiter;  // null: defaultControllerRateLimiter()
  MetricsRegistry* metrics = nullptr;        // null: MetricsRegistry::global()
  std::optional<Logger> logger;              // null: runtime::logger()
};

class Controller {
 public:
  Controller(std::string name, Reconciler& reconciler, ControllerOptions options = {});
  ~Controller();  // stop(0) if still running
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // The primary kind: every object maps to its own key. Also sets the kind that owns() matches.
  Controller& forKind(const kube::ResourceType& type, kube::SharedInformer& informer);
  // Owned kinds: an object maps to the owner named by its controller ownerReference when that
  // reference's kind and API group match the primary kind (any version). Call forKind first.
  Controller& owns(kube::SharedInformer& informer);
  // Anything else: mapFn decides (e.g. pods -> their FlowRun through a label). On updates both
  // the old and the new object are mapped, so a key that stops matching is reconciled once more.
  Controller& watches(kube::SharedInformer& informer, MapFunc mapFn);

  // Waits (up to cacheSyncTimeout, or until stop()) for every watched informer to report
  // hasSynced, then starts the workers. Returns an error message on timeout or when stopped.
  std::optional<std::string> start(
      std::chrono::milliseconds cacheSyncTimeout = std::chrono::minutes(2));
  // Stops intake (the queue shuts down), lets in-flight reconciles finish within `bound`, joins
  // the workers. Returns false when a reconcile was still running at the bound; its thread is
  // then detached and the caller is expected to exit the process. Idempotent.
  bool stop(std::chrono::milliseconds bound = std::chrono::seconds(30));

  // Enqueues a key directly (e.g. from a periodic resync or another controller).
  void enqueue(const ObjectKey& key);

  const std::string& name() const { return name_; }
  bool started() const { return started_; }
  // True once every watched informer has synced (usable for /readyz).
  bool hasSynced() const;
  WorkQueue& queue();
  int activeWorkers() const;

  // The owner key of `object` for the given owner kind, if its controller ownerReference
  // matches (group/kind). Exposed for tests and for custom MapFuncs.
  static std::optional<ObjectKey> controllerOwnerKey(const kube::json& object,
                                                     const kube::ResourceType& ownerType);

 private:
  struct Core;  // what the workers touch; shared so a worker detached by stop() stays valid
  void addHandler(kube::SharedInformer& informer, MapFunc mapFn);

  const std::string name_;
  std::shared_ptr<Core> core_;
  int workersWanted_ = 1;
  std::optional<kube::ResourceType> primary_;
  std::vector<kube::SharedInformer*> informers_;

  std::mutex mu_;
  std::condition_variable cv_;  // wakes start() when stop() is called
  bool stopping_ = false;
  bool stopped_ = false;
  std::atomic<bool> started_{false};
  std::vector<std::thread> threads_;
};

}  // namespace runtime
