// prefectsim's behaviours beyond the numbered recordings: the two-worker race of the real
// KubernetesWorker session, the bearer check, faults, the request log and the binary.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>

#include "test/integration/prefectsim/client.h"
#include "test/integration/prefectsim/replay.h"
#include "test/prefectsim/server.h"
#include "test/support/process.h"

using prefectsim_test::Client;
using prefectsim_test::json;

namespace {

// The ABORT the real server gave the second worker in real-k8s-worker.prefect-api.json.
json recordedRaceAbort() {
  json session = prefectsim_test::loadJson(prefectsim_test::recordingsDir() +
                                           "/real-k8s-worker.prefect-api.json");
  for (auto& e : session["exchanges"]) {
    if (e.value("method", "") == "POST" && e.value("status", 0) == 200 &&
        e["resp_body"].is_object() && e["resp_body"].value("status", "") == "ABORT" &&
        e["req_body"]["state"].value("type", "") == "PENDING")
      return e["resp_body"];
  }
  return nullptr;
}

}  // namespace

TEST_CASE("prefectsim: two workers race for one run, exactly one Pending is accepted") {
  json recorded = recordedRaceAbort();
  REQUIRE(recorded.is_object());
  prefectsim::Server server;
  server.start();
  Client c(server.port());
  std::string dep = c.seed();
  for (int round = 0; round < 5; ++round) {
    std::string run = c.createRun(dep);
    prefectsim_test::Answer a, b;
    std::thread t1([&] { a = Client(server.port()).propose(run, "PENDING"); });
    std::thread t2([&] { b = Client(server.port()).propose(run, "PENDING"); });
    t1.join();
    t2.join();
    const auto& accepted = a.body["status"] == "ACCEPT" ? a : b;
    const auto& aborted = a.body["status"] == "ACCEPT" ? b : a;
    CHECK(accepted.status == 201);
    CHECK(accepted.body["status"] == "ACCEPT");
    CHECK(aborted.status == 200);
    CHECK(aborted.body["status"] == "ABORT");
    CHECK(aborted.body["details"] == recorded["details"]);
    CHECK(aborted.body["state"]["id"] == accepted.body["state"]["id"]);
  }
}

TEST_CASE("prefectsim: the real worker's get_scheduled_flow_runs honours queues, time and limit") {
  prefectsim::Server server;
  server.start();
  Client c(server.port());
  std::string dep = c.seed();
  std::string r1 = c.createRun(dep), r2 = c.createRun(dep);
  auto all = c.call(
      "POST", "/api/work_pools/pool/get_scheduled_flow_runs",
      {{"work_queue_names", json::array()}, {"scheduled_before", "2999-01-01T00:00:00+00:00"}});
  REQUIRE(all.status == 200);
  CHECK(all.body.size() == 2);
  auto limited = c.call("POST", "/api/work_pools/pool/get_scheduled_flow_runs", {{"limit", 1}});
  CHECK(limited.body.size() == 1);
  auto past = c.call("POST", "/api/work_pools/pool/get_scheduled_flow_runs",
                     {{"scheduled_before", "2000-01-01T00:00:00+00:00"}});
  CHECK(past.body.empty());
  auto otherQueue = c.call("POST", "/api/work_pools/pool/get_scheduled_flow_runs",
                           {{"work_queue_names", {"other"}}});
  CHECK(otherQueue.body.empty());
  c.propose(r1, "PENDING");
  auto after = c.call("POST", "/api/work_pools/pool/get_scheduled_flow_runs", json::object());
  REQUIRE(after.body.size() == 1);
  CHECK(after.body[0]["flow_run"]["id"] == r2);
  // Crashed while Cancelling is rejected, Crashed after a terminal state aborted.
  c.propose(r1, "CANCELLING");
  auto crashed = c.propose(r1, "CRASHED");
  CHECK(crashed.status == 200);
  CHECK(crashed.body["status"] == "REJECT");
  CHECK(crashed.body["details"]["reason"] ==
        "Cannot transition flows that are cancelling to a state other than Cancelled.");
  CHECK(c.propose(r1, "CANCELLED", true).status == 201);
  auto late = c.propose(r1, "CRASHED");
  CHECK(late.body["details"]["reason"] == "Run is already in terminal state CANCELLED.");
}

TEST_CASE("prefectsim: with an API key, requests without the bearer get 401 and are logged") {
  prefectsim::Server server({"127.0.0.1", 0, std::string("sekret")});
  server.start();
  auto denied = Client(server.port()).call("GET", "/api/work_pools/x");
  CHECK(denied.status == 401);
  CHECK(denied.body == json{{"detail", "Unauthorized"}});
  CHECK(Client(server.port(), "wrong").call("GET", "/api/health").status == 401);
  CHECK(Client(server.port(), "sekret").call("GET", "/api/health").status == 200);
  auto log = Client(server.port()).call("GET", "/prefectsim/requests");
  REQUIRE(log.body.size() == 3);
  CHECK(log.body[0]["authorized"] == false);
  CHECK(log.body[0]["status"] == 401);
  CHECK(log.body[0]["path"] == "/api/work_pools/x");
  CHECK(log.body[2]["authorized"] == true);
  CHECK(log.raw.find("sekret") == std::string::npos);
  CHECK(Client(server.port()).call("DELETE", "/prefectsim/requests").status == 204);
  CHECK(Client(server.port()).call("GET", "/prefectsim/requests").body.empty());
}

