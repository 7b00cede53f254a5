#include "operator/kube/backoff.h"

#include <algorithm>
#include <cmath>

namespace kube {

std::chrono::milliseconds BackoffPolicy::delay(int attempt, double u) const {
  double cap = static_cast<double>(std::max<std::int64_t>(0, max.count()));
  double base = static_cast<double>(std::max<std::int64_t>(0, initial.count()));
  // Grow step by step and stop at the cap: pow() would overflow for large attempt counts.
  for (int i = 0; i < attempt && base < cap; ++i) base *= std::max(1.0, factor);
  base = std::min(base, cap);
  double j = std::clamp(jitter, 0.0, 1.0);
  u = std::clamp(u, 0.0, 1.0);
  double d = base * (1.0 - j + 2.0 * j * u);
  d = std::min(d, cap);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(d)));
}

Backoff::Backoff(BackoffPolicy policy) : policy_(policy) {}

std::chrono::milliseconds Backoff::next() {
  // Every request makes a Backoff and almost none retries: seeding a generator from
  // std::random_device in the constructor cost 2.5% of the operator's CPU under load.
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  auto d = policy_.delay(attempt_, dist(rng));
  if (attempt_ < 1000) ++attempt_;
  return d;
}

}  // namespace kube
