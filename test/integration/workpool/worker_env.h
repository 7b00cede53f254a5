#pragma once
// Worker mode end to end, as a user drives it: prefectsim (in-process) as the Prefect server, one
// or more kubesims as clusters, each with the operator binary (--enable-workpools), WorkPools
// applied and read back with kubectl, Prefect's side read through its HTTP API.
#include <httplib.h>
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "test/integration/operator_cluster.h"
#include "test/kubesim/simulator.h"
#include "test/prefectsim/server.h"
#include "test/support/operator_process.h"
#include "test/support/process.h"

namespace workpool_test {

using nlohmann::json;
using testsupport::waitFor;
using namespace std::chrono_literals;

inline std::string stateType(const json& run) {
  return run.is_object() && run["state"].is_object() ? run["state"].value("type", "") : "";
}

// One cluster: a kubesim with the CRDs, namespaces flowrun-operator and prefect, and the
// operator binary serving WorkPools.
struct Cluster : testsupport::OperatorCluster {
  Cluster()
      : OperatorCluster(0.05, {"--enable-workpools"}, {"flowrun-operator", "prefect"},
                        "workpools") {}
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
  json getJson(const std::vector<std::string>& what) {
    std::vector<std::string> args = {"get"};
    args.insert(args.end(), what.begin(), what.end());
    args.insert(args.end(), {"-n", "prefect", "-o", "json"});
    auto r = kubectl(args);
    return r.exitCode == 0 ? json::parse(r.out, nullptr, false) : json();
  }
  std::string connected(const std::string& pool, const char* field) {
    return jsonpath({"wp", pool},
                    std::string("{.status.conditions[?(@.type==\"Connected\")].") + field + "}");
  }
  std::string clusterUid() {
    std::string uid;
    waitFor(
        [&] {
          uid = kubectl({"get", "clusteridentity", "cluster", "-o", "jsonpath={.status.uid}"}).out;
          return !uid.empty();
        },
        20s, 50ms);
    return uid;
  }
};

// Prefect's side, as a user of the API sees it.
struct Prefect {
  prefectsim::Server prefect;
  prefectsim::DemoIds demo;

  Prefect() {
    prefect.start();
    demo = prefect.seedDemo();
  }
  ~Prefect() { prefect.stop(); }
  json api(const std::string& method, const std::string& path, const json& body = nullptr) {
    httplib::Client c("127.0.0.1", prefect.port());
    auto r = method == "GET"     ? c.Get("/api" + path)
             : method == "PATCH" ? c.Patch("/api" + path, body.dump(), "application/json")
                                 : c.Post("/api" + path, body.dump(), "application/json");
    REQUIRE(r);
    return r->body.empty() ? json() : json::parse(r->body, nullptr, false);
  }
  std::string createRun(const json& jobVariables = json::object()) {
    json run = api("POST", "/deployments/" + demo.deploymentId + "/create_flow_run",
                   {{"job_variables", jobVariables}});
    REQUIRE(run.contains("id"));
    return run["id"];
  }
  json flowRun(const std::string& id) { return api("GET", "/flow_runs/" + id); }
  json propose(const std::string& id, const std::string& type, const json& message = nullptr,
               bool force = false) {
    return api("POST", "/flow_runs/" + id + "/set_state",
               {{"state", {{"type", type}, {"message", message}}}, {"force", force}});
  }
  // Every flow run of the pool (flow_runs/filter pages through them).
  std::vector<json> poolRuns() {
    std::vector<json> out;
    for (int offset = 0;; offset += 200) {
      json page = api("POST", "/flow_runs/filter",
                      {{"work_pools", {{"name", {{"any_", {demo.workPoolName}}}}}},
                       {"limit", 200},
                       {"offset", offset}});
      REQUIRE(page.is_array());
      for (auto& r : page) out.push_back(r);
      if (page.size() < 200) return out;
    }
  }
  void waitRun(const std::string& id, const std::function<bool(const json&)>& pred,
               std::chrono::milliseconds deadline, const std::function<std::string()>& log) {
    json last;
    bool ok = waitFor(
        [&] {
          last = flowRun(id);
          return pred(last);
        },
        deadline, 100ms);
    INFO("flow run: " << last.dump());
    INFO("operator log:\n" << log());
    REQUIRE(ok);
  }
};

// One cluster and one Prefect: most tests.
struct Env : Prefect, Cluster {
  void waitRun(const std::string& id, const std::function<bool(const json&)>& pred,
               std::chrono::milliseconds deadline = 30s) {
    Prefect::waitRun(id, pred, deadline, [this] { return operatorLog(); });
  }
};

}  // namespace workpool_test
