// The Job renderer: Prefect base-job-template semantics plus the fields the operator owns.
#include <catch2/catch.hpp>

#include <random>

#include "controllers/flowrun/job_renderer.h"
#include "controllers/flowrun/labels.h"

using namespace controllers::flowrun;
using nlohmann::json;

namespace {

json flowRun(json spec = json::object(), std::string name = "etl-nightly-42") {
  return {{"apiVersion", "prefect.io/v1alpha1"},
          {"kind", "FlowRun"},
          {"metadata", {{"name", name}, {"namespace", "data"}, {"uid", "uid-1234"}}},
          {"spec", std::move(spec)}};
}

json render(const json& fr, const json& tmpl = defaultBaseJobTemplate(),
            const RenderOptions& options = {}) {
  RenderResult r = renderJob(fr, tmpl, options);
  if (r.error) FAIL(r.error->describe());
  REQUIRE(r.ok());
  return *r.job;
}

RenderError renderError(const json& fr, const json& tmpl = defaultBaseJobTemplate(),
                        const RenderOptions& options = {}) {
  RenderResult r = renderJob(fr, tmpl, options);
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error.has_value());
  return *r.error;
}

json& container(json& job, std::size_t i = 0) {
  return job.at("spec").at("template").at("spec").at("containers").at(i);
}
json container(json&& job, std::size_t i = 0) {
  return container(job, i);
}
const json& podSpec(const json& job) {
  return job.at("spec").at("template").at("spec");
}

// A small custom template in Prefect's format; `edit` changes its manifest.
json customTemplate(const std::function<void(json&)>& edit = {}, json variables = {}) {
  json firstContainer = {{"name", "prefect-job"},
                         {"image", "{{ image }}"},
                         {"env", "{{ env }}"},
                         {"args", "{{ command }}"}};
  json pod = {{"restartPolicy", "Never"}, {"containers", json::array({firstContainer})}};
  json manifest = {{"apiVersion", "batch/v1"},
                   {"kind", "Job"},
                   {"metadata", {{"labels", "{{ labels }}"}, {"generateName", "{{ name }}-"}}},
                   {"spec", {{"template", {{"spec", pod}}}}}};
  if (edit) edit(manifest);
  return {{"job_configuration",
           {{"command", "{{ command }}"},
            {"env", "{{ env }}"},
            {"labels", "{{ labels }}"},
            {"job_manifest", manifest}}},
          {"variables",
           {{"type", "object"}, {"properties", variables.is_null() ? json::object() : variables}}}};
}

// The memory example of the Prefect Kubernetes worker docs, as a work pool would hold it.
json memoryTemplate() {
  json t = defaultBaseJobTemplate();
  t["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["containers"][0]["resources"] =
      {{"requests", {{"memory", "{{ memory }}Mi"}}}, {"limits", {{"memory", "128Mi"}}}};
  t["variables"]["properties"]["memory"] = {{"title", "Memory"},
                                            {"description", "Memory request in MiB"},
                                            {"type", "integer"},
                                            {"default", 64}};
  return t;
}

}  // namespace

TEST_CASE("default template, no spec: the whole Job") {
  const json job = render(flowRun());
  const json labels = {{"prefect.io/flow-run-name", "etl-nightly-42"},
                       {"prefect.io/flowrun", "etl-nightly-42"},
                       {"app.kubernetes.io/managed-by", "flowrun-operator"}};
  const json expected = {{"apiVersion", "batch/v1"},
                         {"kind", "Job"},
                         {"metadata",
                          {{"name", "etl-nightly-42"},
                           {"namespace", "data"},
                           {"labels", labels},
                           {"ownerReferences",
                            {{{"apiVersion", "prefect.io/v1alpha1"},
                              {"kind", "FlowRun"},
                              {"name", "etl-nightly-42"},
                              {"uid", "uid-1234"},
                              {"controller", true},
                              {"blockOwnerDeletion", true}}}}}},
                         {"spec",
                          {{"backoffLimit", 0},
                           {"parallelism", 1},
                           {"completions", 1},
                           {"template",
                            {{"metadata", {{"labels", labels}}},
                             {"spec",
                              {{"restartPolicy", "Never"},
                               {"containers",
                                {{{"name", "prefect-job"},
                                  {"image", "prefecthq/prefect:3-latest"},
                                  {"imagePullPolicy", "IfNotPresent"},
                                  {"args", {"prefect", "flow-run", "execute"}}}}}}}}}}}};
  INFO(job.dump(2));
  CHECK(job == expected);
  RenderResult r = renderJob(flowRun(), defaultBaseJobTemplate());
  CHECK(r.podWatchTimeoutSeconds == 60);
  CHECK_FALSE(r.jobWatchTimeoutSeconds.has_value());
  CHECK_FALSE(r.literalApiKey.has_value());
}

