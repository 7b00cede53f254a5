#pragma once
// A kubesim cluster with our CRDs applied through kubectl, for the ClusterIdentity tests.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "test/kubesim/simulator.h"
#include "test/support/process.h"

namespace identitytest {

struct KubesimEnv {
  testsupport::TempDir dir;
  kubesim::Simulator sim;
  std::string kubeconfig;

  explicit KubesimEnv(kubesim::SimulatorOptions options = quiet()) : sim(options) {
    sim.start();
    kubeconfig = sim.writeKubeconfig(dir.file("kubeconfig"));
    auto applied = kubectl({"apply", "-f", testsupport::sourceDir() + "/crds/"});
    INFO(applied.out << applied.err);
    REQUIRE(applied.exitCode == 0);
    for (const char* ns : {"flowrun-operator", "prefect", "data"}) createNamespace(ns);
  }
  void createNamespace(const std::string& ns) {
    auto created = kubectl({"apply", "-f", "-"},
                           "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns + "\n");
    INFO(created.out << created.err);
    REQUIRE(created.exitCode == 0);
  }
  static kubesim::SimulatorOptions quiet() {
    kubesim::SimulatorOptions o;
    o.runCluster = false;  // no kubelet or Job controller needed here
    return o;
  }
  testsupport::ProcessResult kubectl(const std::vector<std::string>& args,
                                     const std::string& input = "") {
    return testsupport::kubectl(kubeconfig, args, input);
  }
  // `kubectl get ... -o jsonpath=EXPR`, "" when it fails.
  std::string jsonpath(const std::vector<std::string>& what, const std::string& expr) {
    std::vector<std::string> args = {"get"};
    args.insert(args.end(), what.begin(), what.end());
    args.push_back("-o");
    args.push_back("jsonpath=" + expr);
    auto r = kubectl(args);
    return r.exitCode == 0 ? r.out : "";
  }
  std::string uid() { return jsonpath({"clusteridentity", "cluster"}, "{.status.uid}"); }
  std::string source() { return jsonpath({"clusteridentity", "cluster"}, "{.status.source}"); }
  std::string ready(const std::string& field = "status") {
    return jsonpath({"clusteridentity", "cluster"},
                    "{.status.conditions[?(@.type==\"Ready\")]." + field + "}");
  }
};

}  // namespace identitytest
