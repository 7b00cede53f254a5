#include <catch2/catch.hpp>

#include <atomic>

#include "operator/runtime/graceful_shutdown.h"
#include "test/support/process.h"
#include "test/unit/runtime/fake_client.h"
#include "test/unit/runtime/fake_informer.h"

using namespace std::chrono_literals;

namespace {
runtime::Logger quietLogger() {
  return runtime::Logger(runtime::LogFormat::Json, runtime::LogLevel::Error,
                         [](std::string_view) {});
}
}  // namespace

TEST_CASE("graceful shutdown finishes in-flight reconciles before releasing the lease",
          "[shutdown]") {
  runtimetest::FakeClient api;
  runtime::MetricsRegistry reg;
  std::atomic<bool> entered{false};
  std::atomic<bool> leaseHeldAtEnd{false};

  struct SlowReconciler : runtime::Reconciler {
    std::function<void()> body;
    runtime::ReconcileOutcome reconcile(const runtime::ObjectKey&) override {
      body();
      return runtime::ReconcileOutcome::done();
    }
  } rec;
  rec.body = [&] {
    entered = true;
    std::this_thread::sleep_for(150ms);
    auto lease = api.get(kube::resources::Leases, "ops", "op");
    leaseHeldAtEnd = lease.ok() && lease.value()["spec"]["holderIdentity"] == "me";
  };

  runtimetest::FakeInformer informer;
  runtime::ControllerOptions co;
  co.metrics = &reg;
  co.logger = quietLogger();
  runtime::Controller controller("c", rec, std::move(co));
  controller.forKind(kube::resources::FlowRuns, informer);
  informer.start();

  runtime::LeaseElectorOptions eo;
  eo.leaseName = "op";
  eo.leaseNamespace = "ops";
  eo.identity = "me";
  eo.metrics = &reg;
  eo.logger = quietLogger();
  runtime::LeaseElector elector(api, eo);
  REQUIRE_FALSE(elector.start());
  REQUIRE(testsupport::waitFor([&] { return elector.isLeader(); }, 5s));

  runtime::HttpServer probes("health");
  runtime::addHealthProbes(probes, {});
  REQUIRE_FALSE(probes.start("127.0.0.1:0"));

  REQUIRE_FALSE(controller.start(1s));
  controller.enqueue({"ns", "a"});
  REQUIRE(testsupport::waitFor([&] { return entered.load(); }, 5s));

  runtime::ShutdownPlan plan;
  plan.controllers = {&controller};
  plan.elector = &elector;
  plan.informers = {&informer};
  plan.servers = {&probes};
  CHECK(runtime::gracefulShutdown(plan, 5s));
  CHECK(leaseHeldAtEnd);  // the lease was still ours while the reconcile ran
  auto lease = api.get(kube::resources::Leases, "ops", "op");
  REQUIRE(lease.ok());
  CHECK(lease.value()["spec"]["holderIdentity"] == "");  // released afterwards
  CHECK_FALSE(probes.enabled());
}
