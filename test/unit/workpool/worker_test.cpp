// The worker cycle against a scripted Prefect (a fake Transport) and the fake kube client:
// Pending proposed before any FlowRun, FlowRun only on ACCEPT, never twice, `limit`, errors
// that lose nothing, pid and Crashed/Cancelled reported once.
#include <catch2/catch.hpp>

#include <functional>

#include "controllers/flowrun/job_renderer.h"
#include "controllers/workpool/flowrun_for.h"
#include "controllers/workpool/worker.h"
#include "test/unit/flowrun/fakes.h"

using namespace controllers::workpool;
using nlohmann::json;
namespace res = kube::resources;

namespace {

struct Request {
  std::string method, path;
  json body;
};

class FakePrefect : public prefect::Transport {
 public:
  std::function<prefect::Response(const Request&)> answer;
  std::vector<Request> requests;
  prefect::Response request(const std::string& method, const std::string& path,
                            const json& body) override {
    requests.push_back({method, path, body});
    return answer(requests.back());
  }
  std::size_t count(const std::string& method, const std::string& pathPart) const {
    std::size_t n = 0;
    for (const auto& r : requests) {
      n += r.method == method && r.path.find(pathPart) != std::string::npos;
    }
    return n;
  }
};

prefect::Response ok(json body, int status = 200) {
  prefect::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

json scheduled(const std::vector<std::string>& ids) {
  json out = json::array();
  for (const auto& id : ids) {
    out.push_back({{"work_pool_id", "p"},
                   {"work_queue_id", "q"},
                   {"flow_run",
                    {{"id", id},
                     {"name", "run-" + id},
                     {"flow_id", "flow-1"},
                     {"deployment_id", "dep-1"},
                     {"job_variables", {{"image", "example.com/flows:" + id}}}}}});
  }
  return out;
}

// A Prefect that schedules `ids`, ACCEPTs Pending for those in `accept` and ABORTs the others.
std::function<prefect::Response(const Request&)> prefectWith(std::vector<std::string> ids,
                                                             std::vector<std::string> accept) {
  return [ids, accept](const Request& r) {
    if (r.path.find("get_scheduled_flow_runs") != std::string::npos) return ok(scheduled(ids));
    if (r.path == "/deployments/dep-1") {
      return ok({{"id", "dep-1"}, {"name", "dep"}, {"job_variables", {{"env", {{"FOO", "bar"}}}}}});
    }
    if (r.path == "/flows/flow-1") return ok({{"id", "flow-1"}, {"name", "hello"}});
    if (r.path.find("/set_state") != std::string::npos) {
      const std::string id = r.body["state"]["state_details"]["flow_run_id"];
      const bool yes = std::find(accept.begin(), accept.end(), id) != accept.end() ||
                       r.body["state"]["type"] != "PENDING";
      return yes ? ok({{"status", "ACCEPT"}, {"state", r.body["state"]}}, 201)
                 : ok({{"status", "ABORT"},
                       {"details",
                        {{"type", "abort_details"},
                         {"reason", "This run cannot transition to a PENDING state"}}}});
    }
    if (r.method == "PATCH") return ok(nullptr, 204);
    return ok({{"detail", "Not Found"}}, 404);
  };
}

WorkPoolSpec spec(int limit = 0) {
  json pool = {{"metadata", {{"name", "k8s-pool"}}},
               {"spec", {{"apiUrl", "http://prefect:4200/api"}, {"limit", limit}}}};
  return std::get<WorkPoolSpec>(parseWorkPoolSpec(pool));
}

const auto kNow = std::chrono::system_clock::time_point{} + std::chrono::seconds{1796153851};

struct Fixture {
  FakePrefect prefect;
  prefect::Api api{prefect};
  flowrun_test::FakeClient kube;
  Worker worker;
  explicit Fixture(WorkPoolSpec s = spec())
      : worker(api, kube, "prefect", "k8s-pool", std::move(s), [] { return kNow; }) {}
};

}  // namespace

TEST_CASE("timestamps are sent in the Prefect client's form", "[workpool][worker]") {
  CHECK(isoTimestamp(kNow + std::chrono::microseconds{682654}) ==
        "2026-12-01T19:37:31.682654+00:00");
}

TEST_CASE("poll proposes Pending and creates a FlowRun only for an accepted run",
          "[workpool][worker]") {
  Fixture f;
  f.prefect.answer = prefectWith({"aaa", "bbb"}, {"aaa"});
  auto r = f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "2.17.1");
  INFO(r.error);
  REQUIRE(r.ok());
  CHECK(r.submitted == 1);
  CHECK(r.notOurs == 1);
  CHECK(r.active == 1);
  REQUIRE(f.prefect.requests.size() >= 4);
  CHECK(f.prefect.requests[0].path == "/work_pools/k8s-pool/get_scheduled_flow_runs");
  CHECK(f.prefect.requests[0].body["scheduled_before"] == "2026-12-01T19:37:41.000000+00:00");
  CHECK(f.prefect.requests[1].path == "/deployments/dep-1");
  CHECK(f.prefect.requests[2].path == "/flow_runs/aaa/set_state");
  CHECK(f.prefect.requests[2].body["force"] == false);
  CHECK(f.prefect.requests[3].path == "/flows/flow-1");
  auto created = f.kube.find(res::FlowRuns, "prefect", "fr-aaa");
  REQUIRE(created);
  CHECK((*created)["spec"]["flowRunId"] == "aaa");
  CHECK((*created)["spec"]["variables"]["image"] == "example.com/flows:aaa");
  CHECK((*created)["spec"]["variables"]["env"] == json{{"FOO", "bar"}});
  CHECK_FALSE(f.kube.find(res::FlowRuns, "prefect", "fr-bbb"));
  CHECK(f.kube.count("create", "flowruns") == 1);