TEST_CASE("default template: each typed spec field reaches its place") {
  json spec = {{"image", "registry.example/flows:1.2"},
               {"command", {"python", "-m", "prefect.engine"}},
               {"env", {{"PREFECT_API_URL", "http://prefect-server.prefect:4200/api"}}},
               {"serviceAccountName", "flow-runner"},
               {"imagePullPolicy", "Always"},
               {"finishedJobTTL", 3600},
               {"jobWatchTimeoutSeconds", 7200},
               {"podWatchTimeoutSeconds", 90}};
  RenderResult r = renderJob(flowRun(spec), defaultBaseJobTemplate());
  REQUIRE(r.ok());
  json job = *r.job;
  json& c = container(job);
  CHECK(c.at("image") == "registry.example/flows:1.2");
  CHECK(c.at("args") == json({"python", "-m", "prefect.engine"}));
  CHECK(c.at("env") ==
        json({{{"name", "PREFECT_API_URL"}, {"value", "http://prefect-server.prefect:4200/api"}}}));
  CHECK(c.at("imagePullPolicy") == "Always");
  CHECK(podSpec(job).at("serviceAccountName") == "flow-runner");
  CHECK(job.at("spec").at("ttlSecondsAfterFinished") == 3600);
  CHECK(job.at("spec").at("activeDeadlineSeconds") == 7200);
  CHECK(r.jobWatchTimeoutSeconds == 7200);
  CHECK(r.podWatchTimeoutSeconds == 90);
}

TEST_CASE("unset placeholders with no default remove their key") {
  json job = render(flowRun());
  CHECK_FALSE(podSpec(job).contains("serviceAccountName"));
  CHECK_FALSE(job.at("spec").contains("ttlSecondsAfterFinished"));
  CHECK_FALSE(job.at("spec").contains("activeDeadlineSeconds"));
  CHECK_FALSE(container(job).contains("env"));
  CHECK_FALSE(job.at("metadata").contains("generateName"));
}

TEST_CASE("a string command is split like a shell, a bad one names spec.command") {
  json job = render(flowRun({{"command", "sh -c 'echo \"hello world\"' --flag=a\\ b"}}));
  CHECK(container(job).at("args") == json({"sh", "-c", "echo \"hello world\"", "--flag=a b"}));
  auto e = renderError(flowRun({{"command", "python -c 'print(1)"}}));
  CHECK(e.path == "spec.command");
  CHECK_THAT(e.describe(), Catch::StartsWith("spec.command: unbalanced quote"));
  auto n = renderError(flowRun({{"command", 42}}));
  CHECK(n.describe() == "spec.command: must be a string or a list of strings, got integer 42");
  CHECK(renderError(flowRun({{"command", {"ok", 1}}})).path == "spec.command[1]");
}

TEST_CASE("Prefect docs memory example: embedded and typed placeholders, schema checks") {
  const json t = memoryTemplate();
  json job = render(flowRun(), t);
  CHECK(container(job).at("resources") ==
        json({{"requests", {{"memory", "64Mi"}}}, {"limits", {{"memory", "128Mi"}}}}));
  job = render(flowRun({{"variables", {{"memory", 512}}}}), t);
  CHECK(container(job).at("resources").at("requests").at("memory") == "512Mi");

  auto e = renderError(flowRun({{"variables", {{"memory", "lots"}}}}), t);
  CHECK(e.describe() == "spec.variables.memory: must be of type integer, got string \"lots\"");
  auto typo = renderError(flowRun({{"variables", {{"memroy", 512}}}}), t);
  CHECK(typo.path == "spec.variables.memroy");
  CHECK_THAT(typo.message, Catch::Contains("no variable \"memroy\""));
  CHECK_THAT(typo.message, Catch::Contains("memory"));
  // null unsets the default: the embedded placeholder renders empty.
  job = render(flowRun({{"variables", {{"memory", nullptr}}}}), t);
  CHECK(container(job).at("resources").at("requests").at("memory") == "Mi");
}

