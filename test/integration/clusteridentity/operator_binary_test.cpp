// The operator binary against kubesim, the way a user runs it: identity within a second of
// startup, stable across restarts, two replicas agree, delete + re-apply restores, a pin wins,
// published ConfigMaps are created and repaired, and the operator never asks for Namespaces or
// anything in kube-system, and the example worker pod reads the published identity from its env.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <memory>
#include <sstream>

#include "controllers/clusteridentity/uid.h"
#include "test/integration/clusteridentity/kubesim_env.h"
#include "test/support/operator_process.h"

using controllers::clusteridentity::isUuidV4;
using identitytest::KubesimEnv;
using testsupport::OperatorProcess;
using testsupport::waitFor;

namespace {

const std::string kOperatorUser = "system:serviceaccount:flowrun-operator:flowrun-operator";

kubesim::json identityObject(kubesim::Simulator& sim) {
  try {
    return sim.store().get("clusteridentities.prefect.io", "", "cluster");
  } catch (const std::exception&) {
    return kubesim::json::object();
  }
}

std::string statusField(kubesim::Simulator& sim, const std::string& field) {
  auto o = identityObject(sim);
  if (!o.contains("status") || !o["status"].contains(field)) return "";
  return o["status"][field].is_string() ? o["status"][field].get<std::string>()
                                        : o["status"][field].dump();
}

// True once the operator has acted on the object's current spec.
bool observedCurrentSpec(kubesim::Simulator& sim) {
  auto o = identityObject(sim);
  return o.contains("status") && o["status"].contains("observedGeneration") &&
         o["status"]["observedGeneration"] == o["metadata"]["generation"];
}

std::string configMapUid(kubesim::Simulator& sim, const std::string& ns, const std::string& name) {
  try {
    auto cm = sim.store().get("configmaps", ns, name);
    return cm["data"].value("uid", "");
  } catch (const std::exception&) {
    return "";
  }
}

struct BinaryEnv : KubesimEnv {
  std::string operatorKubeconfig;
  int started = 0;
  BinaryEnv() {
    operatorKubeconfig = sim.writeKubeconfig(dir.file("operator.kubeconfig"), kOperatorUser);
  }
  std::unique_ptr<OperatorProcess> startOperator(const std::vector<std::string>& args = {}) {
    REQUIRE(std::filesystem::exists(testsupport::operatorBinary()));
    return std::make_unique<OperatorProcess>(
        operatorKubeconfig, dir.file("operator-" + std::to_string(++started) + ".log"), args);
  }
  void checkOperatorRequests() {
    std::size_t seen = 0;
    for (const auto& r : sim.requestLog().snapshot()) {
      if (r.user != kOperatorUser) continue;
      ++seen;
      INFO(r.verb << " " << r.path);
      CHECK(r.resource != "namespaces");
      CHECK(r.ns != "kube-system");
    }
    CHECK(seen > 0);
  }
};

}  // namespace

TEST_CASE("binary: identity within a second of startup, stable across 10 restarts", "[binary]") {
  BinaryEnv env;
  const auto t0 = std::chrono::steady_clock::now();
  auto op = env.startOperator();
  const bool assigned = waitFor([&] { return !statusField(env.sim, "uid").empty(); },
                                std::chrono::seconds(15), std::chrono::milliseconds(5));
  const auto elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  INFO(op->log());
  REQUIRE(assigned);
  WARN("identity assigned " << elapsed.count() << " ms after the operator process started");
  CHECK(elapsed <= std::chrono::milliseconds(1000));
  const std::string uid = statusField(env.sim, "uid");
  CHECK(isUuidV4(uid));
  CHECK(statusField(env.sim, "source") == "Generated");
  CHECK(op->stop() == 0);

  for (int restart = 1; restart <= 10; ++restart) {
    // Change the spec while the operator is down, so each run provably reconciles.
    const std::string ns = restart % 2 ? R"(["prefect"])" : R"(["prefect", "data"])";
    REQUIRE(env.kubectl({"patch", "cid", "cluster", "--type", "merge", "-p",
                         "{\"spec\":{\"publish\":{\"namespaces\":" + ns + "}}}"})
                .exitCode == 0);
    auto again = env.startOperator();
    INFO("restart " << restart << "\n" << again->log());
    REQUIRE(waitFor([&] { return observedCurrentSpec(env.sim); }, std::chrono::seconds(15)));
    CHECK(statusField(env.sim, "uid") == uid);
    CHECK(configMapUid(env.sim, "prefect", "prefect-cluster-identity") == uid);
    CHECK(again->stop() == 0);
  }
  CHECK(statusField(env.sim, "source") == "Generated");
  env.checkOperatorRequests();
}