  SECTION("a run seen again is never proposed or created twice") {
    auto again = f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "2.17.1");
    CHECK(again.submitted == 0);
    CHECK(f.prefect.count("POST", "/flow_runs/aaa/set_state") == 1);
    CHECK(f.kube.count("create", "flowruns") == 1);
  }
}

TEST_CASE("limit stops submitting while that many FlowRuns are active", "[workpool][worker]") {
  Fixture f(spec(1));
  f.prefect.answer = prefectWith({"aaa", "bbb"}, {"aaa", "bbb"});
  auto r = f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "");
  CHECK(r.submitted == 1);
  CHECK(f.prefect.count("POST", "/set_state") == 1);
  auto again = f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "");
  CHECK(again.submitted == 0);
  CHECK(again.active == 1);
  CHECK(f.prefect.count("POST", "/set_state") == 1);
  // Once the first finishes, the second goes.
  auto fr = *f.kube.find(res::FlowRuns, "prefect", "fr-aaa");
  fr["status"] = {{"phase", "Succeeded"}};
  f.kube.put(res::FlowRuns, fr);
  CHECK(f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "").submitted == 1);
  CHECK(f.kube.find(res::FlowRuns, "prefect", "fr-bbb"));
}

TEST_CASE("an unreachable or failing API is an error that creates nothing", "[workpool][worker]") {
  Fixture f;
  f.prefect.answer = [](const Request&) {
    prefect::Response r;
    r.error = "Connection";
    return r;
  };
  auto r = f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "");
  CHECK_FALSE(r.ok());
  CHECK(r.prefectStatus == 0);
  CHECK_THAT(r.error, Catch::Contains("unreachable"));
  CHECK(f.kube.count("create", "flowruns") == 0);

  f.prefect.answer = [](const Request& req) {
    if (req.path.find("get_scheduled") != std::string::npos) {
      return ok({{"detail", "Work pool \"k8s-pool\" not found."}}, 404);
    }
    return ok(nullptr, 500);
  };
  r = f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "");
  CHECK(r.prefectStatus == 404);
  CHECK_THAT(r.error, Catch::Contains("not found"));

  // The Pending proposal fails with a 500: no FlowRun, the run stays Scheduled for the next poll.
  f.prefect.answer = [](const Request& req) {
    if (req.path.find("/set_state") != std::string::npos) return ok({{"detail", "boom"}}, 500);
    return prefectWith({"ccc"}, {"ccc"})(req);
  };
  r = f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "");
  CHECK(r.prefectStatus == 500);
  CHECK_FALSE(f.kube.find(res::FlowRuns, "prefect", "fr-ccc"));
}

