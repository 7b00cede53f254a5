// The ClusterIdentity reconciler in-process, talking to kubesim over the real HTTP client, while
// the user acts through kubectl. The caches are left empty here (every read goes to the server),
// which is the reconciler's slowest path and must still be correct; the operator-binary tests
// cover the informer-fed wiring.
#include <catch2/catch.hpp>

#include <memory>
#include <mutex>
#include <thread>

#include "controllers/clusteridentity/reconciler.h"
#include "controllers/clusteridentity/uid.h"
#include "operator/kube/http_client.h"
#include "operator/kube/kubeconfig.h"
#include "test/integration/clusteridentity/kubesim_env.h"

using namespace controllers::clusteridentity;
using identitytest::KubesimEnv;

namespace {

class EmptyStore : public kube::Store {
 public:
  kube::ObjectPtr get(const std::string&, const std::string&) const override { return nullptr; }
  std::vector<kube::ObjectPtr> list(const std::string&) const override { return {}; }
  std::vector<kube::ObjectPtr> byIndex(const std::string&, const std::string&) const override {
    return {};
  }
  bool hasSynced() const override { return true; }
  std::size_t size() const override { return 0; }
};

class MemoryRecorder : public runtime::EventRecorder {
 public:
  void record(const kube::json&, const std::string& type, const std::string& reason,
              const std::string& message) override {
    std::lock_guard<std::mutex> l(mu_);
    events_.push_back(type + " " + reason + ": " + message);
  }
  std::size_t count(const std::string& reason) {
    std::lock_guard<std::mutex> l(mu_);
    std::size_t n = 0;
    for (const auto& e : events_) n += e.find(" " + reason + ":") != std::string::npos;
    return n;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> events_;
};

// One operator replica: its own HTTP client and reconciler.
struct Replica {
  std::unique_ptr<kube::Client> client;
  EmptyStore identities, configMaps;
  MemoryRecorder recorder;
  std::unique_ptr<ClusterIdentityReconciler> reconciler;

  explicit Replica(const std::string& kubeconfig, ClusterIdentityOptions options = defaults()) {
    auto config = kube::loadRestConfig(kubeconfig);
    REQUIRE(config.ok());
    client = kube::makeHttpClient(config.value());
    reconciler = std::make_unique<ClusterIdentityReconciler>(*client, identities, configMaps,
                                                             recorder, std::move(options));
  }
  static ClusterIdentityOptions defaults() {
    ClusterIdentityOptions o;
    o.operatorNamespace = "flowrun-operator";
    o.backupConfigMap = "flowrun-operator-cluster-identity";
    o.recreateDelay = std::chrono::milliseconds(0);
    return o;
  }
  runtime::ReconcileOutcome run() { return reconciler->reconcile(reconciler->key()); }
  std::string uid() { return reconciler->provider().clusterUid().value_or(""); }
};

}  // namespace

TEST_CASE("in-process: generate, restore after delete + re-apply, pin, invalid pin", "[kubesim]") {
  KubesimEnv env;
  Replica op(env.kubeconfig);
  REQUIRE(op.run().kind == runtime::ReconcileOutcome::Kind::Done);
  const std::string uid = env.uid();
  CHECK(isUuidV4(uid));
  CHECK(env.source() == "Generated");
  CHECK(env.ready() == "True");
  CHECK(op.uid() == uid);
  auto table = env.kubectl({"get", "cid"});
  CHECK_THAT(table.out, Catch::Contains(uid));
  CHECK_THAT(table.out, Catch::Contains("Generated"));
  CHECK(env.jsonpath({"cm", "-n", "flowrun-operator", "flowrun-operator-cluster-identity"},
                     "{.data.uid}") == uid);

  // Argo CD style replace: delete, then apply the manifest from Git.
  const std::string manifest = R"(apiVersion: prefect.io/v1alpha1
kind: ClusterIdentity
metadata: {name: cluster}
spec: {}
)";
  REQUIRE(env.kubectl({"delete", "cid", "cluster"}).exitCode == 0);
  REQUIRE(env.kubectl({"apply", "-f", "-"}, manifest).exitCode == 0);
  op.run();
  CHECK(env.uid() == uid);
  CHECK(env.source() == "Restored");
  CHECK(op.recorder.count("IdentityRestored") == 1);

  // The operator re-creates it itself when nobody does.
  REQUIRE(env.kubectl({"delete", "cid", "cluster"}).exitCode == 0);
  op.run();
  CHECK(env.uid() == uid);

