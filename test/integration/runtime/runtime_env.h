#pragma once
// An in-process kubesim (no cluster actors) with namespaces, and HTTP clients to it.
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "operator/kube/http_client.h"
#include "operator/kube/kubeconfig.h"
#include "test/kubesim/simulator.h"
#include "test/support/process.h"

namespace runtimetest {

struct KubesimEnv {
  testsupport::TempDir dir;
  kubesim::Simulator sim{options()};
  std::string kubeconfig;

  explicit KubesimEnv(const std::vector<std::string>& namespaces = {"ops"}) {
    sim.start();
    kubeconfig = sim.writeKubeconfig(dir.file("kubeconfig"));
    auto admin = client();
    for (const auto& ns : namespaces) {
      auto r = admin->create(
          kube::resources::Namespaces, "",
          {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}});
      INFO((r.ok() ? std::string() : r.error().describe()));
      REQUIRE(r.ok());
    }
  }
  static kubesim::SimulatorOptions options() {
    kubesim::SimulatorOptions o;
    o.runCluster = false;
    return o;
  }
  // A fresh client: each replica has its own connection, as separate processes would.
  std::unique_ptr<kube::Client> client() {
    auto config = kube::loadRestConfig(kubeconfig);
    REQUIRE(config.ok());
    return kube::makeHttpClient(config.value());
  }
  testsupport::ProcessResult kubectl(const std::vector<std::string>& args) {
    return testsupport::kubectl(kubeconfig, args);
  }
};

}  // namespace runtimetest
