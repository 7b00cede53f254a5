#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>

#include "operator/runtime/controller.h"
#include "test/support/process.h"
#include "test/unit/runtime/fake_informer.h"

using namespace std::chrono_literals;
using kube::json;
using runtime::Controller;
using runtime::ObjectKey;
using runtime::ReconcileOutcome;
using runtimetest::FakeInformer;

namespace {

json obj(const std::string& apiVersion, const std::string& kind, const std::string& ns,
         const std::string& name, json owners = json::array()) {
  return {
      {"apiVersion", apiVersion},
      {"kind", kind},
      {"metadata",
       {{"namespace", ns}, {"name", name}, {"uid", name + "-uid"}, {"ownerReferences", owners}}}};
}

json controllerRef(const std::string& apiVersion, const std::string& kind,
                   const std::string& name) {
  return {{"apiVersion", apiVersion},
          {"kind", kind},
          {"name", name},
          {"uid", name + "-uid"},
          {"controller", true}};
}

// Records calls; returns scripted outcomes per key (default done).
class ScriptedReconciler : public runtime::Reconciler {
 public:
  ReconcileOutcome reconcile(const ObjectKey& key) override {
    std::unique_lock l(mu);
    calls.push_back(key.str());
    ++count[key.str()];
    auto it = script.find(key.str());
    std::function<ReconcileOutcome()> fn;
    if (it != script.end()) fn = it->second;
    l.unlock();
    if (fn) return fn();
    return ReconcileOutcome::done();
  }
  int calls_for(const std::string& k) {
    std::lock_guard l(mu);
    return count[k];
  }
  std::vector<std::string> allCalls() {
    std::lock_guard l(mu);
    return calls;
  }
  std::mutex mu;
  std::vector<std::string> calls;
  std::map<std::string, int> count;
  std::map<std::string, std::function<ReconcileOutcome()>> script;
};

runtime::ControllerOptions options(runtime::MetricsRegistry& reg, int workers = 2) {
  runtime::ControllerOptions o;
  o.maxConcurrentReconciles = workers;
  o.metrics = &reg;
  o.logger =
      runtime::Logger(runtime::LogFormat::Json, runtime::LogLevel::Error, [](std::string_view) {});
  return o;
}

}  // namespace

TEST_CASE("controllerOwnerKey follows only the controller reference of the primary kind",
          "[controller]") {
  auto fr = kube::resources::FlowRuns;
  auto job = obj("batch/v1", "Job", "data", "j1",
                 json::array({controllerRef("prefect.io/v1alpha1", "FlowRun", "run-1")}));
  CHECK(Controller::controllerOwnerKey(job, fr) == ObjectKey{"data", "run-1"});
  // another version of the same group still matches (controller-runtime matches group/kind)
  auto job2 = obj("batch/v1", "Job", "data", "j2",
                  json::array({controllerRef("prefect.io/v1beta1", "FlowRun", "run-2")}));
  CHECK(Controller::controllerOwnerKey(job2, fr) == ObjectKey{"data", "run-2"});
  auto otherGroup = obj("batch/v1", "Job", "data", "j3",
                        json::array({controllerRef("example.com/v1", "FlowRun", "x")}));
  CHECK_FALSE(Controller::controllerOwnerKey(otherGroup, fr));
  auto notController = json::array({controllerRef("prefect.io/v1alpha1", "FlowRun", "y")});
  notController[0]["controller"] = false;
  CHECK_FALSE(Controller::controllerOwnerKey(obj("v1", "Pod", "data", "p", notController), fr));
  CHECK_FALSE(Controller::controllerOwnerKey(obj("v1", "Pod", "data", "p"), fr));
  CHECK_FALSE(Controller::controllerOwnerKey(json("garbage"), fr));
  // a cluster-scoped owner has no namespace in its key
  auto cid = kube::resources::ClusterIdentities;
  auto cm = obj("v1", "ConfigMap", "prefect", "c",
                json::array({controllerRef("prefect.io/v1alpha1", "ClusterIdentity", "cluster")}));
  CHECK(Controller::controllerOwnerKey(cm, cid) == ObjectKey{"", "cluster"});
}

