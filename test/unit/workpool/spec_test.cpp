// WorkPool spec parsing: defaults, the Cloud URL as the Helm chart builds it, and every bad
// field named in the error.
#include <catch2/catch.hpp>

#include "controllers/workpool/workpool_spec.h"

using controllers::workpool::parseWorkPoolSpec;
using controllers::workpool::SpecError;
using controllers::workpool::WorkPoolSpec;
using nlohmann::json;

namespace {
json pool(json spec) {
  return {{"metadata", {{"name", "k8s-pool"}, {"namespace", "prefect"}}}, {"spec", spec}};
}
SpecError errorOf(json spec) {
  auto r = parseWorkPoolSpec(pool(std::move(spec)));
  REQUIRE(std::holds_alternative<SpecError>(r));
  return std::get<SpecError>(r);
}
}  // namespace

TEST_CASE("a minimal WorkPool spec gets the chart's defaults", "[workpool][spec]") {
  auto r = parseWorkPoolSpec(pool({{"apiUrl", "http://prefect-server.prefect:4200/api"}}));
  REQUIRE(std::holds_alternative<WorkPoolSpec>(r));
  const auto& s = std::get<WorkPoolSpec>(r);
  CHECK(s.apiUrl == "http://prefect-server.prefect:4200/api");
  CHECK(s.poolName == "k8s-pool");
  CHECK(s.workQueues.empty());
  CHECK(s.limit == 0);
  CHECK(s.prefetchSeconds == 10);
  CHECK(s.queryIntervalSeconds == 10);
  CHECK(s.heartbeatIntervalSeconds == 30);
  CHECK_FALSE(s.apiKeySecretName.has_value());
  CHECK_FALSE(s.inlineTemplate.has_value());
  CHECK_FALSE(s.templateConfigMap.has_value());
}

TEST_CASE("spec.cloud builds the Prefect Cloud URL as the Helm chart does", "[workpool][spec]") {
  auto r = parseWorkPoolSpec(pool({{"cloud", {{"accountId", "acc"}, {"workspaceId", "ws"}}},
                                   {"apiKeySecret", {{"name", "prefect-api-key"}}},
                                   {"poolName", "other"},
                                   {"workQueues", {"a", "b"}},
                                   {"limit", 3}}));
  REQUIRE(std::holds_alternative<WorkPoolSpec>(r));
  const auto& s = std::get<WorkPoolSpec>(r);
  CHECK(s.apiUrl == "https://api.prefect.cloud/api/accounts/acc/workspaces/ws");
  CHECK(s.cloud);
  CHECK(*s.apiKeySecretName == "prefect-api-key");
  CHECK(s.apiKeySecretKey == "key");
  CHECK(s.poolName == "other");
  CHECK(s.workQueues == std::vector<std::string>{"a", "b"});
  CHECK(s.limit == 3);
}

TEST_CASE("a bad WorkPool spec names the field", "[workpool][spec]") {
  CHECK(errorOf(json::object()).field == "spec.apiUrl");
  CHECK(errorOf({{"apiUrl", "prefect:4200"}}).field == "spec.apiUrl");
  CHECK_THAT(errorOf({{"apiUrl", "prefect:4200"}}).message, Catch::Contains("http://"));
  CHECK(errorOf({{"apiUrl", "http://x/api"}, {"cloud", {{"accountId", "a"}}}}).field ==
        "spec.cloud");
  CHECK(errorOf({{"cloud", {{"accountId", "a"}}}}).field == "spec.cloud.workspaceId");
  CHECK(errorOf({{"apiUrl", "http://x/api"}, {"apiKeySecret", {{"key", "k"}}}}).field ==
        "spec.apiKeySecret.name");
  CHECK(errorOf({{"apiUrl", "http://x/api"}, {"limit", -1}}).field == "spec.limit");
  CHECK(errorOf({{"apiUrl", "http://x/api"}, {"queryIntervalSeconds", 0}}).field ==
        "spec.queryIntervalSeconds");
  CHECK(errorOf({{"apiUrl", "http://x/api"}, {"heartbeatIntervalSeconds", "30"}}).message ==
        "must be an integer, got string");
  CHECK(errorOf({{"apiUrl", "http://x/api"}, {"workQueues", {"a", 1}}}).field ==
        "spec.workQueues[1]");
  CHECK(errorOf({{"apiUrl", "http://x/api"},
                 {"baseJobTemplate", {{"configMapRef", {{"name", "t"}}}, {"policy", "Always"}}}})
            .field == "spec.baseJobTemplate.policy");
  CHECK(
      errorOf({{"apiUrl", "http://x/api"}, {"baseJobTemplate", {{"inline", {{"a", 1}}}}}}).field ==
      "spec.baseJobTemplate.inline.job_configuration");
  CHECK(errorOf({{"apiUrl", "http://x/api"},
                 {"baseJobTemplate",
                  {{"inline", {{"job_configuration", json::object()}}},
                   {"configMapRef", {{"name", "t"}}}}}})
            .describe() == "spec.baseJobTemplate: give either configMapRef or inline, not both");
}

TEST_CASE("baseJobTemplate from a ConfigMap with the Sync policy", "[workpool][spec]") {
  auto r = parseWorkPoolSpec(
      pool({{"apiUrl", "https://prefect.example.com/api"},
            {"baseJobTemplate", {{"configMapRef", {{"name", "tmpl"}}}, {"policy", "Sync"}}}}));
  REQUIRE(std::holds_alternative<WorkPoolSpec>(r));
  const auto& s = std::get<WorkPoolSpec>(r);
  CHECK(*s.templateConfigMap == "tmpl");
  CHECK(s.templateConfigMapKey == "baseJobTemplate.json");
  CHECK(s.templatePolicy == controllers::workpool::TemplatePolicy::Sync);
}
