#include "operator/runtime/controller.h"

#include <algorithm>
#include <exception>

namespace runtime {

namespace {

std::string groupOf(const std::string& apiVersion) {
  auto slash = apiVersion.find('/');
  return slash == std::string::npos ? std::string() : apiVersion.substr(0, slash);
}

std::string str(const kube::json& obj, const char* a, const char* b) {
  if (!obj.is_object()) return {};
  auto it = obj.find(a);
  if (it == obj.end() || !it->is_object()) return {};
  auto jt = it->find(b);
  if (jt == it->end() || !jt->is_string()) return {};
  return jt->get<std::string>();
}

std::optional<ObjectKey> ownKey(const kube::json& obj) {
  auto name = str(obj, "metadata", "name");
  if (name.empty()) return std::nullopt;
  return ObjectKey{str(obj, "metadata", "namespace"), name};
}

// controller-runtime's buckets for reconcile time: 5 ms .. 60 s.
const std::vector<double>& reconcileBuckets() {
  static const std::vector<double> b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3,  0.35,
                                        0.4,   0.45, 0.5,   0.6,  0.7, 0.8,  0.9, 1.0,  1.25, 1.5,
                                        1.75,  2.0,  2.5,   3.0,  3.5, 4.0,  4.5, 5,    6,    7,
                                        8,     9,    10,    15,   20,  25,   30,  40,   50,   60};
  return b;
}

}  // namespace

struct Controller::Core {
  std::string name;
  Reconciler* reconciler;
  Logger log;
  std::shared_ptr<WorkQueue> queue;

  std::mutex mu;
  std::condition_variable idleCv;
  int running = 0;
  std::atomic<int> active{0};

  Counter* success;
  Counter* error;
  Counter* requeue;
  Counter* requeueAfter;
  Counter* errors;
  Counter* terminalErrors;
  Histogram* reconcileTime;
  Gauge* activeWorkers;

  void process(const std::string& key);
};

void Controller::Core::process(const std::string& key) {
  activeWorkers->set(++active);
  auto t0 = Clock::now();
  ReconcileOutcome out;
  try {
    out = reconciler->reconcile(ObjectKey::parse(key));
  } catch (const std::exception& e) {
    // The contract says reconcilers do not throw; one that does has a bug. Retrying with
    // backoff keeps the operator alive and the object eventually reconciled.
    out = ReconcileOutcome::retry(std::string("reconciler threw an exception: ") + e.what());
  } catch (...) {
    out = ReconcileOutcome::retry("reconciler threw a non-standard exception");
  }
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  reconcileTime->observe(seconds);
  activeWorkers->set(--active);

  switch (out.kind) {
    case ReconcileOutcome::Kind::Done:
      queue->forget(key);
      success->inc();
      log.debug("Reconciled", {{"object", key}, {"seconds", seconds}});
      break;
    case ReconcileOutcome::Kind::RequeueAfter:
      if (out.requeueAfter > std::chrono::milliseconds::zero()) {
        queue->forget(key);
        queue->addAfter(key, out.requeueAfter);
        requeueAfter->inc();
      } else {
        // A requeue with no delay is controller-runtime's Requeue: true: rate limited, so a
        // reconciler that always asks for it cannot spin.
        queue->addRateLimited(key);
        requeue->inc();
      }
      break;
    case ReconcileOutcome::Kind::Error:
      error->inc();
      errors->inc();
      queue->addRateLimited(key);
      log.error("Reconciler error",
                {{"object", key}, {"error", out.error}, {"requeues", queue->numRequeues(key)}});
      break;
    case ReconcileOutcome::Kind::TerminalError:
      error->inc();
      errors->inc();
      terminalErrors->inc();
      queue->forget(key);
      log.error("Reconciler terminal error, not retrying until the object changes",
                {{"object", key}, {"error", out.error}});
      break;
  }
}

