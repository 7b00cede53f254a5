// Templates: the shipped default, parsing from ConfigMap text (JSON or YAML), Prefect's
// placeholder rules, and where a FlowRun's template comes from.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "controllers/flowrun/job_renderer.h"
#include "controllers/flowrun/job_template.h"

using namespace controllers::flowrun;
using nlohmann::json;

namespace {
json parsed(const std::string& text, const std::string& origin = "configmap data/t[k]") {
  auto r = parseBaseJobTemplate(text, origin);
  if (auto* e = std::get_if<RenderError>(&r)) FAIL(e->describe());
  return std::get<json>(r);
}
RenderError parseError(const std::string& text,
                       const std::string& origin = "configmap data/t[baseJobTemplate.json]") {
  auto r = parseBaseJobTemplate(text, origin);
  REQUIRE(std::holds_alternative<RenderError>(r));
  return std::get<RenderError>(r);
}
}  // namespace

TEST_CASE("defaultBaseJobTemplate: the compiled-in copy is the shipped JSON file") {
  const char* dir = std::getenv("FLOWRUN_SOURCE_DIR");
  REQUIRE(dir != nullptr);
  std::ifstream in(std::string(dir) + "/controllers/flowrun/default-base-job-template.json");
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  CHECK(defaultBaseJobTemplate() == json::parse(text.str()));

  const json& t = defaultBaseJobTemplate();
  const json& manifest = t.at("job_configuration").at("job_manifest");
  CHECK(manifest.at("metadata").at("generateName") == "{{ name }}-");
  CHECK(manifest.at("spec").at("ttlSecondsAfterFinished") == "{{ finished_job_ttl }}");
  const json& container = manifest.at("spec").at("template").at("spec").at("containers").at(0);
  CHECK(container.at("name") == "prefect-job");
  CHECK(container.at("args") == "{{ command }}");
  const json& props = t.at("variables").at("properties");
  for (const char* v :
       {"namespace", "image", "service_account_name", "image_pull_policy", "finished_job_ttl",
        "job_watch_timeout_seconds", "pod_watch_timeout_seconds", "stream_output", "name", "env",
        "labels", "command"}) {
    INFO(v);
    REQUIRE(props.contains(v));
    CHECK(props.at(v).at("description").is_string());
  }
  CHECK(props.at("image_pull_policy").at("enum") == json({"IfNotPresent", "Always", "Never"}));
  CHECK(props.at("pod_watch_timeout_seconds").at("default") == 60);
}

TEST_CASE("parseBaseJobTemplate: JSON, and YAML with YAML 1.2 scalar types") {
  const json j = parsed(R"({"job_configuration": {"job_manifest": {"kind": "Job"}},
                            "variables": {"properties": {"memory": {"type": "integer"}}}})");
  CHECK(j.at("variables").at("properties").at("memory").at("type") == "integer");

  const json y = parsed(R"(
job_configuration:
  job_manifest:
    apiVersion: batch/v1
    spec:
      backoffLimit: 3
      suspend: false
      template:
        metadata: {annotations: {a: "123", b: 0x1F, c: 1.5, d: ~, e: '{{ memory }}Mi'}}
variables:
  properties:
    memory: {type: integer, default: 128}
)");
  const json& spec = y.at("job_configuration").at("job_manifest").at("spec");
  CHECK(spec.at("backoffLimit") == 3);
  CHECK(spec.at("suspend") == false);
  const json& a = spec.at("template").at("metadata").at("annotations");
  CHECK(a.at("a") == "123");  // quoted: stays a string
  CHECK(a.at("b") == 31);
  CHECK(a.at("c") == 1.5);
  CHECK(a.at("d").is_null());
  CHECK(a.at("e") == "{{ memory }}Mi");
  CHECK(y.at("variables").at("properties").at("memory").at("default") == 128);
}

TEST_CASE("parseBaseJobTemplate: errors name the ConfigMap key and the place") {
  auto bad = parseError("{\"job_configuration\": {\"job_manifest\": }");
  CHECK(bad.path.empty());
  CHECK(bad.origin == "configmap data/t[baseJobTemplate.json]");
  CHECK_THAT(bad.describe(), Catch::StartsWith("configmap data/t[baseJobTemplate.json]: is not "
                                               "valid JSON"));
  CHECK_THAT(bad.message, Catch::Contains("line 1"));

  auto yaml = parseError("job_configuration:\n  job_manifest: [unclosed\n");
  CHECK_THAT(yaml.message, Catch::Contains("YAML"));
  CHECK_THAT(yaml.message, Catch::Contains("line"));

  CHECK_THAT(parseError("   \n").describe(), Catch::EndsWith(": is empty"));
  CHECK(parseError("[1, 2]").message.find("must be an object") != std::string::npos);

  auto noManifest = parseError(R"({"job_configuration": {}, "variables": {}})");
  CHECK(noManifest.describe() ==
        "job_configuration.job_manifest: required (in configmap data/t[baseJobTemplate.json])");
  CHECK(parseError(R"({"variables": {}})").path == "job_configuration");
  CHECK(parseError(R"({"job_configuration": {"job_manifest": "x"}})").path ==
        "job_configuration.job_manifest");
  CHECK(parseError(R"({"job_configuration": {"job_manifest": {}}, "variables": []})").path ==
        "variables");
  CHECK(parseError(R"({"job_configuration": {"job_manifest": {}},
                       "variables": {"properties": {"memory": "integer"}}})")
            .path == "variables.properties.memory");

  // Deep nesting is refused instead of recursing without bound.
  CHECK_THAT(parseError(std::string(5000, '[') + std::string(5000, ']')).message,
             Catch::Contains("levels deep"));
  // YAML aliases that expand exponentially are refused.
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'k'; ++c) {
    const char prev = static_cast<char>(c - 1);
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" +
            prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
  }
  CHECK_THAT(parseError(bomb).message, Catch::Contains("too many nodes"));
}

