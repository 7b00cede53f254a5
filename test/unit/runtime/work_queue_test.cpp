#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "operator/runtime/rate_limiter.h"
#include "operator/runtime/work_queue.h"
#include "test/support/process.h"

using namespace std::chrono_literals;
using runtime::WorkQueue;
using runtime::WorkQueueOptions;

namespace {
// A queue with no rate limiting surprises: exponential only, so delays are exact.
WorkQueueOptions opts(runtime::MetricsRegistry* reg = nullptr, std::string name = "") {
  WorkQueueOptions o;
  o.name = std::move(name);
  o.metrics = reg;
  o.rateLimiter = std::make_unique<runtime::ItemExponentialRateLimiter>(5ms, 1000s);
  return o;
}
}  // namespace

TEST_CASE("backoff is 5 ms doubling, capped at 1000 s", "[backoff]") {
  using runtime::ItemExponentialRateLimiter;
  ItemExponentialRateLimiter rl;
  CHECK(rl.when("a") == 5ms);
  CHECK(rl.when("a") == 10ms);
  CHECK(rl.when("a") == 20ms);
  CHECK(rl.when("a") == 40ms);
  CHECK(rl.numRequeues("a") == 4);
  CHECK(rl.when("b") == 5ms);  // keys are independent
  // 5 ms * 2^17 = 655.36 s, 2^18 would be 1310.72 s -> capped.
  CHECK(ItemExponentialRateLimiter::backoff(17, 5ms, 1000s) == 655360ms);
  CHECK(ItemExponentialRateLimiter::backoff(18, 5ms, 1000s) == 1000s);
  CHECK(ItemExponentialRateLimiter::backoff(5000, 5ms, 1000s) == 1000s);  // no overflow
  for (int i = 0; i < 100; ++i) rl.when("c");
  CHECK(rl.when("c") == 1000s);
  rl.forget("a");
  CHECK(rl.numRequeues("a") == 0);
  CHECK(rl.when("a") == 5ms);  // forget resets
}

TEST_CASE("the token bucket allows a burst then paces at qps", "[backoff]") {
  auto now = runtime::Clock::now();
  runtime::BucketRateLimiter b(10, 3, [&] { return now; });
  CHECK(b.when("x") == 0ns);
  CHECK(b.when("y") == 0ns);
  CHECK(b.when("z") == 0ns);
  CHECK(b.when("w") == 100ms);  // 4th token: 1/10 s in the future
  CHECK(b.when("v") == 200ms);
  now += 1s;  // refills 10 tokens, capped at the burst (after paying back the 2 borrowed)
  CHECK(b.when("u") == 0ns);
}

TEST_CASE("the default controller limiter takes the longer delay", "[backoff]") {
  auto rl = runtime::defaultControllerRateLimiter();
  CHECK(rl->when("k") == 5ms);
  CHECK(rl->when("k") == 10ms);
  CHECK(rl->numRequeues("k") == 2);
  rl->forget("k");
  CHECK(rl->numRequeues("k") == 0);
  // After the burst of 100 (2 used above) the bucket dominates small per-item delays.
  for (int i = 0; i < 98; ++i) rl->when("other" + std::to_string(i));
  auto d = rl->when("fresh");
  CHECK(d > 5ms);
  CHECK(d <= 100ms);
}

TEST_CASE("adds of the same key are de-duplicated", "[workqueue]") {
  WorkQueue q(opts());
  q.add("a");
  q.add("b");
  q.add("a");
  q.add("a");
  CHECK(q.len() == 2);
  CHECK(q.get() == "a");
  CHECK(q.get() == "b");
  CHECK(q.len() == 0);
}

TEST_CASE("a key added while processing is queued again only after done", "[workqueue]") {
  WorkQueue q(opts());
  q.add("a");
  auto k = q.get();
  REQUIRE(k == "a");
  q.add("a");
  q.add("a");
  CHECK(q.len() == 0);  // not handed to a second worker
  CHECK(q.processing() == 1);
  q.done("a");
  CHECK(q.len() == 1);
  CHECK(q.get() == "a");
  q.done("a");
  CHECK(q.len() == 0);
}

