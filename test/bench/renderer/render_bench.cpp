// How long rendering a Job takes: the reconciler renders once per FlowRun it has not yet created
// a Job for, so this bounds the CPU cost of a burst of new FlowRuns. Measures process CPU time,
// not wall time, so that a busy machine does not distort the figures.
#include <cstdio>
#include <ctime>

#include "controllers/flowrun/job_renderer.h"

using controllers::flowrun::defaultBaseJobTemplate;
using controllers::flowrun::parseBaseJobTemplate;
using controllers::flowrun::renderJob;
using nlohmann::json;

namespace {
double perSecond(const json& flowRun, const json& tmpl, int n) {
  const std::clock_t start = std::clock();
  std::size_t sink = 0;
  for (int i = 0; i < n; ++i) {
    auto r = renderJob(flowRun, tmpl);
    sink += r.ok() ? 1 : 0;
  }
  const double secs = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
  if (sink != static_cast<std::size_t>(n)) std::printf("unexpected render errors\n");
  return n / secs;
}
}  // namespace

int main() {
  const json flowRun = {
      {"metadata", {{"name", "etl-nightly-42"}, {"namespace", "data"}, {"uid", "u-1"}}},
      {"spec",
       {{"flowRunId", "0b8c1b5e-1111-2222-3333-444455556666"},
        {"image", "prefecthq/prefect:3-latest"},
        {"command", "prefect flow-run execute"},
        {"env", {{"PREFECT_API_URL", "http://prefect-server.prefect:4200/api"}, {"A", "1"}}},
        {"labels", {{"team", "data"}, {"cost center", "R&D"}}},
        {"finishedJobTTL", 3600},
        {"variables", {{"memory", 512}}}}}};
  json custom = defaultBaseJobTemplate();
  custom["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
        ["resources"] = {{"requests", {{"memory", "{{ memory }}Mi"}}}};
  custom["variables"]["properties"]["memory"] = {{"type", "integer"}, {"default", 128}};
  const std::string text = custom.dump();

  const int n = 20000;
  std::printf("render, default template:       %.0f Jobs per CPU-second\n",
              perSecond({{"metadata", flowRun["metadata"]}}, defaultBaseJobTemplate(), n));
  std::printf("render, custom template + spec: %.0f Jobs per CPU-second\n",
              perSecond(flowRun, custom, n));
  const std::clock_t start = std::clock();
  for (int i = 0; i < n; ++i) (void)parseBaseJobTemplate(text, "bench");
  const double secs = static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
  std::printf("parse ConfigMap template (%zu bytes): %.0f per CPU-second\n", text.size(), n / secs);
  return 0;
}
