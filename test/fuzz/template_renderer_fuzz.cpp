// Fuzzes the job-template renderer. The first byte picks what the rest of the input is:
//   even: a base job template (JSON or YAML text, as in a ConfigMap), rendered for a fixed FlowRun;
//   odd:  a FlowRun spec (JSON), rendered with the built-in default template.
// Either way the renderer returns a Job or a RenderError, never throws, and every message it
// produces (and the Job itself) is valid UTF-8, because each ends up in a status write.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "controllers/flowrun/job_renderer.h"
#include "test/fuzz/fuzz_check.h"

namespace {

using nlohmann::json;
namespace fr = controllers::flowrun;

json flowRunWith(json spec) {
  return {{"apiVersion", "prefect.io/v1alpha1"},
          {"kind", "FlowRun"},
          {"metadata", {{"name", "fuzz-run"}, {"namespace", "data"}, {"uid", "1234-uid"}}},
          {"spec", std::move(spec)}};
}

void check(const fr::RenderResult& r) {
  if (r.error) {
    fuzz::requireUtf8(r.error->describe(), "the render error");
    return;
  }
  if (!r.job) std::abort();  // neither a Job nor an error
  fuzz::requireSerializable(*r.job, "the rendered Job");
}

void renderTemplateText(const std::string& text) {
  auto parsed = fr::parseBaseJobTemplate(text, "configmap data/fuzz[baseJobTemplate.json]");
  if (auto* err = std::get_if<fr::RenderError>(&parsed)) {
    fuzz::requireUtf8(err->describe(), "the template parse error");
    return;
  }
  json spec = {{"flowRunId", "0b8c1b5e"}, {"image", "busybox"}, {"variables", {{"memory", 512}}}};
  check(fr::renderJob(flowRunWith(spec), std::get<json>(parsed)));
}

void renderSpec(const std::string& text) {
  json spec = json::parse(text, nullptr, false);
  if (spec.is_discarded()) return;
  check(fr::renderJob(flowRunWith(std::move(spec)), fr::defaultBaseJobTemplate()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    renderTemplateText(rest);
  } else {
    renderSpec(rest);
  }
  return 0;
}
