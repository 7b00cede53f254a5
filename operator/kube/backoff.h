#pragma once
// Capped exponential backoff with jitter, shared by request retries and watch reconnects.
#include <chrono>
#include <cstdint>
#include <random>

namespace kube {

struct BackoffPolicy {
  std::chrono::milliseconds initial{800};
  std::chrono::milliseconds max{30000};
  double factor = 2.0;
  // The delay is spread uniformly over [base * (1 - jitter), base * (1 + jitter)], then capped
  // at max, so many clients that failed together do not retry together.
  double jitter = 0.2;

  // Delay before retry number `attempt` (0-based); u is a uniform random number in [0, 1).
  std::chrono::milliseconds delay(int attempt, double u) const;
};

// A policy plus its state: the attempt counter. Cheap to make (one per request): the random
// source is per thread and seeded once, not per Backoff.
class Backoff {
 public:
  explicit Backoff(BackoffPolicy policy = {});
  std::chrono::milliseconds next();  // the delay before the next attempt; counts the attempt
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  int attempt_ = 0;
};

}  // namespace kube
