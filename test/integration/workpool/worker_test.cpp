// Worker mode end to end: prefectsim (in-process) as the Prefect server, kubesim as the cluster,
// the operator binary with --enable-workpools, WorkPools applied and read back with kubectl.
#include <httplib.h>
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <memory>
#include <string>

#include "test/kubesim/simulator.h"
#include "test/prefectsim/server.h"
#include "test/support/operator_process.h"
#include "test/support/process.h"

using nlohmann::json;
using testsupport::waitFor;
using namespace std::chrono_literals;

namespace {

struct Env {
  testsupport::TempDir dir;
  kubesim::Simulator sim;
  prefectsim::Server prefect;
  prefectsim::DemoIds demo;
  std::string kubeconfig;
  std::unique_ptr<testsupport::OperatorProcess> op;

  Env() : sim(options()) {
    sim.start();
    prefect.start();
    demo = prefect.seedDemo();
    kubeconfig = sim.writeKubeconfig(dir.file("kubeconfig"));
    auto applied = kubectl({"apply", "-f", testsupport::sourceDir() + "/crds/"});
    INFO(applied.out << applied.err);
    REQUIRE(applied.exitCode == 0);
    for (const char* ns : {"flowrun-operator", "prefect"}) {
      REQUIRE(kubectl({"create", "namespace", ns}).exitCode == 0);
    }
    REQUIRE(waitFor([&] { return kubectl({"get", "workpools", "-A"}).exitCode == 0; }, 20s, 50ms));
    op = std::make_unique<testsupport::OperatorProcess>(
        kubeconfig, dir.file("operator.log"), std::vector<std::string>{"--enable-workpools"});
  }
  ~Env() {
    if (op) op->stop(5s);
    prefect.stop();
  }
  static kubesim::SimulatorOptions options() {
    kubesim::SimulatorOptions o;
    o.timeScale = 0.05;
    return o;
  }
  testsupport::ProcessResult kubectl(const std::vector<std::string>& args,
                                     const std::string& input = "") {
    return testsupport::kubectl(kubeconfig, args, input);
  }
  void applyPool(const std::string& name, const std::string& url, const std::string& extra = "") {
    auto r = kubectl({"apply", "-f", "-"},
                     "apiVersion: prefect.io/v1alpha1\nkind: WorkPool\nmetadata: {name: " + name +
                         ", namespace: prefect}\nspec: {apiUrl: \"" + url +
                         "\", queryIntervalSeconds: 1" + extra + "}\n");
    INFO(r.out << r.err);
    REQUIRE(r.exitCode == 0);
  }
  std::string jsonpath(const std::vector<std::string>& what, const std::string& expr) {
    std::vector<std::string> args = {"get"};
    args.insert(args.end(), what.begin(), what.end());
    args.insert(args.end(), {"-n", "prefect", "-o", "jsonpath=" + expr});
    auto r = kubectl(args);
    return r.exitCode == 0 ? r.out : "";
  }
  std::string connected(const std::string& pool, const char* field) {
    return jsonpath({"wp", pool},
                    std::string("{.status.conditions[?(@.type==\"Connected\")].") + field + "}");
  }
  // Prefect's side, as a user of the API sees it.
  json api(const std::string& method, const std::string& path, const json& body = nullptr) {
    httplib::Client c("127.0.0.1", prefect.port());
    auto r = method == "GET" ? c.Get("/api" + path)
                             : c.Post("/api" + path, body.dump(), "application/json");
    REQUIRE(r);
    return json::parse(r->body, nullptr, false);
  }
  std::string createRun(const json& jobVariables = json::object()) {
    json run = api("POST", "/deployments/" + demo.deploymentId + "/create_flow_run",
                   {{"job_variables", jobVariables}});
    REQUIRE(run.contains("id"));
    return run["id"];
  }
  json flowRun(const std::string& id) { return api("GET", "/flow_runs/" + id); }
  void waitRun(const std::string& id, const std::function<bool(const json&)>& pred,
               std::chrono::milliseconds deadline = 30s) {
    json last;
    bool ok = waitFor(
        [&] {
          last = flowRun(id);
          return pred(last);
        },
        deadline, 100ms);
    INFO("flow run: " << last.dump());
    INFO("operator log:\n" << op->log());
    REQUIRE(ok);
  }
};

std::string stateType(const json& run) {
  return run.is_object() && run["state"].is_object() ? run["state"].value("type", "") : "";
}

}  // namespace