TEST_CASE("typed vs interpolated placeholders, objects and lists keep their type") {
  json t = customTemplate(
      [](json& m) {
        json& pod = m["spec"]["template"]["spec"];
        pod["terminationGracePeriodSeconds"] = "{{ grace }}";
        pod["nodeSelector"] = "{{ node_selector }}";
        pod["tolerations"] = "{{ tolerations }}";
        pod["hostNetwork"] = "{{ host_network }}";
        m["spec"]["template"]["metadata"] = {
            {"annotations",
             {{"example.com/grace", "{{ grace }}s"},
              {"example.com/flags", "net={{ host_network }} zone={{ node_selector.zone }}"},
              {"example.com/selector", "sel={{ node_selector }}"},
              {"example.com/unset", "[{{ nothing }}]"}}}};
      },
      {{"grace", {{"type", "integer"}, {"default", 30}}},
       {"node_selector", {{"type", "object"}, {"default", {{"zone", "eu-1"}}}}},
       {"tolerations", {{"type", "array"}}},
       {"host_network", {{"type", "boolean"}, {"default", false}}},
       {"nothing", {{"type", "string"}}}});
  json job = render(
      flowRun({{"variables", {{"tolerations", {{{"key", "gpu"}, {"operator", "Exists"}}}}}}}), t);
  const json& pod = podSpec(job);
  CHECK(pod.at("terminationGracePeriodSeconds") == 30);
  CHECK(pod.at("nodeSelector") == json({{"zone", "eu-1"}}));
  CHECK(pod.at("tolerations") == json({{{"key", "gpu"}, {"operator", "Exists"}}}));
  CHECK(pod.at("hostNetwork") == false);
  const json& a = job.at("spec").at("template").at("metadata").at("annotations");
  CHECK(a.at("example.com/grace") == "30s");
  CHECK(a.at("example.com/flags") == "net=False zone=eu-1");
  CHECK(a.at("example.com/selector") == "sel={\"zone\":\"eu-1\"}");
  CHECK(a.at("example.com/unset") == "[]");
}

TEST_CASE("placeholders Prefect resolves through its API, or undeclared ones, are errors") {
  json t = customTemplate([](json& m) {
    m["spec"]["template"]["spec"]["containers"][0]["resources"] = {
        {"limits", {{"memory", "{{ memroy }}Mi"}}}};
  });
  auto e = renderError(
      flowRun(), t, {.clusterUid = "", .apiKeySecretRef = {}, .templateOrigin = "spec.template"});
  CHECK(e.describe() ==
        "job_configuration.job_manifest.spec.template.spec.containers[0].resources.limits.memory"
        ": {{ memroy }} names no variable of the template (declare \"memroy\" in "
        "variables.properties) (in spec.template)");
  t = customTemplate([](json& m) { m["metadata"]["annotations"] = {{"k", "{{ $HOME }}"}}; });
  CHECK_THAT(renderError(flowRun(), t).message, Catch::Contains("environment"));
  t = customTemplate([](json& m) {
    m["metadata"]["annotations"] = {{"k", "{{ prefect.blocks.secret.x }}"}};
  });
  CHECK_THAT(renderError(flowRun(), t).message, Catch::Contains("Prefect API"));
}

TEST_CASE("env: map becomes a list, template list entries are kept, FlowRun entries win") {
  json t = customTemplate([](json& m) {
    m["spec"]["template"]["spec"]["containers"][0]["env"] = {
        {{"name", "DB_PASSWORD"},
         {"valueFrom", {{"secretKeyRef", {{"name", "db"}, {"key", "password"}}}}}},
        {{"name", "LOG_LEVEL"}, {"value", "INFO"}}};
  });
  json job = render(
      flowRun({{"flowRunId", "0b8c1b5e-aaaa"}, {"env", {{"LOG_LEVEL", "DEBUG"}, {"RETRIES", 3}}}}),
      t);
  CHECK(container(job).at("env") ==
        json({{{"name", "PREFECT__FLOW_RUN_ID"}, {"value", "0b8c1b5e-aaaa"}},
              {{"name", "LOG_LEVEL"}, {"value", "DEBUG"}},
              {{"name", "RETRIES"}, {"value", "3"}},
              {{"name", "DB_PASSWORD"},
               {"valueFrom", {{"secretKeyRef", {{"name", "db"}, {"key", "password"}}}}}}}));
}

