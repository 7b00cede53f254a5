#include <catch2/catch.hpp>

#include "operator/kube/backoff.h"
#include "operator/kube/rate_limiter.h"

using namespace std::chrono_literals;

TEST_CASE("backoff doubles from the initial delay and stops at the cap") {
  kube::BackoffPolicy p{100ms, 1000ms, 2.0, 0.0};
  CHECK(p.delay(0, 0.5) == 100ms);
  CHECK(p.delay(1, 0.5) == 200ms);
  CHECK(p.delay(2, 0.5) == 400ms);
  CHECK(p.delay(3, 0.5) == 800ms);
  CHECK(p.delay(4, 0.5) == 1000ms);
  CHECK(p.delay(1000000, 0.5) == 1000ms);  // no overflow for huge attempt numbers
}

TEST_CASE("backoff jitter spreads the delay and never exceeds the cap") {
  kube::BackoffPolicy p{100ms, 1000ms, 2.0, 0.2};
  CHECK(p.delay(0, 0.0) == 80ms);
  CHECK(p.delay(0, 0.5) == 100ms);
  CHECK(p.delay(0, 0.999999) == 120ms);
  CHECK(p.delay(2, 0.0) == 320ms);
  CHECK(p.delay(10, 0.0) == 800ms);
  CHECK(p.delay(10, 0.999) == 1000ms);
}

TEST_CASE("Backoff counts attempts and resets") {
  kube::Backoff b({10ms, 1000ms, 2.0, 0.0});
  CHECK(b.next() == 10ms);
  CHECK(b.next() == 20ms);
  CHECK(b.next() == 40ms);
  CHECK(b.attempts() == 3);
  b.reset();
  CHECK(b.next() == 10ms);
}

TEST_CASE("rate limiter lets a burst through then paces at qps") {
  kube::RateLimiter rl(10.0, 3);  // 10 per second: one token every 100 ms
  auto t0 = kube::RateLimiter::Clock::now();
  CHECK(rl.reserve(t0) == 0ms);
  CHECK(rl.reserve(t0) == 0ms);
  CHECK(rl.reserve(t0) == 0ms);
  auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(rl.reserve(t0));
  CHECK(wait == 100ms);
  wait = std::chrono::duration_cast<std::chrono::milliseconds>(rl.reserve(t0));
  CHECK(wait == 200ms);  // the second waiter queues behind the first
  // After a second of quiet the bucket is full again (capped at the burst).
  auto later = t0 + 10s;
  CHECK(rl.reserve(later) == 0ms);
  CHECK(rl.reserve(later) == 0ms);
  CHECK(rl.reserve(later) == 0ms);
  CHECK(rl.reserve(later) > 0ms);
}

TEST_CASE("rate limiter with qps <= 0 is disabled") {
  kube::RateLimiter rl(0, 1);
  CHECK_FALSE(rl.enabled());
  auto t0 = kube::RateLimiter::Clock::now();
  for (int i = 0; i < 1000; ++i) REQUIRE(rl.reserve(t0) == 0ms);
}
