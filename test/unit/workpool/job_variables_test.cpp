// Job variables merge as Prefect's worker merges them.
#include <catch2/catch.hpp>

#include "controllers/flowrun/job_renderer.h"
#include "controllers/workpool/job_variables.h"

using namespace controllers::workpool;
using nlohmann::json;

TEST_CASE("job variables: template defaults < deployment < flow run, shallow", "[workpool][vars]") {
  const json tmpl = {{"job_configuration", json::object()},
                     {"variables",
                      {{"properties",
                        {{"image", {{"type", "string"}, {"default", "prefecthq/prefect:2-latest"}}},
                         {"finished_job_ttl", {{"type", "integer"}, {"default", nullptr}}},
                         {"env", {{"type", "object"}, {"default", {{"A", "1"}, {"B", "2"}}}}},
                         {"namespace", {{"type", "string"}, {"default", "default"}}}}}}}};
  const json merged = mergeJobVariables(tmpl, {{"image", "dep:1"}, {"env", {{"C", "3"}}}},
                                        {{"image", "run:2"}, {"memory", 512}});
  CHECK(merged.at("image") == "run:2");
  CHECK(merged.at("env") == json{{"C", "3"}});  // replaced whole, as dict.update does
  CHECK(merged.at("namespace") == "default");
  CHECK(merged.at("memory") == 512);
  CHECK_FALSE(merged.contains("finished_job_ttl"));  // null default: unset
}

TEST_CASE("job variables of the shipped default template", "[workpool][vars]") {
  const json d = schemaDefaults(controllers::flowrun::defaultBaseJobTemplate());
  CHECK(d.at("namespace") == "default");
  CHECK(d.at("pod_watch_timeout_seconds") == 60);
  CHECK(mergeJobVariables(json(), json(), json()).empty());
  CHECK(mergeJobVariables(json(), "x", json::array()).empty());
}
