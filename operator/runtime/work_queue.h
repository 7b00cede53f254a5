#pragma once
// A rate-limited, delaying work queue of keys with client-go semantics:
// - a key is queued at most once however often it is added (de-duplication);
// - a key is never handed to two workers at once: a key added while a worker processes it is
//   queued again when that worker calls done();
// - addAfter() makes a key ready later (the earliest pending time wins), addRateLimited() asks
//   the rate limiter for the delay (per-key exponential backoff and an overall bucket);
// - shutdown() wakes every waiting worker; get() returns nullopt from then on.
//
//   while (auto key = queue.get()) { process(*key); queue.done(*key); }
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "operator/runtime/metrics.h"
#include "operator/runtime/rate_limiter.h"

namespace runtime {

struct WorkQueueOptions {
  std::string name;  // the `name` label of the workqueue_* metrics; "" disables metrics
  std::unique_ptr<RateLimiter> rateLimiter;  // null: defaultControllerRateLimiter()
  MetricsRegistry* metrics = nullptr;        // null: MetricsRegistry::global()
};

class WorkQueue {
 public:
  explicit WorkQueue(WorkQueueOptions options = {});
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;

  void add(const std::string& key);
  void addAfter(const std::string& key, std::chrono::nanoseconds delay);
  void addRateLimited(const std::string& key);  // counts a retry
  void forget(const std::string& key);          // clears the key's backoff
  int numRequeues(const std::string& key);

  // Blocks until a key is ready or the queue shuts down (nullopt). The caller owns the key until
  // it calls done(key).
  std::optional<std::string> get();
  void done(const std::string& key);

  // Stops intake and hands out nothing more; waiting workers wake with nullopt. Keys still
  // queued are dropped (reconciliation is level-based: the next start lists everything again).
  void shutdown();
  // shutdown(), then waits until every key handed out has been done() or the timeout passes.
  // Returns true when nothing was left in processing.
  bool shutdownWithDrain(std::chrono::milliseconds timeout);
  bool shuttingDown() const;

  std::size_t len() const;         // keys ready to be handed out
  std::size_t processing() const;  // keys handed out and not done
  std::size_t waiting() const;     // keys waiting for their addAfter time

 private:
  void addLocked(const std::string& key, Clock::time_point now);
  void promoteReadyLocked(Clock::time_point now);
  void updateDepthLocked();

  mutable std::mutex mu_;
  std::condition_variable cv_;       // workers waiting for keys
  std::condition_variable drainCv_;  // shutdownWithDrain waiting for processing to empty
  std::deque<std::string> queue_;
  std::unordered_map<std::string, Clock::time_point> dirty_;       // key -> when it was first added
  std::unordered_map<std::string, Clock::time_point> processing_;  // key -> when handed out
  // Delayed keys: the earliest ready time per key, and the same entries ordered by time.
  std::unordered_map<std::string, Clock::time_point> waitingByKey_;
  std::set<std::pair<Clock::time_point, std::string>> waitingByTime_;
  bool shuttingDown_ = false;

  std::unique_ptr<RateLimiter> limiter_;
  Gauge* depth_ = nullptr;
  Counter* adds_ = nullptr;
  Counter* retries_ = nullptr;
  Histogram* queueDuration_ = nullptr;
  Histogram* workDuration_ = nullptr;
};

}  // namespace runtime
