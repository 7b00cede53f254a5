// Worker mode end to end, the exactly-once and ownership guarantees: claims repaired after a
// restart, the operator SIGKILLed at random during a burst of runs, `limit`, a non-zero exit
// the engine never reported, cancel while the pod never started, two clusters on one pool.
#include <cstdlib>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "test/integration/workpool/worker_env.h"
#include "test/support/templates.h"

using namespace workpool_test;

namespace {

std::string claimFor(const std::string& worker, const std::string& uid) {
  return "Claimed by worker " + worker + " (cluster " + uid + ", WorkPool prefect/demo-pool)";
}

std::set<std::string> names(const json& list) {
  std::set<std::string> out;
  if (!list.is_object()) return out;
  for (const auto& item : list.value("items", json::array())) out.insert(item["metadata"]["name"]);
  return out;
}

bool activeType(const std::string& t) {
  return t == "PENDING" || t == "RUNNING" || t == "CANCELLING";
}

}  // namespace

TEST_CASE("a claim left without a FlowRun by a dead operator is repaired, no one else's is",
          "[workpool][e2e]") {
  Env env;
  const std::string uid = env.clusterUid();
  REQUIRE_FALSE(uid.empty());
  // What an operator that died between the ACCEPTed Pending and the FlowRun create leaves,
  // beside a claim of another cluster using the same worker name and a Python worker's claim.
  const std::string lost = env.createRun({{"image", "kubesim/exit:0"}});
  const std::string theirs = env.createRun();
  const std::string python = env.createRun();
  REQUIRE(env.propose(lost, "PENDING", claimFor("w-e2e", uid))["status"] == "ACCEPT");
  REQUIRE(env.propose(theirs, "PENDING", claimFor("w-e2e", "another-cluster"))["status"] ==
          "ACCEPT");
  REQUIRE(env.propose(python, "PENDING")["status"] == "ACCEPT");

  env.applyPool("demo-pool", env.prefect.url(), ", workerName: w-e2e");
  env.waitRun(
      lost,
      [](const json& r) {
        return stateType(r) == "COMPLETED" && r["infrastructure_pid"].is_string();
      },
      40s);
  CHECK(env.flowRun(lost)["infrastructure_pid"] == uid + ":prefect:fr-" + lost);
  CHECK(env.jsonpath({"job", "fr-" + lost}, "{.metadata.name}") == "fr-" + lost);
  auto events = env.kubectl({"get", "events", "-n", "prefect", "-o",
                             "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}"});
  CHECK_THAT(events.out, Catch::Contains("Repaired: 1 flow run(s) claimed"));
  // The same repair pass saw the other two and left them alone.
  CHECK(names(env.getJson({"fr"})) == std::set<std::string>{"fr-" + lost});
  for (const auto& id : {theirs, python}) {
    const json run = env.flowRun(id);
    CHECK(stateType(run) == "PENDING");
    CHECK(run["infrastructure_pid"].is_null());
  }
}

TEST_CASE("the operator SIGKILLed at random during a burst leaves one FlowRun and one Job per run",
          "[workpool][e2e]") {
  // WORKPOOL_KILL_RUNS=200 for the full size (scripts or by hand); 40 in the test command.
  const char* n = std::getenv("WORKPOOL_KILL_RUNS");
  const int runs = n && std::atoi(n) > 0 ? std::atoi(n) : 40;
  Env env;
  const std::string uid = env.clusterUid();
  env.applyPool("demo-pool", env.prefect.url());
  std::vector<std::string> ids;
  for (int i = 0; i < runs; ++i) ids.push_back(env.createRun({{"image", "kubesim/exit:0"}}));

  std::mt19937 random(std::random_device{}());
  std::uniform_int_distribution<int> pause(100, 900);
  int kills = 0;
  auto submitted = [&] { return names(env.getJson({"fr"})).size(); };
  // Kill while runs are still being taken, at random moments, then let a last operator finish.
  while (kills < 12 && submitted() < ids.size()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(pause(random)));  // chaos, not a sync
    env.op->kill();
    ++kills;
    env.startOperator();
  }
  INFO("kills: " << kills);
  std::map<std::string, json> last;
  bool done = waitFor(
      [&] {
        last.clear();
        for (const json& r : env.poolRuns()) {
          if (stateType(r) != "COMPLETED" || !r["infrastructure_pid"].is_string()) {
            last[r["id"]] = {{"state", r["state"]}, {"pid", r["infrastructure_pid"]}};
          }
        }
        return last.empty();
      },
      std::chrono::seconds(30 + runs / 2), 250ms);
  INFO("runs not COMPLETED with a pid: " << json(last).dump());
  INFO("last operator log:\n" << env.operatorLog());
  REQUIRE(done);
  std::set<std::string> expected;
  for (const auto& id : ids) expected.insert("fr-" + id);
  CHECK(names(env.getJson({"fr"})) == expected);
  CHECK(names(env.getJson({"jobs"})) == expected);  // Job names are the FlowRuns': one each
  for (const auto& id : ids) {
    INFO(id);
    CHECK(env.flowRun(id)["infrastructure_pid"] == uid + ":prefect:fr-" + id);
  }
  auto repaired = env.kubectl({"get", "events", "-n", "prefect", "--field-selector",
                               "reason=Repaired", "-o", "jsonpath={.items[*].message}"});
  WARN(runs << " runs, " << kills
            << " kills; repairs: " << (repaired.out.empty() ? "none" : repaired.out));
}