TEST_CASE("primary, owned and mapped watches enqueue the right keys", "[controller]") {
  runtime::MetricsRegistry reg;
  ScriptedReconciler rec;
  FakeInformer flowruns, jobs, pods;
  Controller c("flowrun", rec, options(reg));
  c.forKind(kube::resources::FlowRuns, flowruns).owns(jobs).watches(pods, [](const json& p) {
    std::vector<ObjectKey> keys;
    auto labels = p["metadata"].value("labels", json::object());
    if (labels.contains("prefect.io/flowrun"))
      keys.push_back({p["metadata"]["namespace"], labels["prefect.io/flowrun"]});
    return keys;
  });

  flowruns.add(obj("prefect.io/v1alpha1", "FlowRun", "data", "run-1"));
  jobs.add(obj("batch/v1", "Job", "data", "run-2-job",
               json::array({controllerRef("prefect.io/v1alpha1", "FlowRun", "run-2")})));
  jobs.add(obj("batch/v1", "Job", "data", "orphan"));  // no owner: nothing
  auto pod = obj("v1", "Pod", "data", "run-3-abc");
  pod["metadata"]["labels"] = {{"prefect.io/flowrun", "run-3"}};
  pods.add(pod);
  CHECK(c.queue().len() == 3);

  // Keys wait in the queue until every cache has synced.
  flowruns.setSynced(true);
  jobs.setSynced(true);
  std::thread starter([&] { CHECK_FALSE(c.start(10s).has_value()); });
  std::this_thread::sleep_for(50ms);
  CHECK(rec.allCalls().empty());
  pods.setSynced(true);
  starter.join();
  REQUIRE(testsupport::waitFor([&] { return rec.allCalls().size() == 3; }, 5s));
  auto calls = rec.allCalls();
  CHECK(std::set<std::string>(calls.begin(), calls.end()) ==
        std::set<std::string>{"data/run-1", "data/run-2", "data/run-3"});

  // a deleted owned object still maps to its owner
  jobs.remove(obj("batch/v1", "Job", "data", "run-2-job"));
  REQUIRE(testsupport::waitFor([&] { return rec.calls_for("data/run-2") == 2; }, 5s));
  CHECK(c.stop(5s));
  CHECK(reg.counter("controller_runtime_reconcile_total", "",
                    {{"controller", "flowrun"}, {"result", "success"}})
            .value() == 4);
  CHECK(reg.histogram("controller_runtime_reconcile_time_seconds", "", {{"controller", "flowrun"}})
            .count() == 4);
}

TEST_CASE("outcomes drive the queue: error retries with backoff, terminal and done forget",
          "[controller]") {
  runtime::MetricsRegistry reg;
  ScriptedReconciler rec;
  FakeInformer frs;
  std::atomic<int> failures{0};
  rec.script["ns/flaky"] = [&] {
    return ++failures <= 3 ? ReconcileOutcome::retry("Conflict: try again")
                           : ReconcileOutcome::done();
  };
  rec.script["ns/broken"] = [] { return ReconcileOutcome::terminal("InvalidSpec: bad template"); };
  rec.script["ns/periodic"] = [] { return ReconcileOutcome::after(30ms); };
  Controller c("fr", rec, options(reg));
  c.forKind(kube::resources::FlowRuns, frs);
  frs.setSynced(true);
  REQUIRE_FALSE(c.start(1s));
  c.enqueue({"ns", "flaky"});
  c.enqueue({"ns", "broken"});
  c.enqueue({"ns", "periodic"});
  REQUIRE(testsupport::waitFor([&] { return rec.calls_for("ns/flaky") == 4; }, 5s));
  CHECK(c.queue().numRequeues("ns/flaky") == 0);  // forgotten after success
  REQUIRE(testsupport::waitFor([&] { return rec.calls_for("ns/periodic") >= 3; }, 5s));
  CHECK(c.queue().numRequeues("ns/periodic") == 0);
  std::this_thread::sleep_for(50ms);
  CHECK(rec.calls_for("ns/broken") == 1);  // terminal: not retried
  CHECK(c.queue().numRequeues("ns/broken") == 0);
  c.stop(5s);
  runtime::Labels l{{"controller", "fr"}};
  auto result = [&](const char* r) {
    return reg
        .counter("controller_runtime_reconcile_total", "", {{"controller", "fr"}, {"result", r}})
        .value();
  };
  CHECK(result("error") == 4);  // 3 retries + 1 terminal
  CHECK(reg.counter("controller_runtime_reconcile_errors_total", "", l).value() == 4);
  CHECK(reg.counter("controller_runtime_terminal_reconcile_errors_total", "", l).value() == 1);
  CHECK(result("requeue_after") >= 3);
  CHECK(result("success") == 1);
}

TEST_CASE("an exception escaping reconcile is caught, counted and retried", "[controller]") {
  runtime::MetricsRegistry reg;
  ScriptedReconciler rec;
  FakeInformer frs;
  std::atomic<int> n{0};
  rec.script["ns/boom"] = [&]() -> ReconcileOutcome {
    if (++n == 1) throw std::runtime_error("null deref");
    return ReconcileOutcome::done();
  };
  Controller c("x", rec, options(reg, 1));
  c.forKind(kube::resources::FlowRuns, frs);
  frs.setSynced(true);
  REQUIRE_FALSE(c.start(1s));
  c.enqueue({"ns", "boom"});
  REQUIRE(testsupport::waitFor([&] { return rec.calls_for("ns/boom") == 2; }, 5s));
  c.stop(5s);
  CHECK(
      reg.counter("controller_runtime_reconcile_errors_total", "", {{"controller", "x"}}).value() ==
      1);
}

