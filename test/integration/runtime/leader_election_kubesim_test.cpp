// Two replicas' electors against one API server: never both leading, takeover when the leader
// stops renewing, fast takeover when it releases on shutdown.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "operator/runtime/leader_election.h"
#include "test/integration/runtime/runtime_env.h"
#include "test/unit/runtime/proxy_client.h"

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

namespace {

struct Interval {
  Steady::time_point start, end;
};

// Leadership intervals of all replicas, from the electors' isLeader() sampled every 1 ms.
class Timeline {
 public:
  void sample(const std::vector<runtime::LeaseElector*>& electors) {
    auto now = Steady::now();
    std::lock_guard l(mu_);
    if (open_.size() < electors.size()) open_.resize(electors.size());
    if (intervals_.size() < electors.size()) intervals_.resize(electors.size());
    int leaders = 0;
    for (std::size_t i = 0; i < electors.size(); ++i) {
      bool leading = electors[i]->isLeader();
      leaders += leading;
      if (leading && !open_[i]) open_[i] = now;
      if (!leading && open_[i]) {
        intervals_[i].push_back({*open_[i], now});
        open_[i].reset();
      }
    }
    if (leaders > 1) bothLed_ = true;
  }
  void close() {
    std::lock_guard l(mu_);
    for (std::size_t i = 0; i < open_.size(); ++i)
      if (open_[i]) intervals_[i].push_back({*open_[i], Steady::now()});
    open_.assign(open_.size(), std::nullopt);
  }
  bool bothLed() const { return bothLed_; }
  // True when no interval of one replica overlaps an interval of another.
  bool disjoint() {
    std::lock_guard l(mu_);
    for (std::size_t i = 0; i < intervals_.size(); ++i)
      for (std::size_t j = i + 1; j < intervals_.size(); ++j)
        for (auto& a : intervals_[i])
          for (auto& b : intervals_[j])
            if (a.start < b.end && b.start < a.end) return false;
    return true;
  }
  std::size_t intervals(std::size_t i) {
    std::lock_guard l(mu_);
    return i < intervals_.size() ? intervals_[i].size() : 0;
  }

 private:
  std::mutex mu_;
  std::vector<std::optional<Steady::time_point>> open_;
  std::vector<std::vector<Interval>> intervals_;
  std::atomic<bool> bothLed_{false};
};

struct Replica {
  std::unique_ptr<kube::Client> http;
  runtimetest::ProxyClient client;
  runtime::MetricsRegistry metrics;
  std::unique_ptr<runtime::LeaseElector> elector;
  std::atomic<int> lost{0};

  Replica(runtimetest::KubesimEnv& env, const std::string& id) : http(env.client()), client(*http) {
    runtime::LeaseElectorOptions o;
    o.leaseName = "flowrun-operator";
    o.leaseNamespace = "ops";
    o.identity = id;
    o.leaseDuration = 1000ms;
    o.renewDeadline = 600ms;
    o.retryPeriod = 100ms;
    o.metrics = &metrics;
    o.onStoppedLeading = [this] { ++lost; };
    elector = std::make_unique<runtime::LeaseElector>(client, std::move(o));
  }
  double statusMetric() {
    return metrics.gauge("leader_election_master_status", "", {{"name", "flowrun-operator"}})
        .value();
  }
};

struct Sampler {
  Timeline timeline;
  std::atomic<bool> stop{false};
  std::thread thread;
  explicit Sampler(std::vector<runtime::LeaseElector*> electors)
      : thread([this, electors] {
          while (!stop) {
            timeline.sample(electors);
            std::this_thread::sleep_for(1ms);
          }
          timeline.close();
        }) {}
  ~Sampler() { finish(); }
  void finish() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
};

}  // namespace