TEST_CASE("limit: never more runs active than the WorkPool's limit", "[workpool][e2e]") {
  Env env;
  env.applyPool("demo-pool", env.prefect.url(), ", limit: 2");
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(env.createRun({{"image", "kubesim/run:20s"}}));
  int most = 0;
  bool done = waitFor(
      [&] {
        int active = 0, completed = 0;
        for (const json& r : env.poolRuns()) {
          active += activeType(stateType(r));
          completed += stateType(r) == "COMPLETED";
        }
        most = std::max(most, active);
        return completed == 6;
      },
      80s, 50ms);
  INFO("most active at once: " << most);
  INFO(env.operatorLog());
  REQUIRE(done);
  CHECK(most <= 2);
  CHECK(most == 2);  // the limit was reached: the runs did overlap
}

TEST_CASE("a non-zero exit the engine never reported is CRASHED as the Python worker says",
          "[workpool][e2e]") {
  Env env;
  env.applyPool("demo-pool", env.prefect.url(),
                ", baseJobTemplate: {policy: Sync, inline: " +
                    testsupport::silentEngineTemplate().dump() + "}");
  const std::string silent = env.createRun({{"image", "kubesim/exit:3"}});
  env.waitRun(
      silent, [](const json& r) { return stateType(r) == "CRASHED"; }, 40s);
  CHECK(env.flowRun(silent)["state"]["message"] ==
        "Flow run infrastructure exited with non-zero status code 3.");
  CHECK(env.jsonpath({"fr", "fr-" + silent}, "{.status.phase}") == "Failed");
}

TEST_CASE("a run whose engine reported FAILED stays FAILED (the CRASHED proposal is ABORTed)",
          "[workpool][e2e]") {
  Env env;
  env.applyPool("demo-pool", env.prefect.url());
  const std::string id = env.createRun({{"image", "kubesim/exit:3"}});
  env.waitRun(
      id, [](const json& r) { return stateType(r) == "FAILED"; }, 40s);
  REQUIRE(waitFor(
      [&] {
        return env.jsonpath({"fr", "fr-" + id},
                            "{.metadata.annotations.prefect\\.io/reported-state}") == "CRASHED";
      },
      30s, 100ms));
  CHECK(stateType(env.flowRun(id)) == "FAILED");
}

TEST_CASE("cancel from Prefect while the pod never started stops it and ends CANCELLED",
          "[workpool][e2e]") {
  Env env;
  env.applyPool("demo-pool", env.prefect.url());
  const std::string id =
      env.createRun({{"image", "kubesim/unschedulable"}, {"pod_watch_timeout_seconds", 3600}});
  const std::string name = "fr-" + id;
  env.waitRun(id, [](const json& r) { return r["infrastructure_pid"].is_string(); });
  CHECK(env.jsonpath({"fr", name}, "{.status.phase}") == "Pending");
  REQUIRE(env.propose(id, "CANCELLING")["status"] == "ACCEPT");
  env.waitRun(
      id, [](const json& r) { return stateType(r) == "CANCELLED"; }, 40s);
  CHECK(env.jsonpath({"fr", name}, "{.spec.cancel}") == "true");
  REQUIRE(waitFor(
      [&] {
        return env.jsonpath({"fr", name}, "{.status.phase}") == "Cancelled";
      },
      30s, 100ms));
  CHECK(env.flowRun(id)["start_time"].is_null());  // never ran
}