TEST_CASE("a deployment's run becomes a FlowRun and a Job, Pending in Prefect with the pid",
          "[workpool][worker]") {
  Env env;
  env.applyPool("demo-pool", env.prefect.url());
  REQUIRE(waitFor([&] { return env.connected("demo-pool", "status") == "True"; }, 20s, 100ms));
  CHECK(env.jsonpath({"wp", "demo-pool"}, "{.status.serverVersion}") == "2.17.1");

  const std::string id = env.createRun();
  const std::string name = "fr-" + id;
  env.waitRun(id, [](const json& r) { return r["infrastructure_pid"].is_string(); });
  const json run = env.flowRun(id);
  const std::string uid =
      env.kubectl({"get", "clusteridentity", "cluster", "-o", "jsonpath={.status.uid}"}).out;
  CHECK(run["infrastructure_pid"] == uid + ":prefect:" + name);
  CHECK(stateType(run) != "SCHEDULED");
  CHECK(env.jsonpath({"job", name}, "{.metadata.name}") == name);
  CHECK(env.jsonpath({"fr", name}, "{.spec.flowRunId}") == id);
  CHECK(env.jsonpath({"fr", name}, "{.metadata.ownerReferences}").empty());
  REQUIRE(waitFor(
      [&] {
        return env.jsonpath({"wp", "demo-pool"}, "{.status.submitted}") == "1";
      },
      20s, 100ms));
  // kubectl flowrun status shows the Prefect side.
  const char* path = std::getenv("PATH");
  auto status = testsupport::runProcess(
      {"kubectl", "flowrun", "status", name, "-n", "prefect"},
      {{"PATH", testsupport::sourceDir() + "/scripts:" + (path ? path : "/usr/bin:/bin")},
       {"KUBECONFIG", env.kubeconfig},
       {"KUBECACHEDIR", env.dir.file("kubectl-cache")}});
  INFO(status.out << status.err);
  CHECK(status.exitCode == 0);
  CHECK_THAT(status.out, Catch::Matches("(.|\n)*Prefect flow run: +" + id + "(.|\n)*"));
  CHECK_THAT(status.out, Catch::Matches("(.|\n)*Work pool: +demo-pool(.|\n)*"));
  CHECK_THAT(status.out, Catch::Contains("Prefect state:"));
  // The pool got the operator's default template because it had none.
  json pool = env.api("GET", "/work_pools/demo-pool");
  CHECK(pool["base_job_template"].contains("job_configuration"));
}

TEST_CASE("an unschedulable pod is Crashed in Prefect with the scheduler's message",
          "[workpool][worker]") {
  Env env;
  env.applyPool("demo-pool", env.prefect.url());
  const std::string id =
      env.createRun({{"image", "kubesim/unschedulable"}, {"pod_watch_timeout_seconds", 2}});
  env.waitRun(
      id, [](const json& r) { return stateType(r) == "CRASHED"; }, 40s);
  const json run = env.flowRun(id);
  INFO(run.dump());
  CHECK_THAT(run["state"].value("message", ""), Catch::Contains("nodes are available"));
}

