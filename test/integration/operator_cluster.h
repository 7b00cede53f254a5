#pragma once
// A simulated cluster with the operator binary, as the end-to-end tests drive it: an in-process
// kubesim with the CRDs and the given namespaces, the operator started against its kubeconfig
// (again with startOperator(), each start with a log of its own), and kubectl.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "test/kubesim/simulator.h"
#include "test/support/operator_process.h"
#include "test/support/process.h"

namespace testsupport {

struct OperatorCluster {
  TempDir dir;
  kubesim::Simulator sim;
  std::string kubeconfig;
  std::vector<std::string> operatorArgs;
  std::unique_ptr<OperatorProcess> op;
  int starts = 0;

  // `served`: a resource to list before the operator starts (its informers list at once, so the
  // CRDs are served first).
  OperatorCluster(double timeScale, std::vector<std::string> args,
                  const std::vector<std::string>& namespaces, const std::string& served)
      : sim(options(timeScale)), operatorArgs(std::move(args)) {
    using namespace std::chrono_literals;
    sim.start();
    kubeconfig = sim.writeKubeconfig(dir.file("kubeconfig"));
    auto applied = kubectl({"apply", "-f", sourceDir() + "/crds/"});
    INFO(applied.out << applied.err);
    REQUIRE(applied.exitCode == 0);
    for (const auto& ns : namespaces) {
      auto created = kubectl({"create", "namespace", ns});
      INFO(created.err);
      REQUIRE(created.exitCode == 0);
    }
    REQUIRE(waitFor([&] { return kubectl({"get", served, "-A"}).exitCode == 0; }, 20s, 50ms));
    startOperator();
  }
  ~OperatorCluster() {
    if (op) op->stop(std::chrono::seconds(5));
  }
  OperatorCluster(const OperatorCluster&) = delete;
  OperatorCluster& operator=(const OperatorCluster&) = delete;

  void startOperator() {
    op = std::make_unique<OperatorProcess>(
        kubeconfig, dir.file("operator-" + std::to_string(starts++) + ".log"), operatorArgs);
  }
  std::string operatorLog() const { return op ? op->log() : ""; }
  ProcessResult kubectl(const std::vector<std::string>& args, const std::string& input = "") {
    return testsupport::kubectl(kubeconfig, args, input);
  }

 private:
  static kubesim::SimulatorOptions options(double timeScale) {
    kubesim::SimulatorOptions o;
    o.timeScale = timeScale;
    return o;
  }
};

}  // namespace testsupport
