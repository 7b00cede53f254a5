#pragma once
// Client-side token bucket (--kube-api-qps, --kube-api-burst), as client-go's flowcontrol:
// `burst` requests may go at once, then `qps` per second. qps <= 0 disables limiting.
#include <chrono>
#include <mutex>

namespace kube {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimiter(double qps, int burst);

  // Takes a token, blocking until one is available.
  void acquire();
  // Takes a token at `now` and returns how long the caller must wait before using it (zero when
  // one was available). Tokens are reserved, so concurrent callers queue fairly.
  Clock::duration reserve(Clock::time_point now);
  bool enabled() const { return qps_ > 0; }

 private:
  std::mutex mu_;
  double qps_;
  double burst_;
  double tokens_;
  Clock::time_point last_{};
  bool started_ = false;
};

}  // namespace kube