TEST_CASE("report sends the pid once the Job exists, and Crashed with the diagnosis, once",
          "[workpool][worker]") {
  Fixture f;
  f.prefect.answer = prefectWith({"aaa"}, {"aaa"});
  REQUIRE(f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "").submitted == 1);
  f.prefect.requests.clear();

  CHECK(f.worker.report().reported == 0);  // no Job yet: nothing to say
  CHECK(f.prefect.requests.empty());

  auto fr = *f.kube.find(res::FlowRuns, "prefect", "fr-aaa");
  fr["status"] = {{"phase", "Crashed"},
                  {"reason", "Unschedulable"},
                  {"message", "0/1 nodes are available: 1 Insufficient memory."},
                  {"jobName", "fr-aaa"},
                  {"infrastructurePid", "cluster-uid-1:prefect:fr-aaa"}};
  f.kube.put(res::FlowRuns, fr);
  auto r = f.worker.report();
  INFO(r.error);
  CHECK(r.ok());
  CHECK(r.reported == 2);
  REQUIRE(f.prefect.requests.size() == 2);
  CHECK(f.prefect.requests[0].method == "PATCH");
  CHECK(f.prefect.requests[0].path == "/flow_runs/aaa");
  CHECK(f.prefect.requests[0].body == json{{"infrastructure_pid", "cluster-uid-1:prefect:fr-aaa"}});
  CHECK(f.prefect.requests[1].path == "/flow_runs/aaa/set_state");
  CHECK(f.prefect.requests[1].body["state"]["type"] == "CRASHED");
  CHECK(f.prefect.requests[1].body["state"]["message"] ==
        "0/1 nodes are available: 1 Insufficient memory.");
  CHECK(f.prefect.requests[1].body["force"] == false);

  f.prefect.requests.clear();
  CHECK(f.worker.report().reported == 0);
  CHECK(f.prefect.requests.empty());
}

TEST_CASE("a FlowRun cancelled on the cluster sets CANCELLED with force", "[workpool][worker]") {
  Fixture f;
  f.prefect.answer = prefectWith({"aaa"}, {"aaa"});
  REQUIRE(f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "").submitted == 1);
  f.prefect.requests.clear();
  auto fr = *f.kube.find(res::FlowRuns, "prefect", "fr-aaa");
  fr["status"] = {{"phase", "Cancelled"}, {"message", "spec.cancel was set"}};
  f.kube.put(res::FlowRuns, fr);
  auto r = f.worker.report();
  CHECK(r.reported == 1);
  REQUIRE(f.prefect.requests.size() == 1);
  CHECK(f.prefect.requests[0].body["state"]["type"] == "CANCELLED");
  CHECK(f.prefect.requests[0].body["force"] == true);
}

TEST_CASE("cancellation from Prefect: ours by pid, without a pid, another cluster's",
          "[workpool][worker]") {
  Fixture f;
  f.prefect.answer = prefectWith({"aaa"}, {"aaa"});
  REQUIRE(f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "").submitted == 1);
  json cancelling = json::array(
      {{{"id", "aaa"}, {"infrastructure_pid", "cluster-uid-1:prefect:fr-aaa"}},
       {{"id", "zzz"}, {"infrastructure_pid", nullptr}},
       {{"id", "other"}, {"infrastructure_pid", "cluster-uid-2:prefect:fr-other"}},
       {{"id", "elsewhere"}, {"infrastructure_pid", "cluster-uid-1:data:fr-elsewhere"}}});
  auto base = prefectWith({}, {});
  f.prefect.answer = [&](const Request& r) {
    if (r.path == "/flow_runs/filter") {
      return r.body["flow_runs"]["state"]["type"]["any_"][0] == "CANCELLING" ? ok(cancelling)
                                                                             : ok(json::array());
    }
    return base(r);
  };
  f.prefect.requests.clear();
  auto r = f.worker.cancellations("cluster-uid-1");
  INFO(r.error);
  REQUIRE(r.ok());
  CHECK(f.prefect.count("POST", "/flow_runs/filter") == 2);
  CHECK((*f.kube.find(res::FlowRuns, "prefect", "fr-aaa"))["spec"]["cancel"] == true);
  // No pid and no FlowRun: marked Cancelled at once, with force.
  REQUIRE(f.prefect.count("POST", "/flow_runs/zzz/set_state") == 1);
  for (const auto& req : f.prefect.requests) {
    if (req.path == "/flow_runs/zzz/set_state") {
      CHECK(req.body["state"]["type"] == "CANCELLED");
      CHECK(req.body["force"] == true);
    }
  }
  CHECK(f.prefect.count("POST", "/flow_runs/other/set_state") == 0);
  CHECK(f.prefect.count("POST", "/flow_runs/elsewhere/set_state") == 0);
  CHECK_FALSE(f.kube.find(res::FlowRuns, "prefect", "fr-other"));
}