TEST_CASE("kubesim: one of two replicas leads, release on shutdown hands over fast",
          "[kubesim][leader]") {
  runtimetest::KubesimEnv env;
  Replica a(env, "replica-a"), b(env, "replica-b");
  Sampler sampler({a.elector.get(), b.elector.get()});
  REQUIRE_FALSE(a.elector->start());
  REQUIRE(testsupport::waitFor([&] { return a.elector->isLeader(); }, 10s));
  REQUIRE_FALSE(b.elector->start());
  // Longer than a lease duration: the standby must keep seeing a renewed lease.
  std::this_thread::sleep_for(1500ms);
  CHECK(a.elector->isLeader());
  CHECK_FALSE(b.elector->isLeader());
  CHECK(a.statusMetric() == 1);
  CHECK(b.statusMetric() == 0);
  auto holder = env.kubectl(
      {"get", "lease", "flowrun-operator", "-n", "ops", "-o", "jsonpath={.spec.holderIdentity}"});
  CHECK(holder.out == "replica-a");

  auto t0 = Steady::now();
  a.elector->stop();  // clean shutdown: releases the lease
  REQUIRE(testsupport::waitFor([&] { return b.elector->isLeader(); }, 10s, 1ms));
  auto takeover = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0);
  INFO("takeover after release: " << takeover.count() << " ms");
  CHECK(takeover < 800ms);  // about one retry period, not a lease duration
  auto lease = env.kubectl({"get", "lease", "flowrun-operator", "-n", "ops", "-o",
                            "jsonpath={.spec.holderIdentity} {.spec.leaseTransitions} "
                            "{.spec.leaseDurationSeconds}"});
  CHECK(lease.out == "replica-b 1 1");
  b.elector->stop();
  sampler.finish();
  CHECK_FALSE(sampler.timeline.bothLed());
  CHECK(sampler.timeline.disjoint());
  CHECK(a.lost == 0);
  CHECK(b.lost == 0);
  auto released = env.kubectl(
      {"get", "lease", "flowrun-operator", "-n", "ops", "-o", "jsonpath={.spec.holderIdentity}"});
  CHECK(released.out.empty());
}

TEST_CASE(
    "kubesim: a leader that stops renewing loses at once, the standby takes over after "
    "the lease expires; leadership never overlaps",
    "[kubesim][leader]") {
  runtimetest::KubesimEnv env;
  Replica a(env, "replica-a"), b(env, "replica-b");
  Sampler sampler({a.elector.get(), b.elector.get()});
  REQUIRE_FALSE(a.elector->start());
  REQUIRE(testsupport::waitFor([&] { return a.elector->isLeader(); }, 10s));
  REQUIRE_FALSE(b.elector->start());
  REQUIRE(testsupport::waitFor([&] { return b.elector->observedLeader() == "replica-a"; }, 10s));

  auto t0 = Steady::now();
  a.client.setBlocked(true);  // the leader hangs (stuck connection, frozen node)
  REQUIRE(testsupport::waitFor([&] { return a.lost == 1; }, 10s, 1ms));
  auto lostAfter = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0);
  REQUIRE(testsupport::waitFor([&] { return b.elector->isLeader(); }, 10s, 1ms));
  auto takeover = std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t0);
  INFO("leader stopped after " << lostAfter.count() << " ms, standby led after " << takeover.count()
                               << " ms");
  CHECK(lostAfter <= 800ms);
  CHECK(takeover >= lostAfter);
  CHECK(a.statusMetric() == 0);
  CHECK(b.statusMetric() == 1);

  // The old leader comes back: it must not take the lease again (it has given up).
  a.client.setBlocked(false);
  std::this_thread::sleep_for(500ms);
  CHECK_FALSE(a.elector->isLeader());
  CHECK(b.elector->isLeader());
  a.elector->stop();
  b.elector->stop();
  sampler.finish();
  CHECK_FALSE(sampler.timeline.bothLed());
  CHECK(sampler.timeline.disjoint());
}

TEST_CASE("kubesim: many replicas racing for a new lease elect exactly one", "[kubesim][leader]") {
  runtimetest::KubesimEnv env;
  std::vector<std::unique_ptr<Replica>> replicas;
  std::vector<runtime::LeaseElector*> electors;
  for (int i = 0; i < 4; ++i) {
    replicas.push_back(std::make_unique<Replica>(env, "replica-" + std::to_string(i)));
    electors.push_back(replicas.back()->elector.get());
  }
  Sampler sampler(electors);
  for (auto& r : replicas) REQUIRE_FALSE(r->elector->start());
  REQUIRE(testsupport::waitFor(
      [&] {
        int n = 0;
        for (auto* e : electors) n += e->isLeader();
        return n == 1;
      },
      10s));
  std::this_thread::sleep_for(1200ms);
  for (auto& r : replicas) r->elector->stop();
  sampler.finish();
  CHECK_FALSE(sampler.timeline.bothLed());
  CHECK(sampler.timeline.disjoint());
}
