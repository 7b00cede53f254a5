// A controller fed by real informers over HTTP: primary objects and owned objects (through
// their controller ownerReference) reach the reconciler as keys.
#include <catch2/catch.hpp>

#include <map>
#include <mutex>

#include "operator/kube/informer.h"
#include "operator/runtime/controller.h"
#include "test/integration/runtime/runtime_env.h"

using namespace std::chrono_literals;
using kube::json;

namespace {
class CountingReconciler : public runtime::Reconciler {
 public:
  runtime::ReconcileOutcome reconcile(const runtime::ObjectKey& key) override {
    std::lock_guard l(mu);
    ++calls[key.str()];
    return runtime::ReconcileOutcome::done();
  }
  int count(const std::string& k) {
    std::lock_guard l(mu);
    return calls[k];
  }
  std::mutex mu;
  std::map<std::string, int> calls;
};
}  // namespace

TEST_CASE("kubesim: controller reconciles primaries and owners of changed dependents",
          "[kubesim][controller]") {
  runtimetest::KubesimEnv env({"data"});
  auto client = env.client();
  // Primary: ConfigMaps; owned: Secrets controlled by a ConfigMap.
  auto cm = client->create(kube::resources::ConfigMaps, "data",
                           {{"apiVersion", "v1"},
                            {"kind", "ConfigMap"},
                            {"metadata", {{"name", "owner"}, {"namespace", "data"}}}});
  REQUIRE(cm.ok());
  auto cmType = kube::resources::ConfigMaps;
  auto cmInformer = kube::makeInformer(*client, cmType, {});
  auto secretInformer = kube::makeInformer(*client, kube::resources::Secrets, {});
  runtime::MetricsRegistry metrics;
  CountingReconciler rec;
  runtime::ControllerOptions o;
  o.maxConcurrentReconciles = 2;
  o.metrics = &metrics;
  runtime::Controller controller("configmaps", rec, std::move(o));
  controller.forKind(cmType, *cmInformer).owns(*secretInformer);
  cmInformer->start();
  secretInformer->start();
  REQUIRE_FALSE(controller.start(20s));
  REQUIRE(testsupport::waitFor([&] { return rec.count("data/owner") == 1; }, 20s));

  json secret = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata",
                  {{"name", "owned"},
                   {"namespace", "data"},
                   {"ownerReferences",
                    {{{"apiVersion", "v1"},
                      {"kind", "ConfigMap"},
                      {"name", "owner"},
                      {"uid", cm.value()["metadata"]["uid"]},
                      {"controller", true}}}}}},
                 {"stringData", {{"password", "hunter2"}}}};
  REQUIRE(client->create(kube::resources::Secrets, "data", secret).ok());
  REQUIRE(testsupport::waitFor([&] { return rec.count("data/owner") >= 2; }, 20s));
  int before = rec.count("data/owner");
  REQUIRE(client->remove(kube::resources::Secrets, "data", "owned").ok());
  REQUIRE(testsupport::waitFor([&] { return rec.count("data/owner") > before; }, 20s));
  CHECK(rec.count("data/owned") == 0);  // a dependent is never reconciled as a primary

  CHECK(controller.stop(5s));
  cmInformer->stop();
  secretInformer->stop();
  auto text = metrics.render();
  CHECK(text.find(
            "controller_runtime_reconcile_total{controller=\"configmaps\",result=\"success\"}") !=
        std::string::npos);
  CHECK(text.find("workqueue_adds_total{name=\"configmaps\"}") != std::string::npos);
}