  // A pin wins.
  REQUIRE(env.kubectl({"patch", "cid", "cluster", "--type", "merge", "-p",
                       R"({"spec":{"uid":"d1b6fb3c-9a0e-4f7e-8a51-0c2f4e6a7b19"}})"})
              .exitCode == 0);
  op.run();
  CHECK(env.uid() == "d1b6fb3c-9a0e-4f7e-8a51-0c2f4e6a7b19");
  CHECK(env.source() == "Pinned");
  CHECK(op.recorder.count("IdentityReplaced") == 1);
  CHECK(env.jsonpath({"cid", "cluster"}, "{.status.observedGeneration}") ==
        env.jsonpath({"cid", "cluster"}, "{.metadata.generation}"));

  // A pin that is not an identifier: clear message, identity kept.
  REQUIRE(env.kubectl({"patch", "cid", "cluster", "--type", "merge", "-p",
                       R"({"spec":{"uid":"prod:eu"}})"})
              .exitCode == 0);
  op.run();
  CHECK(env.uid() == "d1b6fb3c-9a0e-4f7e-8a51-0c2f4e6a7b19");
  CHECK(env.ready() == "False");
  CHECK(env.ready("reason") == "InvalidSpec");
  CHECK_THAT(env.ready("message"), Catch::Contains("contains ':'"));
  CHECK(op.uid() == "d1b6fb3c-9a0e-4f7e-8a51-0c2f4e6a7b19");
}

TEST_CASE("in-process: two replicas racing on a fresh cluster agree", "[kubesim]") {
  KubesimEnv env;
  REQUIRE(env.kubectl({"apply", "-f", "-"},
                      "apiVersion: prefect.io/v1alpha1\nkind: ClusterIdentity\n"
                      "metadata: {name: cluster}\nspec: {}\n")
              .exitCode == 0);
  Replica a(env.kubeconfig), b(env.kubeconfig);
  std::thread ta([&] { a.run(); });
  std::thread tb([&] { b.run(); });
  ta.join();
  tb.join();
  // A replica that lost may need its next (event-triggered) reconcile to settle; one is enough.
  a.run();
  b.run();
  CHECK(isUuidV4(env.uid()));
  CHECK(a.uid() == env.uid());
  CHECK(b.uid() == env.uid());
  CHECK(a.recorder.count("IdentityGenerated") + b.recorder.count("IdentityGenerated") == 1);
}

TEST_CASE("in-process: publishing to namespaces, repair, and a missing namespace", "[kubesim]") {
  KubesimEnv env;
  REQUIRE(env.kubectl({"apply", "-f", "-"}, R"(apiVersion: prefect.io/v1alpha1
kind: ClusterIdentity
metadata: {name: cluster}
spec:
  publish:
    namespaces: [prefect, nowhere, data]
)")
              .exitCode == 0);
  const std::string user = "system:serviceaccount:flowrun-operator:flowrun-operator";
  Replica op(env.sim.writeKubeconfig(env.dir.file("operator.kubeconfig"), user));
  auto out = op.run();
  CHECK(out.kind == runtime::ReconcileOutcome::Kind::RequeueAfter);
  const std::string uid = env.uid();
  REQUIRE(isUuidV4(uid));
  for (const char* ns : {"prefect", "data"}) {
    CHECK(env.jsonpath({"cm", "-n", ns, "prefect-cluster-identity"}, "{.data.uid}") == uid);
    CHECK(env.jsonpath({"cm", "-n", ns, "prefect-cluster-identity"},
                       "{.metadata.ownerReferences}") == "");
  }
  CHECK(env.ready("reason") == "PublishFailed");
  CHECK_THAT(env.ready("message"), Catch::Contains("namespace \"nowhere\" does not exist"));
  CHECK(env.jsonpath({"cid", "cluster"}, "{.status.publishedNamespaces}") ==
        R"(["prefect","data"])");

  REQUIRE(env.kubectl({"delete", "cm", "-n", "data", "prefect-cluster-identity"}).exitCode == 0);
  REQUIRE(env.kubectl({"patch", "cm", "-n", "prefect", "prefect-cluster-identity", "--type",
                       "merge", "-p", R"({"data":{"uid":"edited"}})"})
              .exitCode == 0);
  env.createNamespace("nowhere");
  CHECK(op.run().kind == runtime::ReconcileOutcome::Kind::Done);
  for (const char* ns : {"prefect", "data", "nowhere"}) {
    CHECK(env.jsonpath({"cm", "-n", ns, "prefect-cluster-identity"}, "{.data.uid}") == uid);
  }
  CHECK(env.ready() == "True");

  // Nothing the reconciler did touched Namespace objects or kube-system.
  std::size_t requests = 0;
  for (const auto& r : env.sim.requestLog().snapshot()) {
    if (r.user != user) continue;
    ++requests;
    INFO(r.verb << " " << r.path);
    CHECK(r.resource != "namespaces");
    CHECK(r.ns != "kube-system");
  }
  CHECK(requests > 0);
}