TEST_CASE("no key is ever processed by two workers at once", "[workqueue]") {
  WorkQueue q(opts());
  std::mutex mu;
  std::set<std::string> inFlight;
  std::atomic<bool> overlap{false};
  std::atomic<int> processed{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&] {
      while (auto k = q.get()) {
        {
          std::lock_guard l(mu);
          if (!inFlight.insert(*k).second) overlap = true;
        }
        std::this_thread::yield();
        {
          std::lock_guard l(mu);
          inFlight.erase(*k);
        }
        ++processed;
        q.done(*k);
      }
    });
  }
  const std::string keys[] = {"k0", "k1", "k2"};
  for (int i = 0; i < 20000; ++i) q.add(keys[i % 3]);
  REQUIRE(testsupport::waitFor([&] { return q.len() == 0 && q.processing() == 0; }, 10s, 1ms));
  q.shutdown();
  for (auto& t : workers) t.join();
  CHECK_FALSE(overlap);
  CHECK(processed >= 3);
}

TEST_CASE("addAfter hands keys out in time order, the earliest request wins", "[workqueue]") {
  WorkQueue q(opts());
  auto t0 = runtime::Clock::now();
  q.addAfter("late", 150ms);
  q.addAfter("early", 50ms);
  q.addAfter("late", 400ms);  // a later time never postpones the pending one
  CHECK(q.len() == 0);
  CHECK(q.waiting() == 2);
  CHECK(q.get() == "early");
  CHECK(runtime::Clock::now() - t0 >= 50ms);
  CHECK(q.get() == "late");
  auto elapsed = runtime::Clock::now() - t0;
  CHECK(elapsed >= 150ms);
  CHECK(elapsed < 400ms);
  CHECK(q.waiting() == 0);
}

TEST_CASE("an earlier addAfter moves a waiting key forward", "[workqueue]") {
  WorkQueue q(opts());
  auto t0 = runtime::Clock::now();
  q.addAfter("a", 10s);
  std::thread t([&] {
    std::this_thread::sleep_for(20ms);
    q.addAfter("a", 10ms);  // wakes the sleeping worker, which recomputes its deadline
  });
  CHECK(q.get() == "a");
  CHECK(runtime::Clock::now() - t0 < 5s);
  t.join();
}

TEST_CASE("addRateLimited waits the backoff, forget resets it", "[workqueue]") {
  runtime::MetricsRegistry reg;
  WorkQueue q(opts(&reg, "q"));
  q.addRateLimited("a");  // 5 ms
  q.addRateLimited("a");  // 10 ms, but the pending 5 ms entry wins
  CHECK(q.numRequeues("a") == 2);
  auto t0 = runtime::Clock::now();
  CHECK(q.get() == "a");
  CHECK(runtime::Clock::now() - t0 < 1s);
  q.done("a");
  q.forget("a");
  CHECK(q.numRequeues("a") == 0);
  CHECK(reg.counter("workqueue_retries_total", "", {{"name", "q"}}).value() == 2);
}

TEST_CASE("shutdown wakes every waiting worker", "[workqueue]") {
  WorkQueue q(opts());
  q.addAfter("x", 10s);
  std::atomic<int> woke{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < 3; ++i)
    workers.emplace_back([&] {
      if (!q.get()) ++woke;
    });
  std::this_thread::sleep_for(20ms);  // let them block (not needed for correctness)
  q.shutdown();
  for (auto& t : workers) t.join();
  CHECK(woke == 3);
  q.add("y");  // ignored after shutdown
  CHECK(q.len() == 0);
  CHECK_FALSE(q.get().has_value());
}

TEST_CASE("shutdownWithDrain waits for keys in processing", "[workqueue]") {
  WorkQueue q(opts());
  q.add("a");
  auto k = q.get();
  REQUIRE(k);
  CHECK_FALSE(q.shutdownWithDrain(30ms));  // still processing
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    q.done("a");
  });
  CHECK(q.shutdownWithDrain(5s));
  t.join();
}

TEST_CASE("work queue metrics: depth, adds, queue duration", "[workqueue]") {
  runtime::MetricsRegistry reg;
  WorkQueue q(opts(&reg, "flowrun"));
  q.add("a");
  q.add("b");
  q.add("a");
  runtime::Labels l{{"name", "flowrun"}};
  CHECK(reg.gauge("workqueue_depth", "", l).value() == 2);
  CHECK(reg.counter("workqueue_adds_total", "", l).value() == 3);
  q.get();
  CHECK(reg.gauge("workqueue_depth", "", l).value() == 1);
  CHECK(reg.histogram("workqueue_queue_duration_seconds", "", l).count() == 1);
  auto text = reg.render();
  CHECK(text.find("workqueue_queue_duration_seconds_bucket{name=\"flowrun\",le=\"+Inf\"} 1") !=
        std::string::npos);
}
