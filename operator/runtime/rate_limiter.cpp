#include "operator/runtime/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace runtime {

using std::chrono::nanoseconds;

ItemExponentialRateLimiter::ItemExponentialRateLimiter(nanoseconds base, nanoseconds max)
    : base_(base), max_(max) {}

nanoseconds ItemExponentialRateLimiter::backoff(int failures, nanoseconds base, nanoseconds max) {
  if (failures < 0) failures = 0;
  // Doubling in floating point cannot overflow; compare before converting back.
  double d = static_cast<double>(base.count()) * std::pow(2.0, failures);
  if (d >= static_cast<double>(max.count())) return max;
  return nanoseconds(static_cast<nanoseconds::rep>(d));
}

nanoseconds ItemExponentialRateLimiter::when(const std::string& key) {
  std::lock_guard lock(mu_);
  int& f = failures_[key];
  auto d = backoff(f, base_, max_);
  // Stop counting once capped: the number only feeds numRequeues() and pow().
  if (f < 1000000) ++f;
  return d;
}

void ItemExponentialRateLimiter::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  failures_.erase(key);
}

int ItemExponentialRateLimiter::numRequeues(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = failures_.find(key);
  return it == failures_.end() ? 0 : it->second;
}

BucketRateLimiter::BucketRateLimiter(double qps, int burst, ClockFn clock)
    : qps_(qps > 0 ? qps : 1e-9),
      burst_(burst > 0 ? burst : 1),
      clock_(clock ? std::move(clock) : ClockFn([] { return Clock::now(); })),
      tokens_(burst_),
      last_(clock_()) {}

nanoseconds BucketRateLimiter::when(const std::string&) {
  std::lock_guard lock(mu_);
  auto now = clock_();
  if (now > last_) {
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * qps_);
    last_ = now;
  }
  tokens_ -= 1;
  if (tokens_ >= 0) return nanoseconds(0);
  return std::chrono::duration_cast<nanoseconds>(std::chrono::duration<double>(-tokens_ / qps_));
}

MaxOfRateLimiter::MaxOfRateLimiter(std::vector<std::unique_ptr<RateLimiter>> limiters)
    : limiters_(std::move(limiters)) {}

nanoseconds MaxOfRateLimiter::when(const std::string& key) {
  nanoseconds d{0};
  // Every limiter must see every failure, so no short-circuit.
  for (auto& l : limiters_) d = std::max(d, l->when(key));
  return d;
}

void MaxOfRateLimiter::forget(const std::string& key) {
  for (auto& l : limiters_) l->forget(key);
}

int MaxOfRateLimiter::numRequeues(const std::string& key) {
  int n = 0;
  for (auto& l : limiters_) n = std::max(n, l->numRequeues(key));
  return n;
}

std::unique_ptr<RateLimiter> defaultControllerRateLimiter() {
  std::vector<std::unique_ptr<RateLimiter>> v;
  v.push_back(std::make_unique<ItemExponentialRateLimiter>(std::chrono::milliseconds(5),
                                                           std::chrono::seconds(1000)));
  v.push_back(std::make_unique<BucketRateLimiter>(10, 100));
  return std::make_unique<MaxOfRateLimiter>(std::move(v));
}

}  // namespace runtime