TEST_CASE("binary: two replicas started together agree on one identity", "[binary]") {
  BinaryEnv env;
  auto a = env.startOperator();
  auto b = env.startOperator();
  INFO(a->log() << "\n----\n" << b->log());
  REQUIRE(waitFor([&] { return observedCurrentSpec(env.sim); }, std::chrono::seconds(15)));
  const std::string uid = statusField(env.sim, "uid");
  CHECK(isUuidV4(uid));
  CHECK(configMapUid(env.sim, "flowrun-operator", "flowrun-operator-cluster-identity") == uid);
  // Both keep it: a spec change makes both reconcile again; nobody replaces the identity.
  REQUIRE(env.kubectl({"patch", "cid", "cluster", "--type", "merge", "-p",
                       R"({"spec":{"publish":{"namespaces":["data"]}}})"})
              .exitCode == 0);
  REQUIRE(waitFor([&] { return configMapUid(env.sim, "data", "prefect-cluster-identity") == uid; },
                  std::chrono::seconds(15)));
  REQUIRE(waitFor([&] { return observedCurrentSpec(env.sim); }, std::chrono::seconds(15)));
  CHECK(statusField(env.sim, "uid") == uid);
  auto generated = env.kubectl(
      {"get", "events", "-A", "--field-selector", "reason=IdentityGenerated", "-o", "name"});
  if (generated.exitCode == 0 && !generated.out.empty()) {
    CHECK(std::count(generated.out.begin(), generated.out.end(), '\n') == 1);
  }
}

TEST_CASE("binary: delete + re-apply restores, pin wins, published ConfigMaps are repaired",
          "[binary]") {
  BinaryEnv env;
  auto op = env.startOperator();
  INFO(op->log());
  REQUIRE(waitFor([&] { return !statusField(env.sim, "uid").empty(); }, std::chrono::seconds(15)));
  const std::string uid = statusField(env.sim, "uid");

  // Argo CD Replace: delete, then create from Git (with publishing).
  const std::string manifest = R"(apiVersion: prefect.io/v1alpha1
kind: ClusterIdentity
metadata: {name: cluster}
spec:
  publish:
    configMapName: prefect-cluster-identity
    namespaces: [prefect, data, not-there]
)";
  REQUIRE(env.kubectl({"delete", "cid", "cluster"}).exitCode == 0);
  REQUIRE(env.kubectl({"create", "-f", "-"}, manifest).exitCode == 0);
  REQUIRE(waitFor([&] { return statusField(env.sim, "source") == "Restored"; },
                  std::chrono::seconds(15)));
  CHECK(statusField(env.sim, "uid") == uid);
  for (const char* ns : {"prefect", "data"}) {
    REQUIRE(waitFor([&] { return configMapUid(env.sim, ns, "prefect-cluster-identity") == uid; },
                    std::chrono::seconds(15)));
  }
  REQUIRE(
      waitFor([&] { return env.ready("reason") == "PublishFailed"; }, std::chrono::seconds(15)));
  CHECK_THAT(env.ready("message"), Catch::Contains("\"not-there\" does not exist"));

  // Repair: delete one copy, edit another.
  REQUIRE(env.kubectl({"delete", "cm", "-n", "data", "prefect-cluster-identity"}).exitCode == 0);
  REQUIRE(waitFor([&] { return configMapUid(env.sim, "data", "prefect-cluster-identity") == uid; },
                  std::chrono::seconds(15)));
  REQUIRE(env.kubectl({"patch", "cm", "-n", "prefect", "prefect-cluster-identity", "--type",
                       "merge", "-p", R"({"data":{"uid":"edited"}})"})
              .exitCode == 0);
  REQUIRE(
      waitFor([&] { return configMapUid(env.sim, "prefect", "prefect-cluster-identity") == uid; },
              std::chrono::seconds(15)));

  // A pin wins, everywhere.
  const std::string pin = "0d9c8b7a-6f5e-4d3c-8b2a-19f8e7d6c5b4";
  REQUIRE(env.kubectl({"patch", "cid", "cluster", "--type", "merge", "-p",
                       "{\"spec\":{\"uid\":\"" + pin + "\"}}"})
              .exitCode == 0);
  REQUIRE(waitFor([&] { return statusField(env.sim, "uid") == pin; }, std::chrono::seconds(15)));
  CHECK(statusField(env.sim, "source") == "Pinned");
  for (const char* ns : {"prefect", "data"}) {
    CHECK(waitFor([&] { return configMapUid(env.sim, ns, "prefect-cluster-identity") == pin; },
                  std::chrono::seconds(15)));
  }
  CHECK(op->stop() == 0);
  env.checkOperatorRequests();
}