TEST_CASE("two clusters on one pool each run and cancel only their own runs", "[workpool][e2e]") {
  Prefect prefect;
  Cluster a, b;
  const std::string uidA = a.clusterUid(), uidB = b.clusterUid();
  REQUIRE(uidA != uidB);
  a.applyPool("demo-pool", prefect.prefect.url(), ", limit: 3");
  b.applyPool("demo-pool", prefect.prefect.url(), ", limit: 3");
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(prefect.createRun({{"image", "kubesim/sleep:1h"}}));
  auto logs = [&] { return "A:\n" + a.operatorLog() + "\nB:\n" + b.operatorLog(); };
  std::map<std::string, Cluster*> owner;
  for (const auto& id : ids) {
    prefect.waitRun(
        id, [](const json& r) { return r["infrastructure_pid"].is_string(); }, 40s, logs);
    const std::string pid = prefect.flowRun(id)["infrastructure_pid"];
    const std::string name = "fr-" + id;
    const bool inA = !a.jsonpath({"fr", name}, "{.metadata.name}").empty();
    const bool inB = !b.jsonpath({"fr", name}, "{.metadata.name}").empty();
    INFO(id << " pid " << pid);
    CHECK(inA != inB);  // exactly one cluster has it
    CHECK(pid == (inA ? uidA : uidB) + ":prefect:" + name);
    owner[id] = inA ? &a : &b;
  }
  CHECK(names(a.getJson({"fr"})).size() == 3);  // limit 3 each: both took part
  CHECK(names(b.getJson({"fr"})).size() == 3);

  // Cancel one run of each cluster from Prefect: each is stopped by its own cluster.
  std::string ofA, ofB;
  for (const auto& [id, c] : owner) (c == &a ? ofA : ofB) = id;
  for (const auto& id : {ofA, ofB})
    REQUIRE(prefect.propose(id, "CANCELLING")["status"] == "ACCEPT");
  for (const auto& id : {ofA, ofB}) {
    prefect.waitRun(
        id, [](const json& r) { return stateType(r) == "CANCELLED"; }, 40s, logs);
    Cluster& c = *owner[id];
    // Only the owner stopping its Job sets spec.cancel: a CANCELLED from the other cluster
    // (which has no FlowRun) would have left this one running.
    CHECK(c.jsonpath({"fr", "fr-" + id}, "{.spec.cancel}") == "true");
    CHECK(waitFor(
        [&] {
          return c.jsonpath({"fr", "fr-" + id}, "{.status.phase}") == "Cancelled";
        },
        30s, 100ms));
  }
  for (const auto& [id, c] : owner) {
    if (id == ofA || id == ofB) continue;
    INFO(id);
    CHECK(stateType(prefect.flowRun(id)) == "RUNNING");
    CHECK(c->jsonpath({"fr", "fr-" + id}, "{.spec.cancel}") != "true");
  }
}

namespace {

// "2026-12-02T01:01:15.545123+00:00" -> seconds of the day.
double secondsOfDay(const std::string& iso) {
  return std::stod(iso.substr(11, 2)) * 3600 + std::stod(iso.substr(14, 2)) * 60 +
         std::stod(iso.substr(17, 9));
}

}  // namespace