TEST_CASE("a Failed FlowRun proposes CRASHED with the Python worker's non-zero exit message",
          "[workpool][worker]") {
  Fixture f;
  f.prefect.answer = prefectWith({"aaa"}, {"aaa"});
  REQUIRE(f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "").submitted == 1);
  f.prefect.requests.clear();
  auto fr = *f.kube.find(res::FlowRuns, "prefect", "fr-aaa");
  SECTION("with the container's exit code") {
    fr["status"] = {{"phase", "Failed"}, {"exitCode", 3}, {"message", "container exited 3"}};
    f.kube.put(res::FlowRuns, fr);
    CHECK(f.worker.report().reported == 1);
    REQUIRE(f.prefect.requests.size() == 1);
    CHECK(f.prefect.requests[0].path == "/flow_runs/aaa/set_state");
    CHECK(f.prefect.requests[0].body["state"]["type"] == "CRASHED");
    CHECK(f.prefect.requests[0].body["state"]["message"] ==
          "Flow run infrastructure exited with non-zero status code 3.");
    CHECK(f.prefect.requests[0].body["force"] == false);
  }
  SECTION("without one: -1, and what the cluster knows") {
    fr["status"] = {{"phase", "Failed"}, {"reason", "DeadlineExceeded"}, {"message", "too slow"}};
    f.kube.put(res::FlowRuns, fr);
    CHECK(f.worker.report().reported == 1);
    REQUIRE(f.prefect.requests.size() == 1);
    CHECK(f.prefect.requests[0].body["state"]["message"] ==
          "Flow run infrastructure exited with non-zero status code -1. too slow");
  }
  SECTION("an ABORT (the engine already reported FAILED) is final, never retried") {
    fr["status"] = {{"phase", "Failed"}, {"exitCode", 1}};
    f.kube.put(res::FlowRuns, fr);
    f.prefect.answer = [](const Request&) {
      return ok(
          {{"status", "ABORT"},
           {"state", {{"type", "FAILED"}}},
           {"details",
            {{"type", "abort_details"}, {"reason", "Run is already in terminal state FAILED."}}}});
    };
    auto r = f.worker.report();
    CHECK(r.ok());
    f.prefect.requests.clear();
    CHECK(f.worker.report().ok());
    CHECK(f.prefect.requests.empty());
  }
}

namespace {

// A PENDING run as flow_runs/filter returns it.
json pendingRun(const std::string& id, const json& message, const json& pid = nullptr) {
  return {{"id", id},
          {"name", "run-" + id},
          {"flow_id", "flow-1"},
          {"deployment_id", "dep-1"},
          {"infrastructure_pid", pid},
          {"job_variables", json::object()},
          {"state", {{"type", "PENDING"}, {"name", "Pending"}, {"message", message}}}};
}

}  // namespace