TEST_CASE("baseJobTemplateFromConfigMap: data, binaryData, and a missing key") {
  const std::string text = R"({"job_configuration": {"job_manifest": {"kind": "Job"}}})";
  json cm = {{"metadata", {{"name", "k8s-pool-template"}, {"namespace", "data"}}},
             {"data", {{"baseJobTemplate.json", text}, {"other", "x"}}}};
  auto ok = baseJobTemplateFromConfigMap(cm, "baseJobTemplate.json");
  REQUIRE(std::holds_alternative<json>(ok));
  CHECK(std::get<json>(ok).at("job_configuration").at("job_manifest").at("kind") == "Job");

  json bin = {
      {"metadata", {{"name", "b"}, {"namespace", "data"}}},
      {"binaryData", {{"t.json", "eyJqb2JfY29uZmlndXJhdGlvbiI6IHsiam9iX21hbmlmZXN0Ijoge319fQ=="}}}};
  CHECK(std::holds_alternative<json>(baseJobTemplateFromConfigMap(bin, "t.json")));

  auto missing = baseJobTemplateFromConfigMap(cm, "template.json");
  REQUIRE(std::holds_alternative<RenderError>(missing));
  CHECK(std::get<RenderError>(missing).describe() ==
        "configmap data/k8s-pool-template: has no key \"template.json\" (it has: "
        "baseJobTemplate.json, other)");

  cm["data"]["baseJobTemplate.json"] = "{not json";
  auto broken = baseJobTemplateFromConfigMap(cm, "baseJobTemplate.json");
  REQUIRE(std::holds_alternative<RenderError>(broken));
  CHECK(std::get<RenderError>(broken).origin ==
        "configmap data/k8s-pool-template[baseJobTemplate.json]");
}

TEST_CASE("templateSourceOf: default, inline, ConfigMap, and contradictions") {
  auto source = [](json spec) { return templateSourceOf(json{{"spec", spec}}); };
  CHECK(std::get<TemplateSource>(source(json::object())).kind == TemplateSource::Kind::Default);
  CHECK(std::get<TemplateSource>(source({{"template", json::object()}})).kind ==
        TemplateSource::Kind::Default);
  auto cm = std::get<TemplateSource>(source({{"template", {{"configMapRef", {{"name", "t"}}}}}}));
  CHECK(cm.kind == TemplateSource::Kind::ConfigMap);
  CHECK(cm.configMapName == "t");
  CHECK(cm.configMapKey == "baseJobTemplate.json");
  auto keyed = std::get<TemplateSource>(
      source({{"template", {{"configMapRef", {{"name", "t"}, {"key", "k.yaml"}}}}}}));
  CHECK(keyed.configMapKey == "k.yaml");
  CHECK(std::get<TemplateSource>(
            source({{"template", {{"job_configuration", {{"job_manifest", json::object()}}}}}}))
            .kind == TemplateSource::Kind::Inline);
  CHECK(std::get<RenderError>(
            source({{"template",
                     {{"configMapRef", {{"name", "t"}}}, {"job_configuration", json::object()}}}}))
            .path == "spec.template");
  CHECK(std::get<RenderError>(source({{"template", {{"configMapRef", json::object()}}}})).path ==
        "spec.template.configMapRef.name");
  CHECK(std::get<RenderError>(source({{"template", {{"variables", json::object()}}}})).path ==
        "spec.template.job_configuration");
  CHECK(std::get<RenderError>(source({{"template", "x"}})).path == "spec.template");
}

TEST_CASE("findPlaceholders and lookup: Prefect's grammar") {
  using templating::findPlaceholders;
  auto p = findPlaceholders("{{memory}}Mi and {{ memory }} and {{  a.b[0]  }} {{ not valid }}");
  REQUIRE(p.size() == 3);
  CHECK(p[0].name == "memory");
  CHECK(p[1].fullMatch == "{{ memory }}");
  CHECK(p[2].name == "a.b[0]");
  CHECK(findPlaceholders("{{{ x }}")[0].fullMatch == "{{ x }}");
  CHECK(findPlaceholders("{{ prefect.blocks.secret.k }}")[0].kind ==
        templating::PlaceholderKind::BlockDocument);
  CHECK(findPlaceholders("{{ $HOME }}")[0].kind == templating::PlaceholderKind::EnvVar);
  const json values = {{"a", {{"b", {10, 20}}}}};
  CHECK(templating::lookup(values, "a.b[1]") == json(20));
  CHECK_FALSE(templating::lookup(values, "a.c").has_value());
  CHECK_FALSE(templating::lookup(values, "a.b[5]").has_value());
}

TEST_CASE("parseBaseJobTemplate: a template that is not UTF-8 is refused with the byte") {
  // template_renderer_fuzz: YAML with a stray 0xDF byte rendered a Job that could not be encoded
  // (json type_error.316 on every reconcile, no status written).
  auto r = parseBaseJobTemplate("job_configuration: {a: \"\xdf\"}\nvariables: {}\n",
                                "configmap data/t[baseJobTemplate.json]");
  auto* e = std::get_if<RenderError>(&r);
  REQUIRE(e != nullptr);
  CHECK(e->describe() ==
        "configmap data/t[baseJobTemplate.json]: is not valid UTF-8 text: invalid UTF-8 sequence "
        "at byte 24 (0xDF)");
}
