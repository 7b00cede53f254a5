// Events written by ApiEventRecorder as kubectl shows them: one Event per distinct
// (object, type, reason, message), repeats counted.
#include <catch2/catch.hpp>

#include "operator/runtime/api_event_recorder.h"
#include "test/integration/runtime/runtime_env.h"

using namespace std::chrono_literals;
using kube::json;

TEST_CASE("kubesim: events land with counts and kubectl describe shows them", "[kubesim][events]") {
  runtimetest::KubesimEnv env({"data"});
  auto client = env.client();
  auto cm = client->create(kube::resources::ConfigMaps, "data",
                           {{"apiVersion", "v1"},
                            {"kind", "ConfigMap"},
                            {"metadata", {{"name", "run-1"}, {"namespace", "data"}}},
                            {"data", {{"k", "v"}}}});
  REQUIRE(cm.ok());

  runtime::ApiEventRecorder recorder(*client, "flowrun-operator");
  for (int i = 0; i < 3; ++i)
    recorder.record(cm.value(), "Warning", "PodPending", "0/1 nodes are available");
  recorder.record(cm.value(), "Normal", "JobCreated", "Created Job run-1");
  REQUIRE(recorder.flush(10s));
  CHECK(recorder.dropped() == 0);

  auto got = env.kubectl({"get", "events", "-n", "data", "-o", "json"});
  INFO(got.err);
  REQUIRE(got.exitCode == 0);
  auto items = json::parse(got.out)["items"];
  REQUIRE(items.size() == 2);
  std::map<std::string, json> byReason;
  for (auto& e : items) byReason[e["reason"]] = e;
  CHECK(byReason["PodPending"]["count"] == 3);
  CHECK(byReason["PodPending"]["type"] == "Warning");
  CHECK(byReason["PodPending"]["involvedObject"]["uid"] == cm.value()["metadata"]["uid"]);
  CHECK(byReason["PodPending"]["source"]["component"] == "flowrun-operator");
  CHECK(byReason["JobCreated"]["count"] == 1);

  auto describe = env.kubectl({"describe", "configmap", "run-1", "-n", "data"});
  INFO(describe.out << describe.err);
  REQUIRE(describe.exitCode == 0);
  CHECK(describe.out.find("PodPending") != std::string::npos);
  CHECK(describe.out.find("(x3 over") != std::string::npos);
  CHECK(describe.out.find("JobCreated") != std::string::npos);
  CHECK(describe.out.find("flowrun-operator") != std::string::npos);
}
