#pragma once
// Time for the simulated cluster: scenario durations run on real time multiplied by a scale
// (0.1 runs ten times faster), and one thread runs every actor's timed work in due order.
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

namespace kubesim {

class Clock {
 public:
  explicit Clock(double timeScale) : scale_(timeScale > 0 ? timeScale : 1.0) {}
  double scale() const { return scale_; }
  // Real duration of `scenarioSeconds` of simulated time.
  std::chrono::steady_clock::duration scaled(double scenarioSeconds) const;

  // Wall-clock seconds since the epoch, with sub-second precision.
  static double nowSeconds();
  // metav1.Time as the API server writes it: RFC 3339, UTC, whole seconds.
  static std::string rfc3339(double epochSeconds);
  static std::string nowRfc3339() { return rfc3339(nowSeconds()); }
  static std::optional<double> parseRfc3339(const std::string& text);

 private:
  double scale_;
};

// Runs keyed tasks at their due time on one thread, so the actors (garbage collector, Job
// controller, kubelet) never race each other. Scheduling a key that is already pending keeps the
// earlier due time and the newest function: tasks are level-based reconciles, so running one
// early is harmless and running it twice is wasted work. A task that throws is retried with
// back-off (a Conflict simply re-reads).
class TaskRunner {
 public:
  using Task = std::function<void()>;
  TaskRunner() = default;
  ~TaskRunner();
  TaskRunner(const TaskRunner&) = delete;
  TaskRunner& operator=(const TaskRunner&) = delete;

  void start();
  void stop();  // idempotent; pending tasks are dropped
  void schedule(const std::string& key, std::chrono::steady_clock::time_point at, Task task);
  void scheduleNow(const std::string& key, Task task) {
    schedule(key, std::chrono::steady_clock::now(), std::move(task));
  }
  void scheduleAfter(const std::string& key, std::chrono::steady_clock::duration after, Task task) {
    schedule(key, std::chrono::steady_clock::now() + after, std::move(task));
  }
  std::size_t pending() const;

 private:
  void run();
  struct Entry {
    std::chrono::steady_clock::time_point at;
    Task task;
  };
  void insertLocked(const std::string& key, std::chrono::steady_clock::time_point at, Task task);
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Entry> tasks_;
  // The same tasks ordered by due time, so the next one is found in O(log n) rather than by a
  // scan of every pending task (10,000 Jobs keep tens of thousands pending).
  std::set<std::pair<std::chrono::steady_clock::time_point, std::string>> due_;
  std::map<std::string, int> failures_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kubesim