TEST_CASE("env: the template's default env merges with spec.env, null removes a name") {
  json t = defaultBaseJobTemplate();
  t["variables"]["properties"]["env"]["default"] = {{"PREFECT_API_URL", "http://prefect:4200/api"},
                                                    {"EXTRA", "1"}};
  json job = render(flowRun({{"env", {{"EXTRA", nullptr}, {"MINE", "x"}}}}), t);
  CHECK(container(job).at("env") ==
        json({{{"name", "MINE"}, {"value", "x"}},
              {{"name", "PREFECT_API_URL"}, {"value", "http://prefect:4200/api"}}}));
  // An env list in the spec works too (valueFrom entries pass through).
  job = render(flowRun({{"env",
                         {{{"name", "TOKEN"},
                           {"valueFrom", {{"secretKeyRef", {{"name", "s"}, {"key", "k"}}}}}}}}}),
               t);
  CHECK(container(job).at("env").size() == 3);
  CHECK(renderError(flowRun({{"env", {{{"value", "x"}}}}})).path == "spec.env[0].name");
  CHECK(renderError(flowRun({{"env", {{"A", {{"nested", 1}}}}}})).path == "spec.env.A");
}

TEST_CASE("PREFECT__FLOW_RUN_ID and prefect.io labels from spec.flowRunId and flowName") {
  json job = render(flowRun({{"flowRunId", "0b8c1b5e-1111"}, {"flowName", "ETL flow"}}));
  CHECK(container(job).at("env") ==
        json({{{"name", "PREFECT__FLOW_RUN_ID"}, {"value", "0b8c1b5e-1111"}}}));
  const json& labels = job.at("metadata").at("labels");
  CHECK(labels.at("prefect.io/flow-run-id") == "0b8c1b5e-1111");
  CHECK(labels.at("prefect.io/flow-name") == "ETL-flow");
  CHECK(job.at("spec").at("template").at("metadata").at("labels") == labels);
  // An explicit env entry wins over the generated one, as in Prefect.
  job = render(flowRun({{"flowRunId", "a"}, {"env", {{"PREFECT__FLOW_RUN_ID", "b"}}}}));
  CHECK(container(job).at("env") == json({{{"name", "PREFECT__FLOW_RUN_ID"}, {"value", "b"}}}));
}

TEST_CASE("labels: spec.labels slugged onto the Job and the pod, operator labels win") {
  json job = render(flowRun({{"labels",
                              {{"team", "data"},
                               {"My Team", "data science"},
                               {"Example.COM/cost center", "R&D 42"},
                               {"prefect.io/flowrun", "spoofed"},
                               {"!!!", "dropped"}}}}));
  const json expected = {{"team", "data"},
                         {"My-Team", "data-science"},
                         {"example.com/cost-center", "R-D-42"},
                         {"prefect.io/flowrun", "etl-nightly-42"},
                         {"prefect.io/flow-run-name", "etl-nightly-42"},
                         {"app.kubernetes.io/managed-by", "flowrun-operator"}};
  CHECK(job.at("metadata").at("labels") == expected);
  CHECK(job.at("spec").at("template").at("metadata").at("labels") == expected);
  for (const auto& [k, v] : expected.items()) {
    CHECK(isValidLabelKey(k));
    CHECK(isValidLabelValue(v.get<std::string>()));
  }
}

TEST_CASE("GitOps tracking labels and annotations are never copied onto the Job") {
  json fr = flowRun({{"labels",
                      {{"app.kubernetes.io/instance", "my-app"},
                       {"argocd.argoproj.io/instance", "x"},
                       {"team", "data"}}}});
  fr["metadata"]["labels"] = {{"app.kubernetes.io/instance", "my-app"}};
  fr["metadata"]["annotations"] = {{"argocd.argoproj.io/tracking-id", "my-app:prefect.io/..."}};
  json t = customTemplate([](json& m) {
    m["metadata"]["annotations"] = {{"argocd.argoproj.io/tracking-id", "t"}, {"keep", "me"}};
    m["spec"]["template"]["metadata"] = {
        {"labels", {{"app.kubernetes.io/instance", "pod"}, {"tier", "batch"}}},
        {"annotations", {{"argocd.argoproj.io/sync-wave", "1"}}}};
  });
  json job = render(fr, t);
  const std::string text = job.dump();
  CHECK(text.find("app.kubernetes.io/instance") == std::string::npos);
  CHECK(text.find("argocd.argoproj.io") == std::string::npos);
  CHECK(job.at("metadata").at("labels").at("team") == "data");
  CHECK(job.at("metadata").at("annotations") == json({{"keep", "me"}}));
  CHECK(job.at("spec").at("template").at("metadata").at("labels").at("tier") == "batch");
}