TEST_CASE("poll claims with the worker's message and repair finds only its own unfinished claims",
          "[workpool][worker]") {
  Fixture f;
  const std::string claim = claimMessage("w1", "cluster-uid-1", "prefect", "k8s-pool");
  CHECK(claim == "Claimed by worker w1 (cluster cluster-uid-1, WorkPool prefect/k8s-pool)");
  f.worker.claimAs(claim);
  f.prefect.answer = prefectWith({"aaa"}, {"aaa"});
  REQUIRE(f.worker.poll(controllers::flowrun::defaultBaseJobTemplate(), "").submitted == 1);
  CHECK(f.prefect.requests[2].body["state"]["message"] == claim);

  const std::string other = claimMessage("w1", "cluster-uid-2", "prefect", "k8s-pool");
  json pending = json::array({pendingRun("aaa", claim),                        // has its FlowRun
                              pendingRun("lost", claim),                       // ours, no FlowRun
                              pendingRun("jobbed", claim, "cluster-uid-1:x"),  // has a Job
                              pendingRun("theirs", other),      // another cluster's claim
                              pendingRun("python", nullptr)});  // a Python worker's
  auto base = prefectWith({}, {});
  json filterBody;
  f.prefect.answer = [&](const Request& r) {
    if (r.path == "/flow_runs/filter") {
      filterBody = r.body;
      return ok(pending);
    }
    return base(r);
  };
  f.prefect.requests.clear();
  auto r = f.worker.repair(controllers::flowrun::defaultBaseJobTemplate(), "");
  INFO(r.error);
  REQUIRE(r.ok());
  CHECK(r.repaired == 1);
  CHECK(filterBody["flow_runs"]["state"]["type"]["any_"] == json::array({"PENDING"}));
  CHECK(filterBody["work_pools"]["name"]["any_"] == json::array({"k8s-pool"}));
  CHECK(f.kube.find(res::FlowRuns, "prefect", "fr-lost"));
  CHECK((*f.kube.find(res::FlowRuns, "prefect", "fr-lost"))["spec"]["flowRunId"] == "lost");
  for (const char* id : {"jobbed", "theirs", "python"}) {
    INFO(id);
    CHECK_FALSE(f.kube.find(res::FlowRuns, "prefect", std::string("fr-") + id));
  }
  CHECK(f.prefect.count("POST", "/set_state") == 0);  // repair never proposes a state
  CHECK(f.kube.count("create", "flowruns") == 2);

  SECTION("a second repair creates nothing more") {
    auto again = f.worker.repair(controllers::flowrun::defaultBaseJobTemplate(), "");
    CHECK(again.repaired == 0);
    CHECK(f.kube.count("create", "flowruns") == 2);
  }
}

TEST_CASE("repair pages through more PENDING runs than one page and honours limit",
          "[workpool][worker]") {
  Fixture f(spec(250));
  const std::string claim = claimMessage("w1", "cluster-uid-1", "prefect", "k8s-pool");
  f.worker.claimAs(claim);
  json all = json::array();
  for (int i = 0; i < 300; ++i) all.push_back(pendingRun("run" + std::to_string(i), claim));
  auto base = prefectWith({}, {});
  f.prefect.answer = [&](const Request& r) {
    if (r.path == "/flow_runs/filter") {
      const int offset = r.body["offset"], limit = r.body["limit"];
      json page = json::array();
      for (int i = offset; i < std::min(offset + limit, 300); ++i) page.push_back(all[i]);
      return ok(page);
    }
    return base(r);
  };
  auto r = f.worker.repair(controllers::flowrun::defaultBaseJobTemplate(), "");
  INFO(r.error);
  REQUIRE(r.ok());
  CHECK(f.prefect.count("POST", "/flow_runs/filter") == 2);
  CHECK(r.repaired == 250);  // limit
  CHECK(f.kube.count("create", "flowruns") == 250);
  CHECK(f.prefect.count("GET", "/deployments/dep-1") == 1);  // one read per cycle, not per run
}

TEST_CASE("without a claim (no cluster identity yet) repair does nothing", "[workpool][worker]") {
  Fixture f;
  f.prefect.answer = prefectWith({}, {});
  auto r = f.worker.repair(controllers::flowrun::defaultBaseJobTemplate(), "");
  CHECK(r.ok());
  CHECK(f.prefect.requests.empty());
}
