// Worker mode end to end: prefectsim (in-process) as the Prefect server, kubesim as the cluster,
// the operator binary with --enable-workpools, WorkPools applied and read back with kubectl.
#include <cstdlib>

#include "test/integration/workpool/worker_env.h"

using namespace workpool_test;

TEST_CASE("a deployment's run becomes a FlowRun and a Job, Pending with the pid, then Completed",
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
  // Through to the end: Scheduled -> Pending (the worker) -> Running -> Completed (the engine in
  // the pod), the pid kept, the FlowRun Succeeded.
  env.waitRun(
      id, [](const json& r) { return stateType(r) == "COMPLETED"; }, 40s);
  CHECK(env.flowRun(id)["infrastructure_pid"] == uid + ":prefect:" + name);
  std::vector<std::string> types;
  for (const json& st : env.api("GET", "/flow_run_states/?flow_run_id=" + id)) {
    types.push_back(st.value("type", ""));
  }
  CHECK(types == std::vector<std::string>{"SCHEDULED", "PENDING", "RUNNING", "COMPLETED"});
  REQUIRE(waitFor(
      [&] {
        return env.jsonpath({"fr", name}, "{.status.phase}") == "Succeeded";
      },
      20s, 100ms));
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