TEST_CASE("operator-owned fields override whatever the template says") {
  json t = customTemplate([](json& m) {
    m["metadata"]["name"] = "fixed-name";
    m["metadata"]["namespace"] = "elsewhere";
    m["metadata"]["generateName"] = "gen-";
    m["metadata"]["uid"] = "stale";
    m["metadata"]["resourceVersion"] = "42";
    m["metadata"]["ownerReferences"] = {{{"kind", "Other"}, {"name", "x"}}};
    m["spec"]["ttlSecondsAfterFinished"] = 10;
    m["spec"]["activeDeadlineSeconds"] = 5;
    m["spec"]["backoffLimit"] = 6;
    m["status"] = {{"active", 1}};
  });
  json fr = flowRun({{"finishedJobTTL", 3600},
                     {"jobWatchTimeoutSeconds", 7200},
                     {"backoffLimit", 2},
                     {"variables", {{"namespace", "data"}}}});
  t["variables"]["properties"]["namespace"] = {{"type", "string"}};
  json job = render(fr, t);
  const json& meta = job.at("metadata");
  CHECK(meta.at("name") == "etl-nightly-42");
  CHECK(meta.at("namespace") == "data");
  CHECK_FALSE(meta.contains("generateName"));
  CHECK_FALSE(meta.contains("uid"));
  CHECK_FALSE(meta.contains("resourceVersion"));
  CHECK_FALSE(job.contains("status"));
  REQUIRE(meta.at("ownerReferences").size() == 1);
  CHECK(meta.at("ownerReferences")[0].at("kind") == "FlowRun");
  CHECK(job.at("spec").at("ttlSecondsAfterFinished") == 3600);
  CHECK(job.at("spec").at("activeDeadlineSeconds") == 7200);
  CHECK(job.at("spec").at("backoffLimit") == 2);

  // Without spec values the template's stand; a template without backoffLimit gets 0.
  job = render(flowRun(), t);
  CHECK(job.at("spec").at("ttlSecondsAfterFinished") == 10);
  CHECK(job.at("spec").at("activeDeadlineSeconds") == 5);
  CHECK(job.at("spec").at("backoffLimit") == 6);
  CHECK(render(flowRun(), customTemplate()).at("spec").at("backoffLimit") == 0);

  // The namespace and name are not variables a FlowRun can move.
  auto e = renderError(flowRun({{"variables", {{"namespace", "kube-system"}}}}), t);
  CHECK(e.path == "spec.variables.namespace");
}

TEST_CASE("image: the FlowRun's wins, else the template's, else the Prefect image") {
  json t = customTemplate(
      [](json& m) { m["spec"]["template"]["spec"]["containers"][0]["image"] = "team/base:1"; });
  CHECK(container(*renderJob(flowRun(), t).job).at("image") == "team/base:1");
  CHECK(container(*renderJob(flowRun({{"image", "mine:2"}}), t).job).at("image") == "mine:2");
  CHECK(container(*renderJob(flowRun(), customTemplate()).job).at("image") ==
        "prefecthq/prefect:3-latest");
}

TEST_CASE("args: a template's own args are kept (a string split), else the command") {
  json t = customTemplate(
      [](json& m) { m["spec"]["template"]["spec"]["containers"][0]["args"] = "run --fast 'x y'"; });
  CHECK(container(*renderJob(flowRun({{"command", "ignored"}}), t).job).at("args") ==
        json({"run", "--fast", "x y"}));
  json withoutArgs =
      customTemplate([](json& m) { m["spec"]["template"]["spec"]["containers"][0].erase("args"); });
  CHECK(container(*renderJob(flowRun({{"command", "a b"}}), withoutArgs).job).at("args") ==
        json({"a", "b"}));
  CHECK(container(*renderJob(flowRun(), withoutArgs).job).at("args") ==
        json({"prefect", "flow-run", "execute"}));
  // An empty command, as a string or a list, means the default command (Prefect's `or`).
  for (const json& empty : {json(""), json("   "), json::array()}) {
    CHECK(container(*renderJob(flowRun({{"command", empty}}), withoutArgs).job).at("args") ==
          json({"prefect", "flow-run", "execute"}));
    CHECK(container(*renderJob(flowRun({{"command", empty}}), defaultBaseJobTemplate()).job)
              .at("args") == json({"prefect", "flow-run", "execute"}));
  }
  json emptyArgs = customTemplate(
      [](json& m) { m["spec"]["template"]["spec"]["containers"][0]["args"] = json::array(); });
  CHECK(container(*renderJob(flowRun(), emptyArgs).job).at("args") == json::array());
}