TEST_CASE("the Prefect API down for a while loses nothing, and a 429's Retry-After is honoured",
          "[workpool][e2e]") {
  Env env;
  env.applyPool("demo-pool", env.prefect.url());
  REQUIRE(waitFor([&] { return env.connected("demo-pool", "status") == "True"; }, 20s, 100ms));
  const std::string running = env.createRun({{"image", "kubesim/sleep:10m"}});
  env.waitRun(
      running, [](const json& r) { return stateType(r) == "RUNNING"; }, 30s);

  // Down for the worker: every work pool call, state proposal and filter answers 503 (past the
  // client's retries); creating runs still works, as the UI would.
  httplib::Client c("127.0.0.1", env.prefect.port());
  for (const char* path : {"/work_pools/", "/set_state", "/flow_runs/filter"}) {
    auto f =
        c.Post("/prefectsim/faults", json{{"path", path}, {"status", 503}, {"count", -1}}.dump(),
               "application/json");
    REQUIRE(f);
    REQUIRE(f->status == 201);
  }
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(env.createRun({{"image", "kubesim/exit:0"}}));
  REQUIRE(waitFor([&] { return env.connected("demo-pool", "status") == "False"; }, 40s, 100ms));
  // A while: at least a dozen failed requests.
  REQUIRE(waitFor(
      [&] {
        auto log = c.Get("/prefectsim/requests");
        int failed = 0;
        for (const auto& r : json::parse(log->body)) failed += r.value("status", 0) == 503;
        return failed >= 12;
      },
      60s, 200ms));
  CHECK(names(env.getJson({"fr"})) == std::set<std::string>{"fr-" + running});
  CHECK(env.jsonpath({"fr", "fr-" + running}, "{.status.phase}") == "Running");  // carries on

  // Back, with one 429 asking for 1 s on the first proposal.
  REQUIRE(c.Delete("/prefectsim/faults"));
  REQUIRE(c.Delete("/prefectsim/requests"));
  auto f = c.Post(
      "/prefectsim/faults",
      json{{"path", "/set_state"}, {"status", 429}, {"count", 1}, {"retry_after", "1"}}.dump(),
      "application/json");
  REQUIRE(f);
  REQUIRE(f->status == 201);
  for (const auto& id : ids) {
    env.waitRun(
        id, [](const json& r) { return stateType(r) == "COMPLETED"; }, 40s);
  }
  std::set<std::string> expected{"fr-" + running};
  for (const auto& id : ids) expected.insert("fr-" + id);
  CHECK(names(env.getJson({"fr"})) == expected);
  CHECK(names(env.getJson({"jobs"})) == expected);
  // The 429 and the retry that followed it on the same path.
  json log = json::parse(c.Get("/prefectsim/requests")->body);
  std::string path;
  double at429 = 0, retried = -1;
  for (const auto& r : log) {
    if (path.empty() && r.value("status", 0) == 429) {
      path = r["path"];
      at429 = secondsOfDay(r["time"]);
    } else if (!path.empty() && r["path"] == path) {
      retried = secondsOfDay(r["time"]);
      break;
    }
  }
  REQUIRE_FALSE(path.empty());
  CHECK(retried - at429 >= 0.95);
}

TEST_CASE("a FlowRun deleted with kubectl sets its flow run CANCELLED in Prefect, saying why",
          "[workpool][e2e]") {
  // Pods that never start: no engine in them can tell Prefect anything (a running engine reports
  // its own end when its pod is deleted), so only the worker can.
  Env env;
  env.applyPool("demo-pool", env.prefect.url(), ", heartbeatIntervalSeconds: 2");
  const json never = {{"image", "kubesim/unschedulable"}, {"pod_watch_timeout_seconds", 3600}};
  const std::string id = env.createRun(never);
  const std::string other = env.createRun(never);
  for (const auto& run : {id, other}) {
    env.waitRun(
        run, [](const json& r) { return r["infrastructure_pid"].is_string(); }, 40s);
  }
  auto deleted = env.kubectl({"delete", "fr", "fr-" + id, "-n", "prefect", "--wait=false"});
  INFO(deleted.out << deleted.err);
  REQUIRE(deleted.exitCode == 0);
  env.waitRun(
      id, [](const json& r) { return stateType(r) == "CANCELLED"; }, 30s);
  CHECK(env.flowRun(id)["state"]["message"] ==
        "The FlowRun prefect/fr-" + id +
            " was deleted on the cluster before the flow run finished; its Job was deleted with "
            "it.");
  // The run whose FlowRun still exists is not touched, across several heartbeats.
  std::this_thread::sleep_for(5s);  // three heartbeats at 2 s: a wrong sweep would have run
  CHECK(stateType(env.flowRun(other)) == "PENDING");
  CHECK(env.jsonpath({"fr", "fr-" + other}, "{.status.phase}") == "Pending");
}