TEST_CASE("prefectsim: faults answer matching requests, count down, delay and can be removed") {
  prefectsim::Server server;
  server.start();
  Client c(server.port());
  c.seed();
  auto id = c.call("POST", "/prefectsim/faults",
                   {{"method", "POST"},
                    {"path", "get_scheduled_flow_runs"},
                    {"status", 503},
                    {"count", 2},
                    {"retry_after", 1}});
  REQUIRE(id.status == 201);
  auto f1 = c.call("POST", "/api/work_pools/pool/get_scheduled_flow_runs", json::object());
  CHECK(f1.status == 503);
  CHECK(f1.body.contains("detail"));
  CHECK(c.call("GET", "/api/work_pools/pool").status == 200);  // other paths untouched
  CHECK(c.call("POST", "/api/work_pools/pool/get_scheduled_flow_runs", json::object()).status ==
        503);
  CHECK(c.call("POST", "/api/work_pools/pool/get_scheduled_flow_runs", json::object()).status ==
        200);

  auto malformed =
      c.call("POST", "/prefectsim/faults",
             {{"path", "/api/work_pools/pool"}, {"status", 200}, {"body", "{not json"}});
  auto bad = c.call("GET", "/api/work_pools/pool");
  CHECK(bad.status == 200);
  CHECK(bad.raw == "{not json");
  CHECK(c.call("DELETE", "/prefectsim/faults/" + std::to_string(malformed.body["id"].get<int>()))
            .status == 204);
  CHECK(c.call("GET", "/api/work_pools/pool").body["name"] == "pool");

  c.call("POST", "/prefectsim/faults",
         {{"path", "/api/health"}, {"status", 200}, {"delay_ms", 300}, {"body", "true"}});
  auto start = std::chrono::steady_clock::now();
  CHECK(c.call("GET", "/api/health").status == 200);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(300));
  CHECK(c.call("DELETE", "/prefectsim/faults").status == 204);
  auto log = c.call("GET", "/prefectsim/requests");
  CHECK(log.body.size() == 10);  // 3 to seed, 7 above
}

TEST_CASE("prefectsim: the binary prints its one startup line and serves until SIGTERM") {
  testsupport::TempDir dir;
  const std::string log = dir.file("prefectsim.log");
  testsupport::BackgroundProcess p(
      {PREFECTSIM_BINARY, "--port", "0", "--api-key", "k", "--seed-demo"}, log);
  const std::string prefix = "prefectsim listening on http://127.0.0.1:";
  std::string line;
  REQUIRE(testsupport::waitFor([&] {
    auto text = p.log();
    auto at = text.find(prefix);
    if (at == std::string::npos) return false;
    auto end = text.find('\n', at);
    if (end == std::string::npos) return false;
    line = text.substr(at, end - at);
    return true;
  }));
  REQUIRE(line.size() > prefix.size() + 4);
  CHECK(line.substr(line.size() - 4) == "/api");
  int port = std::stoi(line.substr(prefix.size()));
  CHECK(Client(port, "k").call("GET", "/api/work_pools/demo-pool").body["name"] == "demo-pool");
  CHECK(Client(port).call("GET", "/api/work_pools/demo-pool").status == 401);
  CHECK(p.stop() == 0);
  // exactly one line on stdout: the demo ids go to stderr, which shares the log here
  CHECK(p.log().find(prefix) == p.log().rfind(prefix));
}

TEST_CASE("prefectsim: flow_runs/filter pages by limit and offset and refuses a limit over 200") {
  prefectsim::Server server;
  server.start();
  Client c(server.port());
  std::string dep = c.seed();
  for (int i = 0; i < 3; ++i) c.createRun(dep);
  auto page = [&](json limit, int offset) {
    return c.call(
        "POST", "/api/flow_runs/filter",
        {{"work_pools", {{"name", {{"any_", {"pool"}}}}}}, {"limit", limit}, {"offset", offset}});
  };
  CHECK(page(2, 0).body.size() == 2);
  CHECK(page(2, 2).body.size() == 1);
  CHECK(page(nullptr, 0).body.size() == 3);  // null: the server's default page
  CHECK(page(200, 0).status == 200);
  // prefect/server/api/dependencies.py LimitBody, as a real 2.17 server answers it.
  auto tooMany = page(201, 0);
  CHECK(tooMany.status == 422);
  CHECK(tooMany.body == json{{"detail", "Invalid limit: must be less than or equal to 200."}});
  auto negative = page(-1, 0);
  CHECK(negative.status == 422);
  CHECK(negative.body == json{{"detail", "Invalid limit: must be greater than or equal to 0."}});
}