TEST_CASE("apiKeySecretRef: PREFECT_API_KEY comes from the Secret, a literal is reported") {
  RenderOptions options;
  options.apiKeySecretRef = std::make_pair(std::string("prefect-api-key"), std::string("key"));
  const json secretEnv = {
      {"name", "PREFECT_API_KEY"},
      {"valueFrom", {{"secretKeyRef", {{"name", "prefect-api-key"}, {"key", "key"}}}}}};

  RenderResult r = renderJob(flowRun({{"env", {{"A", "1"}, {"PREFECT_API_KEY", "pnu_secret"}}}}),
                             defaultBaseJobTemplate(), options);
  REQUIRE(r.ok());
  CHECK(r.literalApiKey == "pnu_secret");
  CHECK(container(*r.job).at("env") == json({{{"name", "A"}, {"value", "1"}}, secretEnv}));
  CHECK(r.job->dump().find("pnu_secret") == std::string::npos);

  r = renderJob(flowRun(), defaultBaseJobTemplate(), options);
  REQUIRE(r.ok());
  CHECK_FALSE(r.literalApiKey.has_value());
  CHECK(container(*r.job).at("env") == json({secretEnv}));

  // Without a ref the literal stays, and is still reported (for --store-api-key-in-secret).
  r = renderJob(flowRun({{"env", {{"PREFECT_API_KEY", "pnu_secret"}}}}), defaultBaseJobTemplate());
  REQUIRE(r.ok());
  CHECK(r.literalApiKey == "pnu_secret");
  CHECK(container(*r.job).at("env")[0].at("value") == "pnu_secret");
}

TEST_CASE("apiKeySecretRef without a name or key is an error, not a broken Job") {
  RenderOptions options;
  options.apiKeySecretRef = std::make_pair(std::string(""), std::string("key"));
  CHECK(renderError(flowRun(), defaultBaseJobTemplate(), options).describe() ==
        "spec.apiKeySecret: needs both a Secret name and a key");
}

TEST_CASE("clusterUid becomes a label on the Job and the pod") {
  RenderOptions options;
  options.clusterUid = "6f0c6f9e-0d4b-4c1e-9f55-2b8f3d1f8a31";
  json job = *renderJob(flowRun(), defaultBaseJobTemplate(), options).job;
  CHECK(job.at("metadata").at("labels").at("prefect.io/cluster-uid") == options.clusterUid);
  CHECK(job.at("spec").at("template").at("metadata").at("labels").at("prefect.io/cluster-uid") ==
        options.clusterUid);
}

TEST_CASE("a long FlowRun name gives a shortened Job name and label values that fit") {
  const std::string name = std::string(80, 'n') + ".example";
  json job = render(flowRun({}, name));
  const std::string jobName = job.at("metadata").at("name");
  CHECK(jobName == jobNameFor(name));
  CHECK(jobName.size() <= 63);
  CHECK(job.at("metadata").at("ownerReferences")[0].at("name") == name);
  for (const auto& [k, v] : job.at("metadata").at("labels").items()) {
    INFO(k);
    CHECK(isValidLabelValue(v.get<std::string>()));
  }
}