TEST_CASE("requeue with zero delay is rate limited", "[controller]") {
  runtime::MetricsRegistry reg;
  ScriptedReconciler rec;
  FakeInformer frs;
  std::atomic<int> n{0};
  rec.script["ns/r"] = [&] {
    return ++n < 3 ? ReconcileOutcome::after(0ms) : ReconcileOutcome::done();
  };
  Controller c("rq", rec, options(reg, 1));
  c.forKind(kube::resources::FlowRuns, frs);
  frs.setSynced(true);
  REQUIRE_FALSE(c.start(1s));
  c.enqueue({"ns", "r"});
  REQUIRE(testsupport::waitFor([&] { return rec.calls_for("ns/r") == 3; }, 5s));
  c.stop(5s);
  CHECK(reg.counter("controller_runtime_reconcile_total", "",
                    {{"controller", "rq"}, {"result", "requeue"}})
            .value() == 2);
}

TEST_CASE("one key is never reconciled concurrently, different keys are", "[controller]") {
  runtime::MetricsRegistry reg;
  ScriptedReconciler rec;
  FakeInformer frs;
  std::mutex mu;
  std::map<std::string, int> inFlight;
  std::atomic<bool> overlap{false};
  std::atomic<int> maxParallel{0}, parallel{0};
  auto slow = [&](std::string k) {
    return [&, k] {
      {
        std::lock_guard l(mu);
        if (++inFlight[k] > 1) overlap = true;
      }
      int p = ++parallel;
      int m = maxParallel;
      while (p > m && !maxParallel.compare_exchange_weak(m, p)) {
      }
      std::this_thread::sleep_for(20ms);
      --parallel;
      std::lock_guard l(mu);
      --inFlight[k];
      return ReconcileOutcome::done();
    };
  };
  rec.script["ns/a"] = slow("ns/a");
  rec.script["ns/b"] = slow("ns/b");
  Controller c("conc", rec, options(reg, 4));
  c.forKind(kube::resources::FlowRuns, frs);
  frs.setSynced(true);
  REQUIRE_FALSE(c.start(1s));
  for (int i = 0; i < 10; ++i) {
    c.enqueue({"ns", "a"});
    c.enqueue({"ns", "b"});
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(testsupport::waitFor([&] { return c.queue().len() == 0 && c.queue().processing() == 0; },
                               5s));
  c.stop(5s);
  CHECK_FALSE(overlap);
  CHECK(maxParallel == 2);
}

TEST_CASE("start times out when a cache never syncs, stop interrupts it", "[controller]") {
  runtime::MetricsRegistry reg;
  ScriptedReconciler rec;
  FakeInformer frs;
  Controller c("never", rec, options(reg));
  c.forKind(kube::resources::FlowRuns, frs);
  auto err = c.start(50ms);
  REQUIRE(err);
  CHECK(err->find("timed out") != std::string::npos);
  CHECK_FALSE(c.started());

  Controller d("never2", rec, options(reg));
  d.forKind(kube::resources::FlowRuns, frs);
  std::thread t([&] {
    auto e = d.start(60s);
    CHECK(e.has_value());
  });
  std::this_thread::sleep_for(30ms);
  auto t0 = runtime::Clock::now();
  d.stop(1s);
  t.join();
  CHECK(runtime::Clock::now() - t0 < 5s);
}

TEST_CASE("stop lets an in-flight reconcile finish and reports a missed bound", "[controller]") {
  runtime::MetricsRegistry reg;
  ScriptedReconciler rec;
  FakeInformer frs;
  std::atomic<bool> entered{false}, finished{false};
  rec.script["ns/slow"] = [&] {
    entered = true;
    std::this_thread::sleep_for(100ms);
    finished = true;
    return ReconcileOutcome::done();
  };
  {
    Controller c("stopper", rec, options(reg, 1));
    c.forKind(kube::resources::FlowRuns, frs);
    frs.setSynced(true);
    REQUIRE_FALSE(c.start(1s));
    c.enqueue({"ns", "slow"});
    REQUIRE(testsupport::waitFor([&] { return entered.load(); }, 5s));
    CHECK(c.stop(5s));
    CHECK(finished);
    c.enqueue({"ns", "slow"});  // ignored after stop
    CHECK(c.queue().len() == 0);
  }
  entered = false;
  finished = false;
  Controller c2("stopper2", rec, options(reg, 1));
  c2.forKind(kube::resources::FlowRuns, frs);
  REQUIRE_FALSE(c2.start(1s));
  c2.enqueue({"ns", "slow"});
  REQUIRE(testsupport::waitFor([&] { return entered.load(); }, 5s));
  CHECK_FALSE(c2.stop(10ms));  // bound missed: reported, worker detached
  REQUIRE(testsupport::waitFor([&] { return finished.load(); }, 5s));
}
