// The real KubernetesWorker sessions replayed request by request against prefectsim: the pool,
// deployment and flow runs the recorder made out of band are created first (when a recorded
// get_scheduled_flow_runs answer first lists them), recorded ids are mapped to ours, the real
// server's busy 503s are reproduced with one-shot faults; then each answer must have the recorded
// status and, for set_state, the recorded orchestration status and reason.
#include <catch2/catch.hpp>

#include <ctime>
#include <map>
#include <regex>

#include "test/integration/prefectsim/client.h"
#include "test/integration/prefectsim/replay.h"
#include "test/prefectsim/server.h"

using nlohmann::json;
using prefectsim_test::Client;

namespace {

std::string inTenSeconds() {
  std::time_t t = std::time(nullptr) + 10;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000000+00:00", &tm);
  return buf;
}

struct SessionReplay {
  explicit SessionReplay(int port) : c(port) {}

  std::string map(const std::string& s) const {
    static const std::regex uuid(R"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})");
    std::string out;
    size_t last = 0;
    for (auto it = std::sregex_iterator(s.begin(), s.end(), uuid); it != std::sregex_iterator();
         ++it) {
      out += s.substr(last, static_cast<size_t>(it->position()) - last);
      auto f = ids.find(it->str());
      out += f == ids.end() ? it->str() : f->second;
      last = static_cast<size_t>(it->position() + it->length());
    }
    return out + s.substr(last);
  }

  // Creates the out-of-band objects a recorded scheduled-runs answer shows, in our server.
  void createListed(const std::string& pool, const json& scheduled) {
    for (auto& item : scheduled) {
      const json& fr = item["flow_run"];
      if (ids.count(fr["id"])) continue;
      if (!ids.count(fr["deployment_id"])) {
        auto flow =
            c.call("POST", "/api/flows/", {{"name", "flow-" + fr["flow_id"].get<std::string>()}});
        ids[fr["flow_id"]] = flow.body["id"];
        auto dep = c.call("POST", "/api/deployments/",
                          {{"name", "dep"},
                           {"flow_id", flow.body["id"]},
                           {"work_pool_name", pool},
                           {"work_queue_name", fr["work_queue_name"]}});
        ids[fr["deployment_id"]] = dep.body["id"];
      }
      auto run = c.call("POST", "/api/flow_runs/",
                        {{"flow_id", ids[fr["flow_id"]]},
                         {"deployment_id", ids[fr["deployment_id"]]},
                         {"job_variables", fr["job_variables"]},
                         {"parameters", fr["parameters"]}});
      ids[fr["id"]] = run.body["id"];
    }
  }

  // A recorded filter answer lists runs the recorder changed out of band (set Running, then
  // Cancelling, or created with another cluster's pid): bring ours to the same state first.
  void syncListed(const std::string& pool, const json& listed) {
    for (auto& fr : listed) {
      if (!ids.count(fr["id"])) {
        createListed(pool, json::array({{{"flow_run", fr}}}));
        c.call("PATCH", "/api/flow_runs/" + ids[fr["id"]],
               {{"infrastructure_pid", fr["infrastructure_pid"]}});
      }
      const std::string ours = ids[fr["id"]];
      auto now = c.call("GET", "/api/flow_runs/" + ours);
      if (now.body["state_type"] != fr["state_type"] || now.body["state_name"] != fr["state_name"])
        c.call(
            "POST", "/api/flow_runs/" + ours + "/set_state",
            {{"state", {{"type", fr["state_type"]}, {"name", fr["state_name"]}}}, {"force", true}});
    }
  }

  // Replays exchanges [from, to) of the session; returns the mismatches.
  std::vector<std::string> replay(const json& session, const std::string& pool, size_t to) {
    std::vector<std::string> out;
    const json& ex = session["exchanges"];
    for (size_t i = 0; i < std::min(to, ex.size()); ++i) {
      const json& e = ex[i];
      std::string method = e["method"], path = map(e["path"]);
      int status = e["status"];
      if (path.find("get_scheduled_flow_runs") != std::string::npos && e["resp_body"].is_array())
        createListed(pool, e["resp_body"]);
      if (path == "/api/flow_runs/filter" && e["resp_body"].is_array())
        syncListed(pool, e["resp_body"]);
      if (status == 503)  // the real server's SQLite was busy: reproduce that answer
        c.call("POST", "/prefectsim/faults",
               {{"method", method}, {"path", path}, {"status", 503}, {"count", 1}});
      json body = e["req_body"].is_null() ? json(nullptr) : json::parse(map(e["req_body"].dump()));
      // the worker asks for runs due before now + its prefetch (10 s), now being replay time
      if (body.is_object() && body.contains("scheduled_before"))
        body["scheduled_before"] = inTenSeconds();
      auto a = c.call(method, path, body);
      std::string where = "seq " + std::to_string(e["seq"].get<int>()) + " " + method + " " + path;
      if (a.status != status)
        out.push_back(where + ": status " + std::to_string(a.status) + ", recorded " +
                      std::to_string(status) + " " + a.raw.substr(0, 300));
      const json& rec = e["resp_body"];
      if (rec.is_object() && rec.contains("details") && a.body.is_object()) {
        if (a.body["status"] != rec["status"] || a.body["details"] != rec["details"])
          out.push_back(where + ": " + a.body["status"].dump() + " " + a.body["details"].dump() +
                        ", recorded " + rec["status"].dump() + " " + rec["details"].dump());
      }
      if (rec.is_array() && a.body.is_array() && rec.size() != a.body.size())
        out.push_back(where + ": " + std::to_string(a.body.size()) + " items, recorded " +
                      std::to_string(rec.size()));
    }
    return out;
  }

  Client c;
  std::map<std::string, std::string> ids;
};

void run(const std::string& file, const std::string& pool, size_t upTo) {
  json session = prefectsim_test::loadJson(prefectsim_test::recordingsDir() + "/" + file);
  prefectsim::Server server;
  server.start();
  SessionReplay r(server.port());
  REQUIRE(r.c.call("POST", "/api/work_pools/", {{"name", pool}, {"type", "kubernetes"}}).status ==
          201);
  auto mismatches = r.replay(session, pool, upTo);
  for (auto& m : mismatches) UNSCOPED_INFO(m);
  CHECK(mismatches.empty());
}

}  // namespace

TEST_CASE("session: the real worker whose Job creation fails, request by request") {
  run("real-k8s-worker.submit-failure.prefect-api.json", "k8s-run2", 1u << 30);
}

TEST_CASE("session: the real worker racing a second worker for the same runs, request by request") {
  run("real-k8s-worker.prefect-api.json", "k8s-run2", 1u << 30);
}

TEST_CASE("session: the real process worker and the flow engine, request by request") {
  run("real-process-worker-and-engine.prefect-api.json", "proc-run2", 1u << 30);
}
