#pragma once
// Per-key retry delays for the work queue, as in client-go's workqueue rate limiters.
// The default combines a per-key exponential backoff (5 ms doubling to 1000 s) with an overall
// token bucket (10 qps, burst 100) and takes the longer of the two delays.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace runtime {

using Clock = std::chrono::steady_clock;
using ClockFn = std::function<Clock::time_point()>;

class RateLimiter {
 public:
  virtual ~RateLimiter() = default;
  // How long `key` must wait before its next attempt. Each call counts as one failure.
  virtual std::chrono::nanoseconds when(const std::string& key) = 0;
  // The key succeeded: its failure history is cleared.
  virtual void forget(const std::string& key) = 0;
  virtual int numRequeues(const std::string& key) = 0;
};

// base * 2^failures, capped at max. Overflow-safe for any number of failures.
class ItemExponentialRateLimiter final : public RateLimiter {
 public:
  ItemExponentialRateLimiter(std::chrono::nanoseconds base = std::chrono::milliseconds(5),
                             std::chrono::nanoseconds max = std::chrono::seconds(1000));
  std::chrono::nanoseconds when(const std::string& key) override;
  void forget(const std::string& key) override;
  int numRequeues(const std::string& key) override;

  // The delay after `failures` previous failures (0 -> base).
  static std::chrono::nanoseconds backoff(int failures, std::chrono::nanoseconds base,
                                          std::chrono::nanoseconds max);

 private:
  const std::chrono::nanoseconds base_, max_;
  std::mutex mu_;
  std::map<std::string, int> failures_;
};

// A token bucket shared by all keys: protects the API server when many keys fail at once.
// Like golang.org/x/time/rate Reserve(): each call takes a token, possibly in the future.
class BucketRateLimiter final : public RateLimiter {
 public:
  BucketRateLimiter(double qps = 10, int burst = 100, ClockFn clock = nullptr);
  std::chrono::nanoseconds when(const std::string& key) override;
  void forget(const std::string&) override {}
  int numRequeues(const std::string&) override { return 0; }

 private:
  const double qps_;
  const double burst_;
  ClockFn clock_;
  std::mutex mu_;
  double tokens_;
  Clock::time_point last_;
};

// The longest delay of its limiters.
class MaxOfRateLimiter final : public RateLimiter {
 public:
  explicit MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters);
  std::chrono::nanoseconds when(const std::string& key) override;
  void forget(const std::string& key) override;
  int numRequeues(const std::string& key) override;

 private:
  std::vector<std::unique_ptr<RateLimiter>> limiters_;
};

// client-go's DefaultControllerRateLimiter: max(exponential 5 ms..1000 s, bucket 10 qps/100).
std::unique_ptr<RateLimiter> defaultControllerRateLimiter();

}  // namespace runtime