TEST_CASE("invalid templates: each message names the offending path") {
  struct Case {
    const char* what;
    std::function<void(json&)> edit;
    std::string describe;
  };
  const std::string in = " (in the Job rendered from spec.template)";
  const std::vector<Case> cases = {
      {"restartPolicy",
       [](json& m) { m["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"; },
       "spec.template.spec.restartPolicy: must have value 'Never', got string \"OnFailure\"" + in},
      {"parallelism", [](json& m) { m["spec"]["parallelism"] = 2; },
       "spec.parallelism: must have value 1, got integer 2" + in},
      {"completions", [](json& m) { m["spec"]["completions"] = 3; },
       "spec.completions: must have value 1, got integer 3" + in},
      {"pod completions (Prefect placement)",
       [](json& m) { m["spec"]["template"]["spec"]["completions"] = 3; },
       "spec.template.spec.completions: must have value 1, got integer 3" + in},
      {"no containers", [](json& m) { m["spec"]["template"]["spec"].erase("containers"); },
       "spec.template.spec.containers: required" + in},
      {"empty containers",
       [](json& m) { m["spec"]["template"]["spec"]["containers"] = json::array(); },
       "spec.template.spec.containers: must have at least one" + in},
      {"second container without image",
       [](json& m) {
         m["spec"]["template"]["spec"]["containers"].push_back({{"name", "sidecar"}});
       },
       "spec.template.spec.containers[1].image: required" + in},
      {"container without name",
       [](json& m) { m["spec"]["template"]["spec"]["containers"][0].erase("name"); },
       "spec.template.spec.containers[0].name: required" + in},
      {"kind", [](json& m) { m["kind"] = "Pod"; }, "kind: must have value 'Job'" + in},
      {"apiVersion", [](json& m) { m["apiVersion"] = "batch/v2"; },
       "apiVersion: must have value 'batch/v1'" + in},
      {"no spec", [](json& m) { m.erase("spec"); }, "spec: required" + in},
      {"no pod spec", [](json& m) { m["spec"]["template"].erase("spec"); },
       "spec.template.spec: required" + in},
      {"env not a list",
       [](json& m) { m["spec"]["template"]["spec"]["containers"][0]["env"] = "A=1"; },
       "spec.template.spec.containers[0].env: must be a list of {name, value}, got string "
       "\"A=1\"" +
           in},
      {"args not strings",
       [](json& m) {
         m["spec"]["template"]["spec"]["containers"][0]["args"] = {"a", 1};
       },
       "spec.template.spec.containers[0].args[1]: must be a string, got integer 1" + in},
      {"ttl not an integer", [](json& m) { m["spec"]["ttlSecondsAfterFinished"] = "1h"; },
       "spec.ttlSecondsAfterFinished: must be a non-negative integer, got string \"1h\"" + in},
      {"labels not a map", [](json& m) { m["metadata"]["labels"] = "team=data"; },
       "metadata.labels: must be a map of strings, got string \"team=data\"" + in},
  };
  RenderOptions options;
  options.templateOrigin = "spec.template";
  for (const auto& c : cases) {
    INFO(c.what);
    CHECK(renderError(flowRun(), customTemplate(c.edit), options).describe() == c.describe);
  }
}

TEST_CASE("malformed template documents are errors, not crashes") {
  RenderOptions options;
  options.templateOrigin = "configmap data/t[baseJobTemplate.json]";
  const std::string in = " (in configmap data/t[baseJobTemplate.json])";
  CHECK(renderError(flowRun(), json::array(), options).describe() ==
        "configmap data/t[baseJobTemplate.json]: a base job template must be an object with "
        "job_configuration and variables, got array");
  CHECK(renderError(flowRun(), json{{"variables", json::object()}}, options).describe() ==
        "job_configuration: required" + in);
  CHECK(renderError(flowRun(), json{{"job_configuration", {{"job_manifest", 1}}}}, options)
            .describe() ==
        "job_configuration.job_manifest: must be an object (the Job manifest), got integer 1" + in);
  json t = customTemplate();
  t["variables"] = "none";
  CHECK(renderError(flowRun(), t, options).describe() ==
        "variables: must be an object (a JSON schema), got string \"none\"" + in);
  t = customTemplate();
  t["job_configuration"]["job_manifest"] = "{{ manifest }}";
  t["variables"]["properties"]["manifest"] = {{"type", "object"}};
  CHECK(renderError(flowRun(), t, options).path == "job_configuration.job_manifest");
  t = customTemplate();
  t["job_configuration"]["command"] = 7;
  CHECK(renderError(flowRun(), t, options).describe() ==
        "job_configuration.command: must be a string or a list of strings, got integer 7" + in);
}

TEST_CASE("spec.variables: schema types, enums and required variables") {
  json t = defaultBaseJobTemplate();
  t["variables"]["properties"]["gpu"] = {{"anyOf", {{{"type", "integer"}}, {{"type", "null"}}}},
                                         {"minimum", 0}};
  t["variables"]["properties"]["zone"] = {{"type", "string"}};
  t["variables"]["required"] = {"zone"};
  t["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["nodeSelector"] = {
      {"zone", "{{ zone }}"}};
  auto e = renderError(flowRun(), t);
  CHECK(e.describe() ==
        "spec.variables.zone: required by the template, which gives it no "
        "default");
  json job = render(flowRun({{"variables", {{"zone", "eu-1"}, {"gpu", 2}}}}), t);
  CHECK(podSpec(job).at("nodeSelector").at("zone") == "eu-1");
  CHECK(renderError(flowRun({{"variables", {{"zone", "eu"}, {"gpu", "two"}}}}), t).describe() ==
        "spec.variables.gpu: must be of type integer or null, got string \"two\"");
  CHECK(renderError(flowRun({{"variables", {{"zone", "eu"}, {"gpu", -1}}}}), t).describe() ==
        "spec.variables.gpu: must be at least 0, got -1");
  CHECK(
      renderError(flowRun({{"variables", {{"zone", "eu"}, {"image_pull_policy", "Sometimes"}}}}), t)
          .describe() ==
      "spec.variables.image_pull_policy: must be one of IfNotPresent, "
      "Always, Never, got string \"Sometimes\"");
  CHECK(
      renderError(flowRun({{"variables", {{"zone", "eu"}, {"env", {{"A", 1}}}}}}), t).describe() ==
      "spec.variables.env.A: must be of type string, got integer 1");
  CHECK(renderError(flowRun({{"variables", "memory=1"}})).path == "spec.variables");
}

TEST_CASE("malformed FlowRuns are errors naming the field") {
  json fr = flowRun();
  fr["metadata"].erase("uid");
  CHECK(renderError(fr).describe() == "metadata.uid: required");
  CHECK(renderError(flowRun({{"image", 3}})).describe() ==
        "spec.image: must be a string, got integer 3");
  CHECK(renderError(flowRun({{"finishedJobTTL", -1}})).path == "spec.finishedJobTTL");
  CHECK(renderError(flowRun({{"podWatchTimeoutSeconds", 0}})).path ==
        "spec.podWatchTimeoutSeconds");
  CHECK(renderError(flowRun({{"backoffLimit", "2"}})).path == "spec.backoffLimit");
  CHECK(renderError(flowRun({{"labels", {"a"}}})).path == "spec.labels");
  fr = flowRun();
  fr["spec"] = "nope";
  CHECK(renderError(fr).path == "spec");
  CHECK(renderError(json("not an object")).message == "the FlowRun is not an object");
}

TEST_CASE("rendering is deterministic and never throws, whatever the template holds") {
  // Replace random nodes of the default and memory templates by odd values: every outcome must
  // be a Job or an error value, and rendering the same input twice gives the same result.
  const std::vector<json> odd = {nullptr,
                                 0,
                                 -1,
                                 1.5,
                                 true,
                                 "",
                                 "{{ name }}",
                                 "{{ x }}",
                                 "{{",
                                 json::array(),
                                 json::object(),
                                 json::array({nullptr}),
                                 "{{ env }}",
                                 "{{ labels }}",
                                 "{{ command }}"};
  std::mt19937 rng(12345);
  for (const json& base : {defaultBaseJobTemplate(), memoryTemplate()}) {
    const json flat = base.flatten();
    std::vector<std::string> paths;
    for (const auto& [p, unused] : flat.items()) {
      (void)unused;
      paths.push_back(p);
    }
    for (int i = 0; i < 400; ++i) {
      json t = base;
      const std::string& p = paths[rng() % paths.size()];
      json::json_pointer ptr(p);
      // Sometimes hit the parent object instead of the leaf.
      if (rng() % 3 == 0 && !ptr.empty()) ptr = ptr.parent_pointer();
      t[ptr] = odd[rng() % odd.size()];
      const json fr = flowRun({{"env", {{"A", "1"}}}, {"command", "a 'b c'"}});
      RenderResult r1;
      REQUIRE_NOTHROW(r1 = renderJob(fr, t));
      RenderResult r2 = renderJob(fr, t);
      CHECK(r1.ok() == r2.ok());
      if (r1.ok()) {
        CHECK(*r1.job == *r2.job);
        CHECK(r1.job->at("metadata").at("name") == "etl-nightly-42");
      } else {
        CHECK_FALSE(r1.error->message.empty());
      }
    }
  }
}