TEST_CASE("binary: --cluster-uid pins the identity", "[binary]") {
  BinaryEnv env;
  auto op = env.startOperator({"--cluster-uid", "my-old-kube-system-uid"});
  INFO(op->log());
  REQUIRE(waitFor([&] { return statusField(env.sim, "uid") == "my-old-kube-system-uid"; },
                  std::chrono::seconds(15)));
  CHECK(statusField(env.sim, "source") == "Pinned");
}

TEST_CASE("binary: the example worker's pod waits for the published identity, then reads it",
          "[binary]") {
  // The cluster actors on: the kubelet resolves the worker's configMapKeyRef.
  kubesim::SimulatorOptions o;
  o.timeScale = 0.1;
  KubesimEnv env(o);
  const std::string operatorKubeconfig =
      env.sim.writeKubeconfig(env.dir.file("operator.kubeconfig"), kOperatorUser);

  // The pod of examples/prefect-worker-deployment.yaml, as its Deployment would create it; its
  // scenario prints the identity the container was given.
  auto rendered =
      env.kubectl({"create", "--dry-run=client", "-o", "json", "-f",
                   testsupport::sourceDir() + "/examples/prefect-worker-deployment.yaml"});
  REQUIRE(rendered.exitCode == 0);
  kubesim::json deployment;
  std::istringstream objects(rendered.out);  // one JSON object per document
  while (objects >> std::ws && !objects.eof()) {
    kubesim::json item;
    objects >> item;
    if (item["kind"] == "Deployment") deployment = item;
  }
  REQUIRE(deployment.is_object());
  kubesim::json pod = {{"apiVersion", "v1"},
                       {"kind", "Pod"},
                       {"metadata", deployment["spec"]["template"]["metadata"]},
                       {"spec", deployment["spec"]["template"]["spec"]}};
  pod["metadata"]["name"] = "prefect-worker";
  pod["metadata"]["namespace"] = "prefect";
  pod["metadata"]["annotations"]["kubesim.io/scenario"] =
      "log \"cluster uid: $(PREFECT_KUBERNETES_CLUSTER_UID)\"; run 1h";
  REQUIRE(env.kubectl({"apply", "-f", "-"}, pod.dump()).exitCode == 0);

  auto waiting = [&] {
    return env.jsonpath({"pod", "prefect-worker", "-n", "prefect"},
                        "{.status.containerStatuses[0].state.waiting.message}");
  };
  REQUIRE(waitFor([&] { return waiting() == "configmap \"prefect-cluster-identity\" not found"; }));

  // The operator publishes the identity; the pod starts with it.
  REQUIRE(env.kubectl({"apply", "-f", testsupport::sourceDir() + "/examples/clusteridentity.yaml"})
              .exitCode == 0);
  OperatorProcess op(operatorKubeconfig, env.dir.file("operator.log"));
  REQUIRE(waitFor([&] { return isUuidV4(env.uid()); }));
  const std::string uid = env.uid();
  REQUIRE(waitFor([&] {
    return env.jsonpath({"pod", "prefect-worker", "-n", "prefect"}, "{.status.phase}") == "Running";
  }));
  auto logs = env.kubectl({"logs", "prefect-worker", "-n", "prefect"});
  CHECK(logs.out == "cluster uid: " + uid + "\n");
}
