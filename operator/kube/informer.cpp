#include "operator/kube/informer.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "operator/kube/log.h"
#include "operator/kube/object_cache.h"
#include "operator/kube/redaction.h"
#include "operator/kube/watcher.h"

namespace kube {

namespace {

class Informer : public SharedInformer {
 public:
  Informer(Client& client, ResourceType type, InformerOptions options)
      : client_(client),
        type_(std::move(type)),
        options_(std::move(options)),
        scopes_(scopesFor(type_, options_)),
        cache_(scopes_, options_.labelIndexes, options_.indexers) {}

  ~Informer() override { stop(); }

  const Store& store() const override { return cache_; }

  void addEventHandler(EventHandler handler) override {
    std::lock_guard<std::mutex> lock(dispatchMu_);
    // A handler added late first sees what is already cached, as client-go does.
    if (handler.onAdd) {
      for (const auto& obj : cache_.list()) handler.onAdd(obj);
    }
    handlers_.push_back(std::move(handler));
  }

  void start() override {
    std::lock_guard<std::mutex> lock(lifecycleMu_);
    if (started_) return;
    started_ = true;
    for (const auto& scope : scopes_) {
      WatcherConfig cfg;
      cfg.ns = scope;
      cfg.labelSelector = options_.labelSelector;
      cfg.fieldSelector = options_.fieldSelector;
      cfg.pageSize = options_.pageSize;
      cfg.watchTimeoutSeconds = options_.watchTimeoutSeconds;
      cfg.keep = options_.keep;
      watchers_.push_back(std::make_unique<Watcher>(client_, type_, cfg));
    }
    for (std::size_t i = 0; i < watchers_.size(); ++i) {
      threads_.emplace_back([this, i] { run(*watchers_[i], scopes_[i]); });
    }
    if (options_.resyncPeriod.count() > 0) threads_.emplace_back([this] { resyncLoop(); });
  }

  void stop() override {
    std::lock_guard<std::mutex> lock(lifecycleMu_);
    if (!started_ || stopped_) return;
    {
      std::lock_guard<std::mutex> l(sleepMu_);
      stopping_.store(true);
    }
    sleepCv_.notify_all();
    for (auto& w : watchers_) w->cancel();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    stopped_ = true;
  }

  bool hasSynced() const override { return cache_.hasSynced(); }

 private:
  static std::vector<std::string> scopesFor(const ResourceType& type,
                                            const InformerOptions& options) {
    if (!type.namespaced || options.namespaces.empty()) return {""};
    return options.namespaces;
  }

  void run(Watcher& watcher, const std::string& scope) {
    Backoff backoff(options_.backoff);
    while (!stopping_.load()) {
      auto events = watcher.step();
      if (stopping_.load()) break;
      if (!events) {
        const ApiError& e = events.error();
        auto delay = backoff.next();
        if (e.isNotFound()) delay = std::min(delay, options_.missingResourceMaxDelay);
        LogLevel level = e.reason == "WatchEnded" ? LogLevel::Debug : LogLevel::Warn;
        log(level, "watch of " + type_.qualifiedName() + " failed; retrying",
            {{"resource", type_.qualifiedName()},
             {"namespace", scope},
             {"state", toString(watcher.state())},
             {"error", redactText(e.describe())},
             {"retryInMs", std::to_string(delay.count())}});
        sleep(delay);
        continue;
      }
      if (!events->empty() || watcher.state() == Watcher::State::Watching) backoff.reset();
      for (auto& ev : *events) {
        if (options_.transform && !ev.object.is_null()) {
          ev.object = options_.transform(std::move(ev.object));
        }
        // Applying and notifying under one lock keeps handlers in event order and never
        // concurrent, even with one watcher thread per namespace.
        std::lock_guard<std::mutex> lock(dispatchMu_);
        auto changes = cache_.apply(scope, std::move(ev));
        if (!changes.empty() && options_.onCacheSize) {
          options_.onCacheSize(cache_.size(), cache_.packedBytes());
        }
        for (const auto& n : changes) notify(n);
      }
    }
  }

  void resyncLoop() {
    while (!stopping_.load()) {
      sleep(options_.resyncPeriod);
      if (stopping_.load()) break;
      if (!cache_.hasSynced()) continue;
      // A relist first: what a lost watch event left stale in the cache comes back as a
      // difference and is notified as such. Then every cached object, for lost requeues.
      for (auto& w : watchers_) w->requestRelist();
      // Under the dispatch lock: a resync never runs between a watch event's apply and notify.
      std::lock_guard<std::mutex> lock(dispatchMu_);
      for (const auto& packed : cache_.snapshot()) {  // decoded one at a time
        ObjectPtr obj = packed->unpack();
        for (const auto& h : handlers_) {
          if (h.onUpdate) h.onUpdate(obj, obj);
        }
      }
    }
  }

  void notify(const Notification& n) {
    if (handlers_.empty()) return;
    const ObjectPtr object = n.object();
    const ObjectPtr old = n.type == Notification::Type::Update ? n.oldObject() : nullptr;
    for (const auto& h : handlers_) {
      switch (n.type) {
        case Notification::Type::Add:
          if (h.onAdd) h.onAdd(object);
          break;
        case Notification::Type::Update:
          if (h.onUpdate) h.onUpdate(old, object);
          break;
        case Notification::Type::Delete:
          if (h.onDelete) h.onDelete(object);
          break;
      }
    }
  }

  void sleep(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(sleepMu_);
    sleepCv_.wait_for(lock, d, [this] { return stopping_.load(); });
  }

  Client& client_;
  ResourceType type_;
  InformerOptions options_;
  std::vector<std::string> scopes_;
  ObjectCache cache_;

  std::mutex dispatchMu_;
  std::vector<EventHandler> handlers_;

  std::mutex lifecycleMu_;
  bool started_ = false;
  bool stopped_ = false;
  std::vector<std::unique_ptr<Watcher>> watchers_;
  std::vector<std::thread> threads_;

  std::mutex sleepMu_;
  std::condition_variable sleepCv_;
  std::atomic<bool> stopping_{false};
};

}  // namespace

std::unique_ptr<SharedInformer> makeInformer(Client& client, const ResourceType& type,
                                             InformerOptions options) {
  return std::make_unique<Informer>(client, type, std::move(options));
}

}  // namespace kube