Controller::Controller(std::string name, Reconciler& reconciler, ControllerOptions options)
    : name_(std::move(name)), core_(std::make_shared<Core>()) {
  auto& reg = options.metrics ? *options.metrics : MetricsRegistry::global();
  core_->name = name_;
  core_->reconciler = &reconciler;
  core_->log = (options.logger ? *options.logger : logger()).with({{"controller", name_}});
  core_->queue =
      std::make_shared<WorkQueue>(WorkQueueOptions{name_, std::move(options.rateLimiter), &reg});
  workersWanted_ = std::max(1, options.maxConcurrentReconciles);

  auto total = [&](const char* result) {
    return &reg.counter("controller_runtime_reconcile_total",
                        "Total number of reconciliations per controller",
                        {{"controller", name_}, {"result", result}});
  };
  core_->success = total("success");
  core_->error = total("error");
  core_->requeue = total("requeue");
  core_->requeueAfter = total("requeue_after");
  Labels l{{"controller", name_}};
  core_->errors = &reg.counter("controller_runtime_reconcile_errors_total",
                               "Total number of reconciliation errors per controller", l);
  core_->terminalErrors =
      &reg.counter("controller_runtime_terminal_reconcile_errors_total",
                   "Total number of terminal reconciliation errors per controller", l);
  core_->reconcileTime =
      &reg.histogram("controller_runtime_reconcile_time_seconds",
                     "Length of time per reconciliation per controller", l, reconcileBuckets());
  core_->activeWorkers = &reg.gauge("controller_runtime_active_workers",
                                    "Number of currently used workers per controller", l);
  reg.gauge("controller_runtime_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller", l)
      .set(workersWanted_);
}

Controller::~Controller() {
  stop(std::chrono::milliseconds(0));
}

WorkQueue& Controller::queue() {
  return *core_->queue;
}
int Controller::activeWorkers() const {
  return core_->active;
}

std::optional<ObjectKey> Controller::controllerOwnerKey(const kube::json& object,
                                                        const kube::ResourceType& ownerType) {
  if (!object.is_object()) return std::nullopt;
  auto md = object.find("metadata");
  if (md == object.end() || !md->is_object()) return std::nullopt;
  auto refs = md->find("ownerReferences");
  if (refs == md->end() || !refs->is_array()) return std::nullopt;
  for (const auto& ref : *refs) {
    if (!ref.is_object() || !ref.value("controller", false)) continue;
    // Only one controller reference is allowed; if it is not our kind, nothing matches.
    if (ref.value("kind", "") != ownerType.kind) return std::nullopt;
    if (groupOf(ref.value("apiVersion", "")) != ownerType.group) return std::nullopt;
    auto name = ref.value("name", "");
    if (name.empty()) return std::nullopt;
    // An owner is in the same namespace as its dependent (cluster-scoped owners have none).
    std::string ns = ownerType.namespaced ? str(object, "metadata", "namespace") : "";
    return ObjectKey{ns, name};
  }
  return std::nullopt;
}

void Controller::addHandler(kube::SharedInformer& informer, MapFunc mapFn) {
  informers_.push_back(&informer);
  // Capture the queue, never `this`: informers keep handlers for their own lifetime.
  std::weak_ptr<WorkQueue> weak = core_->queue;
  auto enqueue = [weak, mapFn](const kube::ObjectPtr& obj) {
    if (!obj) return;
    auto q = weak.lock();
    if (!q) return;
    try {
      for (const auto& key : mapFn(*obj)) q->add(key.str());
    } catch (const std::exception& e) {
      logger().error("Watch map function threw; event dropped", {{"error", e.what()}});
    } catch (...) {
      logger().error("Watch map function threw; event dropped");
    }
  };
  kube::EventHandler h;
  h.onAdd = enqueue;
  h.onUpdate = [enqueue](const kube::ObjectPtr& oldObj, const kube::ObjectPtr& newObj) {
    enqueue(oldObj);
    enqueue(newObj);  // de-duplicated by the queue when both map to the same key
  };
  h.onDelete = enqueue;
  informer.addEventHandler(std::move(h));
}

