// A restart of the operator with many terminal FlowRuns (their Jobs and pods still there) makes
// no writes: every FlowRun is reconciled once more and nothing is created, updated, patched or
// deleted, and no Event is recorded. The bench (scripts/bench.sh, bench_scale rss) shows 10,000;
// this test runs 1,000 lifecycles through the real operator and restarts it.
#include <catch2/catch.hpp>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "test/kubesim/simulator.h"
#include "test/support/operator_process.h"
#include "test/support/process.h"

using nlohmann::json;
using testsupport::waitFor;
using namespace std::chrono_literals;

namespace {

constexpr int kFlowRuns = 1000;

kubesim::SimulatorOptions fast() {
  kubesim::SimulatorOptions o;
  o.timeScale = 0.05;
  return o;
}

// The port the operator says it serves metrics on (it binds 127.0.0.1:0).
int metricsPort(const testsupport::OperatorProcess& op) {
  std::smatch m;
  std::string log = op.log();
  static const std::regex re("metricsPort\\D{0,4}(\\d+)");
  if (!std::regex_search(log, m, re)) return 0;
  return std::stoi(m[1]);
}

// Sum of a counter's samples whose labels contain `labels`.
double metric(int port, const std::string& name, const std::string& labels) {
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/metrics");
  if (!r || r->status != 200) return -1;
  double sum = 0;
  std::istringstream in(r->body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0 || line.find(labels) == std::string::npos) continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

bool isWrite(const std::string& verb) {
  return verb == "create" || verb == "update" || verb == "patch" || verb == "delete" ||
         verb == "deletecollection";
}

}  // namespace

TEST_CASE("a restart with 1,000 terminal FlowRuns, their Jobs and pods makes no writes") {
  testsupport::TempDir dir;
  kubesim::Simulator sim(fast());
  sim.start();
  const std::string kubeconfig = sim.writeKubeconfig(dir.file("kubeconfig"));
  auto kubectl = [&](const std::vector<std::string>& args, const std::string& input = "") {
    return testsupport::kubectl(kubeconfig, args, input);
  };
  REQUIRE(kubectl({"apply", "-f", testsupport::sourceDir() + "/crds/"}).exitCode == 0);
  for (const char* ns : {"flowrun-operator", "data"}) {
    REQUIRE(kubectl({"create", "namespace", ns}).exitCode == 0);
  }
  REQUIRE(waitFor([&] { return kubectl({"get", "flowruns", "-A"}).exitCode == 0; }, 20s, 50ms));
  const std::vector<std::string> metricsFlag = {"--metrics-bind-address", "127.0.0.1:0"};
  auto first = std::make_unique<testsupport::OperatorProcess>(
      kubeconfig, dir.file("operator-1.log"), metricsFlag);

  // 1,000 FlowRuns that run to Succeeded (the default scenario: run 1s, exit 0, at 1/20 speed).
  kubesim::ObjectStore& store = sim.store();
  for (int i = 0; i < kFlowRuns; ++i) {
    store.create(
        "flowruns.prefect.io", "data",
        {{"apiVersion", "prefect.io/v1alpha1"},
         {"kind", "FlowRun"},
         {"metadata", {{"name", "run-" + std::to_string(i)}, {"namespace", "data"}}},
         {"spec",
          {{"flowRunId", "0b8c1b5e-0000-4000-8000-000000000001"}, {"image", "kubesim/ok"}}}});
  }
  auto succeeded = [&] {
    int n = 0;
    for (const auto& fr : store.list("flowruns.prefect.io", "data")) {
      n += fr.contains("status") && fr["status"].value("phase", "") == "Succeeded";
    }
    return n;
  };
  bool allDone = waitFor([&] { return succeeded() == kFlowRuns; }, 90s, 200ms);
  INFO("Succeeded: " << succeeded() << " of " << kFlowRuns);
  INFO("operator log:\n" << first->log().substr(0, 4000));
  REQUIRE(allDone);
  REQUIRE(store.list("jobs.batch", "data").size() == static_cast<std::size_t>(kFlowRuns));
  REQUIRE(first->stop(10s) == 0);
  first.reset();

  const std::size_t before = sim.requestLog().snapshot().size();
  testsupport::OperatorProcess second(kubeconfig, dir.file("operator-2.log"), metricsFlag);
  int port = 0;
  REQUIRE(waitFor([&] { return (port = metricsPort(second)) > 0; }, 20s));
  // Every FlowRun reconciled once more (successfully) and the queue drained.
  const std::string flowrun = "controller=\"flowrun\"";
  bool reconciled = waitFor(
      [&] {
        return metric(port, "controller_runtime_reconcile_total", flowrun) >= kFlowRuns &&
               metric(port, "workqueue_depth", "name=\"flowrun\"") == 0;
      },
      60s, 100ms);
  INFO("operator log:\n" << second.log().substr(0, 4000));
  REQUIRE(reconciled);
  CHECK(metric(port, "controller_runtime_reconcile_total", "result=\"error\"") == 0);

  std::map<std::string, int> writes;
  auto log = sim.requestLog().snapshot();
  for (std::size_t i = before; i < log.size(); ++i) {
    const auto& r = log[i];
    if (isWrite(r.verb)) ++writes[r.verb + " " + r.resource + "/" + r.subresource];
  }
  std::string said;
  for (const auto& [what, n] : writes) said += what + ": " + std::to_string(n) + "\n";
  INFO("writes after the restart:\n" << said);
  CHECK(writes.empty());
  CHECK(second.stop(10s) == 0);
}
