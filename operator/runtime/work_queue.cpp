#include "operator/runtime/work_queue.h"

namespace runtime {

namespace {
// Work queue latencies range from microseconds to minutes (client-go uses 1e-8..1e1).
const std::vector<double>& queueBuckets() {
  static const std::vector<double> b = {1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100};
  return b;
}
}  // namespace

WorkQueue::WorkQueue(WorkQueueOptions options)
    : limiter_(options.rateLimiter ? std::move(options.rateLimiter)
                                   : defaultControllerRateLimiter()) {
  if (!options.name.empty()) {
    auto& reg = options.metrics ? *options.metrics : MetricsRegistry::global();
    Labels l{{"name", options.name}};
    depth_ = &reg.gauge("workqueue_depth", "Current depth of workqueue", l);
    adds_ = &reg.counter("workqueue_adds_total", "Total number of adds handled by workqueue", l);
    retries_ =
        &reg.counter("workqueue_retries_total", "Total number of retries handled by workqueue", l);
    queueDuration_ = &reg.histogram("workqueue_queue_duration_seconds",
                                    "How long in seconds an item stays in workqueue before being "
                                    "requested",
                                    l, queueBuckets());
    workDuration_ = &reg.histogram("workqueue_work_duration_seconds",
                                   "How long in seconds processing an item from workqueue takes", l,
                                   queueBuckets());
  }
}

WorkQueue::~WorkQueue() {
  shutdown();
}

void WorkQueue::updateDepthLocked() {
  if (depth_) depth_->set(static_cast<double>(queue_.size()));
}

void WorkQueue::addLocked(const std::string& key, Clock::time_point now) {
  if (shuttingDown_) return;
  if (adds_) adds_->inc();
  if (dirty_.count(key)) return;  // already queued (or re-queued after processing)
  dirty_.emplace(key, now);
  // A key being processed is queued again by done(): never two workers on one key.
  if (processing_.count(key)) return;
  queue_.push_back(key);
  updateDepthLocked();
  cv_.notify_one();
}

void WorkQueue::promoteReadyLocked(Clock::time_point now) {
  while (!waitingByTime_.empty() && waitingByTime_.begin()->first <= now) {
    auto node = waitingByTime_.extract(waitingByTime_.begin());
    waitingByKey_.erase(node.value().second);
    addLocked(node.value().second, now);
  }
}

void WorkQueue::add(const std::string& key) {
  std::lock_guard lock(mu_);
  addLocked(key, Clock::now());
}

void WorkQueue::addAfter(const std::string& key, std::chrono::nanoseconds delay) {
  std::lock_guard lock(mu_);
  if (shuttingDown_) return;
  auto now = Clock::now();
  if (delay <= std::chrono::nanoseconds::zero()) {
    addLocked(key, now);
    return;
  }
  auto ready = now + delay;
  auto it = waitingByKey_.find(key);
  if (it != waitingByKey_.end()) {
    // Keep the earliest time: a later request never postpones an earlier one.
    if (it->second <= ready) return;
    waitingByTime_.erase({it->second, key});
    it->second = ready;
  } else {
    waitingByKey_.emplace(key, ready);
  }
  waitingByTime_.emplace(ready, key);
  // A waiting worker may be sleeping until a later deadline: let it recompute.
  cv_.notify_one();
}

void WorkQueue::addRateLimited(const std::string& key) {
  auto delay = limiter_->when(key);
  {
    std::lock_guard lock(mu_);
    if (shuttingDown_) return;
    if (retries_) retries_->inc();
  }
  addAfter(key, delay);
}

void WorkQueue::forget(const std::string& key) {
  limiter_->forget(key);
}

int WorkQueue::numRequeues(const std::string& key) {
  return limiter_->numRequeues(key);
}

std::optional<std::string> WorkQueue::get() {
  std::unique_lock lock(mu_);
  while (true) {
    if (shuttingDown_) return std::nullopt;
    auto now = Clock::now();
    promoteReadyLocked(now);
    if (!queue_.empty()) break;
    if (waitingByTime_.empty()) {
      cv_.wait(lock);
    } else {
      // A copy: wait_until reads the deadline again after re-locking, and by then another
      // thread may have erased that entry (AddressSanitizer caught the use after free).
      const auto deadline = waitingByTime_.begin()->first;
      cv_.wait_until(lock, deadline);
    }
  }
  std::string key = std::move(queue_.front());
  queue_.pop_front();
  auto now = Clock::now();
  auto d = dirty_.find(key);
  if (d != dirty_.end()) {
    if (queueDuration_)
      queueDuration_->observe(std::chrono::duration<double>(now - d->second).count());
    dirty_.erase(d);
  }
  processing_.emplace(key, now);
  updateDepthLocked();
  // Others may be waiting while more keys are ready (promotion can make several ready at once).
  if (!queue_.empty()) cv_.notify_one();
  return key;
}

void WorkQueue::done(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = processing_.find(key);
  if (it == processing_.end()) return;
  if (workDuration_)
    workDuration_->observe(std::chrono::duration<double>(Clock::now() - it->second).count());
  processing_.erase(it);
  if (!shuttingDown_ && dirty_.count(key)) {
    queue_.push_back(key);
    updateDepthLocked();
    cv_.notify_one();
  }
  if (processing_.empty()) drainCv_.notify_all();
}

void WorkQueue::shutdown() {
  std::lock_guard lock(mu_);
  shuttingDown_ = true;
  queue_.clear();
  dirty_.clear();
  waitingByKey_.clear();
  waitingByTime_.clear();
  updateDepthLocked();
  cv_.notify_all();
}

bool WorkQueue::shutdownWithDrain(std::chrono::milliseconds timeout) {
  shutdown();
  std::unique_lock lock(mu_);
  return drainCv_.wait_for(lock, timeout, [&] { return processing_.empty(); });
}

bool WorkQueue::shuttingDown() const {
  std::lock_guard lock(mu_);
  return shuttingDown_;
}

std::size_t WorkQueue::len() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::size_t WorkQueue::processing() const {
  std::lock_guard lock(mu_);
  return processing_.size();
}

std::size_t WorkQueue::waiting() const {
  std::lock_guard lock(mu_);
  return waitingByKey_.size();
}

}  // namespace runtime