Controller& Controller::forKind(const kube::ResourceType& type, kube::SharedInformer& informer) {
  primary_ = type;
  addHandler(informer, [](const kube::json& obj) {
    std::vector<ObjectKey> keys;
    if (auto k = ownKey(obj)) keys.push_back(*k);
    return keys;
  });
  return *this;
}

Controller& Controller::owns(kube::SharedInformer& informer) {
  if (!primary_) {
    core_->log.error("owns() called before forKind(); the watch maps nothing");
  }
  auto owner = primary_.value_or(kube::ResourceType{});
  addHandler(informer, [owner](const kube::json& obj) {
    std::vector<ObjectKey> keys;
    if (owner.kind.empty()) return keys;
    if (auto k = controllerOwnerKey(obj, owner)) keys.push_back(*k);
    return keys;
  });
  return *this;
}

Controller& Controller::watches(kube::SharedInformer& informer, MapFunc mapFn) {
  addHandler(informer, std::move(mapFn));
  return *this;
}

void Controller::enqueue(const ObjectKey& key) {
  core_->queue->add(key.str());
}

bool Controller::hasSynced() const {
  return std::all_of(informers_.begin(), informers_.end(),
                     [](const kube::SharedInformer* i) { return i->hasSynced(); });
}

std::optional<std::string> Controller::start(std::chrono::milliseconds cacheSyncTimeout) {
  auto deadline = Clock::now() + cacheSyncTimeout;
  std::unique_lock lock(mu_);
  if (started_) return std::nullopt;
  // Workers must not reconcile against a half-filled cache: a missing Job would look deleted.
  while (!hasSynced()) {
    if (stopping_) return "controller " + name_ + " stopped before its caches synced";
    if (Clock::now() >= deadline) {
      auto unsynced = std::count_if(informers_.begin(), informers_.end(),
                                    [](const kube::SharedInformer* i) { return !i->hasSynced(); });
      return "controller " + name_ + ": timed out after " +
             std::to_string(cacheSyncTimeout.count()) + " ms waiting for " +
             std::to_string(unsynced) + " of " + std::to_string(informers_.size()) +
             " caches to sync";
    }
    cv_.wait_for(lock, std::chrono::milliseconds(20));
  }
  if (stopping_) return "controller " + name_ + " stopped before it started";
  core_->log.info("Starting workers", {{"workers", workersWanted_}});
  {
    std::lock_guard g(core_->mu);
    core_->running = workersWanted_;
  }
  for (int i = 0; i < workersWanted_; ++i) {
    threads_.emplace_back([core = core_] {
      while (auto key = core->queue->get()) {
        core->process(*key);
        core->queue->done(*key);
      }
      std::lock_guard g(core->mu);
      if (--core->running == 0) core->idleCv.notify_all();
    });
  }
  started_ = true;
  return std::nullopt;
}

bool Controller::stop(std::chrono::milliseconds bound) {
  std::unique_lock lock(mu_);
  if (stopped_) return true;
  stopping_ = true;
  cv_.notify_all();
  core_->queue->shutdown();  // idle workers return at once; busy ones after their reconcile
  bool finished;
  {
    std::unique_lock g(core_->mu);
    finished = core_->idleCv.wait_for(g, bound, [&] { return core_->running == 0; });
  }
  for (auto& t : threads_) {
    if (finished) {
      t.join();
    } else {
      t.detach();  // the Core stays alive through the worker's shared_ptr
    }
  }
  threads_.clear();
  stopped_ = true;
  if (started_) {
    if (finished) {
      core_->log.info("Stopped workers");
    } else {
      core_->log.error("Reconciles still running after the shutdown bound; abandoning them",
                       {{"boundMs", bound.count()}});
    }
  }
  return finished;
}

}  // namespace runtime
