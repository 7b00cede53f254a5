#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <vector>

#include "operator/runtime/leader_election.h"
#include "test/support/process.h"
#include "test/unit/runtime/fake_client.h"
#include "test/unit/runtime/proxy_client.h"

using namespace std::chrono_literals;
using runtime::LeaseElector;
using runtime::LeaseElectorOptions;
using runtimetest::FakeClient;
using runtimetest::ProxyClient;
using Steady = std::chrono::steady_clock;

namespace {

struct Interval {
  Steady::time_point start, end;
};

// One candidate with its own faults, recording when it led.
struct Candidate {
  ProxyClient client;
  std::unique_ptr<LeaseElector> elector;
  std::mutex mu;
  std::vector<Interval> led;
  std::atomic<int> started{0}, stopped{0};

  Candidate(FakeClient& api, const std::string& id, runtime::MetricsRegistry& reg) : client(api) {
    LeaseElectorOptions o;
    o.leaseName = "flowrun-operator";
    o.leaseNamespace = "ops";
    o.identity = id;
    o.leaseDuration = 1000ms;
    o.renewDeadline = 600ms;
    o.retryPeriod = 100ms;
    o.metrics = &reg;
    o.logger = runtime::Logger(runtime::LogFormat::Json, runtime::LogLevel::Error,
                               [](std::string_view) {});
    o.onStartedLeading = [this] { ++started; };
    o.onStoppedLeading = [this] { ++stopped; };
    elector = std::make_unique<LeaseElector>(client, std::move(o));
  }
};

// Samples both electors until `until` and fails if both ever claim to lead.
bool neverBothLead(Candidate& a, Candidate& b, std::chrono::milliseconds span) {
  auto end = Steady::now() + span;
  while (Steady::now() < end) {
    if (a.elector->isLeader() && b.elector->isLeader()) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

TEST_CASE("an elector creates the lease, renews it and releases it on stop", "[leader]") {
  FakeClient api;
  runtime::MetricsRegistry reg;
  Candidate a(api, "a", reg);
  REQUIRE_FALSE(a.elector->start());
  REQUIRE(testsupport::waitFor([&] { return a.elector->isLeader(); }, 5s));
  REQUIRE(testsupport::waitFor([&] { return a.started == 1; }, 5s));
  auto lease = api.get(kube::resources::Leases, "ops", "flowrun-operator");
  REQUIRE(lease.ok());
  auto spec = lease.value()["spec"];
  CHECK(spec["holderIdentity"] == "a");
  CHECK(spec["leaseDurationSeconds"] == 1);
  CHECK(spec["leaseTransitions"] == 0);
  CHECK(spec["acquireTime"].get<std::string>().size() == 27);  // 2026-..T..:..:...ffffffZ
  CHECK(reg.gauge("leader_election_master_status", "", {{"name", "flowrun-operator"}}).value() ==
        1);
  // renewals keep coming
  int renews = api.writeCount("leases:update");
  REQUIRE(testsupport::waitFor([&] { return api.writeCount("leases:update") >= renews + 2; }, 5s));
  CHECK(a.elector->isLeader());

  a.elector->stop();
  CHECK_FALSE(a.elector->isLeader());
  CHECK(a.stopped == 0);  // a voluntary stop is not a loss
  auto released = api.get(kube::resources::Leases, "ops", "flowrun-operator").value()["spec"];
  CHECK(released["holderIdentity"] == "");
  CHECK(released["leaseDurationSeconds"] == 1);
  CHECK(reg.gauge("leader_election_master_status", "", {{"name", "flowrun-operator"}}).value() ==
        0);
}

TEST_CASE("of two candidates one leads, a release hands over at the next retry", "[leader]") {
  FakeClient api;
  runtime::MetricsRegistry reg;
  Candidate a(api, "a", reg), b(api, "b", reg);
  REQUIRE_FALSE(a.elector->start());
  REQUIRE(testsupport::waitFor([&] { return a.elector->isLeader(); }, 5s));
  REQUIRE_FALSE(b.elector->start());
  CHECK(neverBothLead(a, b, 1500ms));  // longer than a lease duration: b must keep waiting
  CHECK_FALSE(b.elector->isLeader());
  CHECK(b.elector->observedLeader() == "a");

  auto t0 = Steady::now();
  a.elector->stop();
  REQUIRE(testsupport::waitFor([&] { return b.elector->isLeader(); }, 5s, 1ms));
  auto takeover = Steady::now() - t0;
  CHECK(takeover < 500ms);  // a retry period (+ jitter), not a lease duration
  auto spec = api.get(kube::resources::Leases, "ops", "flowrun-operator").value()["spec"];
  CHECK(spec["holderIdentity"] == "b");
  CHECK(spec["leaseTransitions"] == 1);
  b.elector->stop();
}

TEST_CASE(
    "a leader that cannot renew stops leading at the renew deadline, before the standby "
    "takes over",
    "[leader]") {
  FakeClient api;
  runtime::MetricsRegistry reg;
  Candidate a(api, "a", reg), b(api, "b", reg);
  REQUIRE_FALSE(a.elector->start());
  REQUIRE(testsupport::waitFor([&] { return a.elector->isLeader(); }, 5s));
  REQUIRE_FALSE(b.elector->start());
  REQUIRE(testsupport::waitFor([&] { return b.elector->observedLeader() == "a"; }, 5s));

  SECTION("partitioned (requests fail)") {
    a.client.setFailing(true);
  }
  SECTION("hung (requests block)") {
    a.client.setBlocked(true);
  }

  auto t0 = Steady::now();
  std::atomic<bool> overlap{false};
  std::thread sampler([&] {
    if (!neverBothLead(a, b, 2500ms)) overlap = true;
  });
  REQUIRE(testsupport::waitFor([&] { return a.stopped == 1; }, 5s, 1ms));
  auto lostAfter = Steady::now() - t0;
  CHECK(lostAfter <= 800ms);  // renew deadline: 600 ms after the last successful renew was sent
  CHECK(a.elector->lost());
  CHECK_FALSE(a.elector->isLeader());
  REQUIRE(testsupport::waitFor([&] { return b.elector->isLeader(); }, 5s, 1ms));
  CHECK(Steady::now() - t0 >= 800ms);  // only after the lease expired from b's view
  sampler.join();
  CHECK_FALSE(overlap);
  a.client.setBlocked(false);
  a.elector->stop();
  b.elector->stop();
  CHECK(a.started == 1);
  CHECK(b.started == 1);
}

TEST_CASE("elector options are validated", "[leader]") {
  FakeClient api;
  runtime::MetricsRegistry reg;
  LeaseElectorOptions o;
  o.leaseNamespace = "ops";
  o.metrics = &reg;
  o.renewDeadline = o.leaseDuration;
  LeaseElector e(api, o);
  auto err = e.start();
  REQUIRE(err);
  CHECK(err->find("lease duration must be greater than the renew deadline") != std::string::npos);
  LeaseElectorOptions p;
  p.metrics = &reg;
  LeaseElector f(api, p);
  REQUIRE(f.start());
  CHECK(f.start()->find("namespace") != std::string::npos);
  CHECK(runtime::formatMicroTime(std::chrono::system_clock::time_point(
            std::chrono::microseconds(1700000000123456))) == "2023-11-14T22:13:20.123456Z");
  CHECK(runtime::defaultLeaderIdentity().find('_') != std::string::npos);
}
