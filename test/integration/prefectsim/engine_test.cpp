// kubesim's flow engine: a pod whose env names a Prefect API and a flow run reports Running, then
// Completed or Failed, to prefectsim as `prefect flow-run execute` would; the annotation
// kubesim.io/prefect-engine: "off" models an engine that never reports.
#include <catch2/catch.hpp>

#include <functional>

#include "test/integration/prefectsim/client.h"
#include "test/kubesim/simulator.h"
#include "test/prefectsim/server.h"
#include "test/support/process.h"

using nlohmann::json;
using prefectsim_test::Client;
using testsupport::waitFor;

namespace {

struct World {
  World()
      : prefect({"127.0.0.1", 0, std::string("pnu_key")}), sim([] {
          kubesim::SimulatorOptions o;
          o.timeScale = 0.05;
          return o;
        }()) {
    prefect.start();
    sim.start();
    kubeconfig = sim.writeKubeconfig(dir.file("kubeconfig"));
  }
  // A flow run a worker has claimed (Pending), and a Job for it as the worker would create.
  std::string submit(
      const std::string& job, const std::string& image, const std::string& annotations = "",
      const std::function<void()>& beforeJob = [] {}) {
    Client c(prefect.port(), "pnu_key");
    if (deployment.empty()) deployment = c.seed();
    std::string run = c.createRun(deployment);
    REQUIRE(c.propose(run, "PENDING").status == 201);
    beforeJob();
    std::string y = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: " + job +
                    "\n  namespace: default\nspec:\n  backoffLimit: 0\n  template:\n    metadata:\n"
                    "      annotations: {" +
                    annotations +
                    "}\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: "
                    "prefect-job\n        image: " +
                    image + "\n        env:\n        - {name: PREFECT_API_URL, value: '" +
                    prefect.url() +
                    "'}\n        - {name: PREFECT_API_KEY, value: pnu_key}\n        - {name: "
                    "PREFECT__FLOW_RUN_ID, value: '" +
                    run + "'}\n";
    auto r = testsupport::kubectl(kubeconfig, {"apply", "-f", "-"}, y);
    INFO(r.err);
    REQUIRE(r.exitCode == 0);
    return run;
  }
  json flowRun(const std::string& id) {
    return Client(prefect.port(), "pnu_key").call("GET", "/api/flow_runs/" + id).body;
  }
  std::vector<std::string> history(const std::string& id) {
    auto states = Client(prefect.port(), "pnu_key")
                      .call("GET", "/api/flow_run_states/?flow_run_id=" + id)
                      .body;
    std::vector<std::string> out;
    for (auto& s : states) out.push_back(s["type"]);
    return out;
  }
  bool podDone(const std::string& job) {
    auto r = testsupport::kubectl(kubeconfig, {"get", "pods", "-l", "job-name=" + job, "-o",
                                               "jsonpath={.items[0].status.phase}"});
    return r.out == "Succeeded" || r.out == "Failed";
  }

  testsupport::TempDir dir;
  prefectsim::Server prefect;
  kubesim::Simulator sim;
  std::string kubeconfig, deployment;
};

}  // namespace

TEST_CASE("flow engine: a pod that exits 0 takes its flow run through Running to Completed") {
  World w;
  std::string run = w.submit("ok", "busybox");
  REQUIRE(waitFor([&] { return w.flowRun(run)["state_type"] == "COMPLETED"; }));
  CHECK(w.history(run) == std::vector<std::string>{"SCHEDULED", "PENDING", "RUNNING", "COMPLETED"});
  CHECK(w.flowRun(run)["run_count"] == 1);
  auto log = Client(w.prefect.port()).call("GET", "/prefectsim/requests").body;
  int engineCalls = 0;
  for (auto& e : log) {
    if (e["path"] != "/api/flow_runs/" + run + "/set_state") continue;
    if (e["body"]["state"]["type"] == "PENDING") continue;
    ++engineCalls;
    CHECK(e["authorized"] == true);
    CHECK(e["body"]["force"] == false);
    CHECK(e["body"]["state"]["state_details"]["flow_run_id"] == run);
  }
  CHECK(engineCalls == 2);
}

TEST_CASE("flow engine: a pod that exits non-zero fails its flow run") {
  World w;
  std::string run = w.submit("bad", "kubesim/exit:3");
  REQUIRE(waitFor([&] { return w.flowRun(run)["state_type"] == "FAILED"; }));
  CHECK(w.history(run) == std::vector<std::string>{"SCHEDULED", "PENDING", "RUNNING", "FAILED"});
  CHECK(w.flowRun(run)["state"]["message"].get<std::string>().find("code 3") != std::string::npos);
}

TEST_CASE("flow engine: turned off by annotation, the run stays Pending after the pod ends") {
  World w;
  std::string run = w.submit("silent", "busybox", "kubesim.io/prefect-engine: 'off'");
  REQUIRE(waitFor([&] { return w.podDone("silent"); }));
  // a control run in the same world reports, so the engine had its chance to report this one
  std::string control = w.submit("loud", "busybox");
  REQUIRE(waitFor([&] { return w.flowRun(control)["state_type"] == "COMPLETED"; }));
  CHECK(w.flowRun(run)["state_type"] == "PENDING");
  CHECK(w.history(run) == std::vector<std::string>{"SCHEDULED", "PENDING"});
}

TEST_CASE("flow engine: a Prefect API that fails or is gone never breaks the pod") {
  World w;
  std::string run = w.submit("flaky", "busybox", "", [&] {
    Client(w.prefect.port())
        .call("POST", "/prefectsim/faults",
              {{"path", "set_state"}, {"status", 503}, {"count", -1}});
  });
  REQUIRE(waitFor([&] { return w.podDone("flaky"); }));
  // the worker's own Pending went through before the fault; the engine's reports all got 503
  CHECK(w.flowRun(run)["state_type"] == "PENDING");
  int refused = 0;
  for (auto& e : Client(w.prefect.port()).call("GET", "/prefectsim/requests").body)
    if (e["status"] == 503) ++refused;
  CHECK(refused >= 1);
  w.prefect.stop();
  // a second run's pod, with its API down, still runs to the end
  auto y = std::string(
      "apiVersion: v1\nkind: Pod\nmetadata: {name: gone, namespace: default}\nspec:\n  "
      "restartPolicy: Never\n  containers:\n  - name: c\n    image: busybox\n    env:\n    - "
      "{name: "
      "PREFECT_API_URL, value: 'http://127.0.0.1:1/api'}\n    - {name: PREFECT__FLOW_RUN_ID, "
      "value: x}\n");
  REQUIRE(testsupport::kubectl(w.kubeconfig, {"apply", "-f", "-"}, y).exitCode == 0);
  CHECK(waitFor([&] {
    return testsupport::kubectl(w.kubeconfig,
                                {"get", "pod", "gone", "-o", "jsonpath={.status.phase}"})
               .out == "Succeeded";
  }));
}
