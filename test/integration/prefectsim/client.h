// A small Prefect API client for the prefectsim tests: JSON in, status and JSON out.
#pragma once

#include <httplib.h>

#include <nlohmann/json.hpp>
#include <string>

namespace prefectsim_test {

struct Answer {
  int status = 0;  // 0 when there was no answer
  nlohmann::json body;
  std::string raw;
};

class Client {
 public:
  Client(int port, std::string key = "") : http_("127.0.0.1", port), key_(std::move(key)) {
    http_.set_read_timeout(10, 0);
  }
  Answer call(const std::string& method, const std::string& path,
              const nlohmann::json& body = nullptr) {
    httplib::Headers h;
    if (!key_.empty()) h.emplace("Authorization", "Bearer " + key_);
    std::string b = body.is_null() ? "" : body.dump();
    auto r = method == "GET"      ? http_.Get(path, h)
             : method == "DELETE" ? http_.Delete(path, h)
             : method == "PATCH"  ? http_.Patch(path, h, b, "application/json")
                                  : http_.Post(path, h, b, "application/json");
    Answer a;
    if (!r) return a;
    a.status = r->status;
    a.raw = r->body;
    a.body =
        r->body.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(r->body, nullptr, false);
    return a;
  }
  // A pool "pool", a flow and a deployment; returns the deployment id.
  std::string seed(const std::string& pool = "pool") {
    call("POST", "/api/work_pools/", {{"name", pool}, {"type", "kubernetes"}});
    auto flow = call("POST", "/api/flows/", {{"name", "flow"}, {"tags", nlohmann::json::array()}});
    auto dep = call("POST", "/api/deployments/",
                    {{"name", "dep"},
                     {"flow_id", flow.body["id"]},
                     {"work_pool_name", pool},
                     {"work_queue_name", "default"}});
    return dep.body["id"];
  }
  std::string createRun(const std::string& deploymentId) {
    return call("POST", "/api/deployments/" + deploymentId + "/create_flow_run",
                nlohmann::json::object())
        .body["id"];
  }
  Answer propose(const std::string& runId, const std::string& type, bool force = false) {
    std::string name = type.substr(0, 1);
    for (size_t i = 1; i < type.size(); ++i) name += static_cast<char>(std::tolower(type[i]));
    return call(
        "POST", "/api/flow_runs/" + runId + "/set_state",
        {{"state", {{"type", type}, {"name", name}, {"message", nullptr}}}, {"force", force}});
  }

 private:
  httplib::Client http_;
  std::string key_;
};

}  // namespace prefectsim_test