TEST_CASE("a missing pool and an unreachable API show in the WorkPool's conditions",
          "[workpool][worker]") {
  Env env;
  env.applyPool("no-such-pool", env.prefect.url());
  env.applyPool("nowhere", "http://127.0.0.1:1/api");
  REQUIRE(waitFor([&] { return env.connected("no-such-pool", "reason") == "PoolNotFound"; }, 20s,
                  100ms));
  CHECK_THAT(env.connected("no-such-pool", "message"), Catch::Contains("not found"));
  REQUIRE(waitFor([&] { return env.connected("nowhere", "reason") == "Unreachable"; }, 30s, 100ms));
  auto events =
      env.kubectl({"get", "events", "-n", "prefect", "-o", "jsonpath={.items[*].reason}"});
  CHECK_THAT(events.out, Catch::Contains("PoolNotFound"));
}

TEST_CASE("cancel from Prefect while running stops the Job and ends CANCELLED",
          "[workpool][worker]") {
  Env env;
  env.applyPool("demo-pool", env.prefect.url());
  const std::string id = env.createRun({{"image", "kubesim/sleep:1h"}});
  const std::string name = "fr-" + id;
  REQUIRE(waitFor(
      [&] {
        return env.jsonpath({"fr", name}, "{.status.phase}") == "Running";
      },
      30s, 100ms));
  env.waitRun(id, [](const json& r) { return r["infrastructure_pid"].is_string(); });
  json asked =
      env.api("POST", "/flow_runs/" + id + "/set_state",
              {{"state", {{"type", "CANCELLING"}, {"name", "Cancelling"}}}, {"force", false}});
  INFO(asked.dump());
  env.waitRun(
      id, [](const json& r) { return stateType(r) == "CANCELLED"; }, 40s);
  CHECK(env.jsonpath({"fr", name}, "{.spec.cancel}") == "true");
  CHECK(env.jsonpath({"fr", name}, "{.status.phase}") == "Cancelled");
}

TEST_CASE("kubectl patch cancel on the FlowRun reaches Prefect as CANCELLED",
          "[workpool][worker]") {
  Env env;
  env.applyPool("demo-pool", env.prefect.url());
  const std::string id = env.createRun({{"image", "kubesim/sleep:1h"}});
  const std::string name = "fr-" + id;
  REQUIRE(waitFor(
      [&] {
        return !env.jsonpath({"fr", name}, "{.metadata.name}").empty();
      },
      30s, 100ms));
  auto patched = env.kubectl({"patch", "fr", name, "-n", "prefect", "--type", "merge", "-p",
                              R"({"spec":{"cancel":true}})"});
  REQUIRE(patched.exitCode == 0);
  env.waitRun(
      id, [](const json& r) { return stateType(r) == "CANCELLED"; }, 40s);
}

TEST_CASE("the API failing for a while loses and doubles nothing", "[workpool][worker]") {
  Env env;
  env.applyPool("demo-pool", env.prefect.url());
  REQUIRE(waitFor([&] { return env.connected("demo-pool", "status") == "True"; }, 20s, 100ms));
  // Every poll fails (503, past the client's retries) until the fault is lifted.
  httplib::Client c("127.0.0.1", env.prefect.port());
  auto fault = c.Post("/prefectsim/faults",
                      R"({"method": "POST", "path": "get_scheduled_flow_runs", "status": 503})",
                      "application/json");
  REQUIRE(fault);
  REQUIRE(fault->status == 201);
  const std::string id = env.createRun();
  REQUIRE(
      waitFor([&] { return env.connected("demo-pool", "reason") == "ServerError"; }, 30s, 100ms));
  CHECK(env.jsonpath({"fr", "fr-" + id}, "{.metadata.name}").empty());
  REQUIRE(c.Delete("/prefectsim/faults"));
  env.waitRun(id, [](const json& r) { return r["infrastructure_pid"].is_string(); });
  REQUIRE(waitFor([&] { return env.connected("demo-pool", "status") == "True"; }, 20s, 100ms));
  auto frs = env.kubectl({"get", "fr", "-n", "prefect", "-o", "name"});
  CHECK(frs.out == "flowrun.prefect.io/fr-" + id + "\n");
}
