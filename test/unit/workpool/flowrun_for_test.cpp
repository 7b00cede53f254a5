// The FlowRun built for a Prefect flow run, and the Job the existing renderer makes of it,
// checked against what the real Kubernetes worker posted (shared/prefect-api/transcript:
// k8s-job-manifest-as-posted-by-real-worker.json, with its deployment and flow).
#include <catch2/catch.hpp>

#include "controllers/flowrun/job_renderer.h"
#include "controllers/workpool/flowrun_for.h"

using namespace controllers::workpool;
using nlohmann::json;

namespace {

WorkPoolSpec poolSpec() {
  auto r = parseWorkPoolSpec({{"metadata", {{"name", "k8s-run2"}}},
                              {"spec",
                               {{"apiUrl", "http://127.0.0.1:4202/api"},
                                {"apiKeySecret", {{"name", "prefect-api-key"}}}}}});
  REQUIRE(std::holds_alternative<WorkPoolSpec>(r));
  return std::get<WorkPoolSpec>(r);
}

FlowRunInputs recorded(const WorkPoolSpec& spec) {
  FlowRunInputs in;
  in.workPoolName = "k8s-run2";
  in.ns = "prefect";
  in.spec = &spec;
  in.baseJobTemplate = controllers::flowrun::defaultBaseJobTemplate();
  in.flowRun = {{"id", "e2713a7f-faa4-4ab1-8de0-12402f765480"},
                {"name", "wealthy-toucan"},
                {"flow_id", "f3d1078d-1dcb-45de-adb9-2a0e87f60159"},
                {"deployment_id", "68f47211-b3b8-4dc7-b3a0-2c4f2390c707"},
                {"job_variables", {{"image", "example.com/flows:sleep"}}}};
  in.deployment = {{"id", "68f47211-b3b8-4dc7-b3a0-2c4f2390c707"},
                   {"name", "k8s-run2-dep"},
                   {"updated", "2026-12-01T19:36:26.691169Z"},
                   {"job_variables",
                    {{"image", "example.com/flows:1.0"},
                     {"namespace", "flows"},
                     {"env", {{"FOO", "bar"}}},
                     {"labels", {{"team", "data"}}},
                     {"not_in_template", 1}}}};
  in.flow = {{"id", "f3d1078d-1dcb-45de-adb9-2a0e87f60159"}, {"name", "hello"}};
  in.prefectVersion = "2.17.1";
  return in;
}

const json* envVar(const json& container, const std::string& name) {
  for (const auto& e : container.at("env")) {
    if (e.at("name") == name) return &e;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("the FlowRun name is deterministic and a valid name", "[workpool][flowrun]") {
  CHECK(flowRunNameFor("e2713a7f-faa4-4ab1-8de0-12402f765480") ==
        "fr-e2713a7f-faa4-4ab1-8de0-12402f765480");
  CHECK(flowRunNameFor("ABC") == flowRunNameFor("ABC"));
  CHECK(flowRunNameFor("ABC") != flowRunNameFor("abc"));
  CHECK(flowRunNameFor(std::string(100, 'a')).size() <= 63);
}

TEST_CASE("the FlowRun for a flow run carries the template, merged variables, labels and env",
          "[workpool][flowrun]") {
  const auto spec = poolSpec();
  std::string error;
  const json fr = buildFlowRun(recorded(spec), error);
  INFO(error);
  REQUIRE(fr.is_object());
  CHECK(fr.at("metadata").at("name") == "fr-e2713a7f-faa4-4ab1-8de0-12402f765480");
  CHECK(fr.at("metadata").at("namespace") == "prefect");
  CHECK(fr.at("metadata").at("labels").at("prefect.io/workpool") == "k8s-run2");
  CHECK_FALSE(fr.at("metadata").contains("ownerReferences"));
  const json& s = fr.at("spec");
  CHECK(s.at("flowRunId") == "e2713a7f-faa4-4ab1-8de0-12402f765480");
  CHECK(s.at("flowName") == "hello");
  CHECK(s.at("template").at("job_configuration") ==
        controllers::flowrun::defaultBaseJobTemplate().at("job_configuration"));
  CHECK(s.at("variables").at("image") == "example.com/flows:sleep");  // flow run beats deployment
  CHECK(s.at("variables").at("env") == json{{"FOO", "bar"}});
  CHECK(s.at("variables").at("pod_watch_timeout_seconds") == 60);  // template default
  CHECK_FALSE(s.at("variables").contains("namespace"));            // the WorkPool's namespace wins
  CHECK_FALSE(s.at("variables").contains("not_in_template"));
  CHECK(s.at("env") == json{{"PREFECT_API_URL", "http://127.0.0.1:4202/api"}});
  CHECK(s.at("apiKeySecret") == json{{"name", "prefect-api-key"}, {"key", "key"}});
  CHECK(s.at("labels").at("prefect.io/deployment-updated") == "2026-12-01t19-36-26.691169z");
}

TEST_CASE("the renderer makes of it the Job the real worker made", "[workpool][flowrun]") {
  const auto spec = poolSpec();
  std::string error;
  json fr = buildFlowRun(recorded(spec), error);
  REQUIRE(fr.is_object());
  fr["metadata"]["uid"] = "11111111-2222-3333-4444-555555555555";
  const auto& tmpl = fr.at("spec").at("template");
  auto r = controllers::flowrun::renderJob(
      fr, tmpl,
      {.clusterUid = "3c6c9f1e-8a36-4f0e-9b39-0c1de5c8a111",
       .apiKeySecretRef = std::pair<std::string, std::string>{"prefect-api-key", "key"},
       .templateOrigin = "spec.template"});
  INFO((r.error ? r.error->describe() : std::string{}));
  REQUIRE(r.ok());
  const json& job = *r.job;
  CHECK(job.at("metadata").at("namespace") == "prefect");
  const json& labels = job.at("metadata").at("labels");
  CHECK(labels.at("team") == "data");
  CHECK(labels.at("prefect.io/flow-run-id") == "e2713a7f-faa4-4ab1-8de0-12402f765480");
  CHECK(labels.at("prefect.io/deployment-id") == "68f47211-b3b8-4dc7-b3a0-2c4f2390c707");
  CHECK(labels.at("prefect.io/deployment-name") == "k8s-run2-dep");
  CHECK(labels.at("prefect.io/flow-id") == "f3d1078d-1dcb-45de-adb9-2a0e87f60159");
  CHECK(labels.at("prefect.io/flow-name") == "hello");
  CHECK(labels.at("prefect.io/version") == "2.17.1");
  const json& c = job.at("spec").at("template").at("spec").at("containers").at(0);
  CHECK(c.at("image") == "example.com/flows:sleep");
  REQUIRE(envVar(c, "PREFECT__FLOW_RUN_ID"));
  CHECK(envVar(c, "PREFECT__FLOW_RUN_ID")->at("value") == "e2713a7f-faa4-4ab1-8de0-12402f765480");
  REQUIRE(envVar(c, "PREFECT_API_URL"));
  CHECK(envVar(c, "PREFECT_API_URL")->at("value") == "http://127.0.0.1:4202/api");
  REQUIRE(envVar(c, "FOO"));
  REQUIRE(envVar(c, "PREFECT_API_KEY"));
  CHECK_FALSE(envVar(c, "PREFECT_API_KEY")->contains("value"));  // never a literal
  CHECK(envVar(c, "PREFECT_API_KEY")->at("valueFrom").at("secretKeyRef") ==
        json{{"name", "prefect-api-key"}, {"key", "key"}});
}

TEST_CASE("the variables' own PREFECT_API_URL wins, as in Prefect", "[workpool][flowrun]") {
  const auto spec = poolSpec();
  auto in = recorded(spec);
  in.flowRun["job_variables"]["env"] = {{"PREFECT_API_URL", "http://other/api"}};
  std::string error;
  const json fr = buildFlowRun(in, error);
  REQUIRE(fr.is_object());
  CHECK_FALSE(fr.at("spec").contains("env"));
  CHECK(fr.at("spec").at("variables").at("env").at("PREFECT_API_URL") == "http://other/api");
}

TEST_CASE("a pool template without job_configuration is refused", "[workpool][flowrun]") {
  const auto spec = poolSpec();
  auto in = recorded(spec);
  in.baseJobTemplate = json::object();
  std::string error;
  CHECK(buildFlowRun(in, error).is_null());
  CHECK_THAT(error, Catch::Contains("job_configuration"));
}
