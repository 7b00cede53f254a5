#include "controllers/workpool/flowrun_for.h"

#include <algorithm>
#include <cctype>

#include "controllers/flowrun/job_renderer.h"
#include "controllers/flowrun/json_util.h"
#include "controllers/flowrun/labels.h"
#include "controllers/workpool/job_variables.h"

namespace controllers::workpool {

using nlohmann::json;

namespace {

using flowrun::jsonutil::str;

// Prefect's slugify of the deployment's `updated` timestamp: lowercase, ':' and '+' to '-'.
std::string slugTimestamp(std::string ts) {
  std::transform(ts.begin(), ts.end(), ts.begin(), [](unsigned char c) {
    if (c == ':' || c == '+') return '-';
    return static_cast<char>(std::tolower(c));
  });
  return ts;
}

// The labels prefect-kubernetes puts on the Job (worker.py _base_flow_run_labels and
// _base_deployment_labels, _base_flow_labels).
json workerLabels(const FlowRunInputs& in) {
  json labels = json::object();
  labels["prefect.io/flow-run-id"] = str(in.flowRun, "id");
  labels["prefect.io/flow-run-name"] = str(in.flowRun, "name");
  if (!in.prefectVersion.empty()) labels["prefect.io/version"] = in.prefectVersion;
  if (in.deployment.is_object()) {
    labels["prefect.io/deployment-id"] = str(in.deployment, "id");
    labels["prefect.io/deployment-name"] = str(in.deployment, "name");
    labels["prefect.io/deployment-updated"] = slugTimestamp(str(in.deployment, "updated"));
  }
  if (in.flow.is_object()) {
    labels["prefect.io/flow-id"] = str(in.flow, "id");
    labels["prefect.io/flow-name"] = str(in.flow, "name");
  }
  for (auto it = labels.begin(); it != labels.end();) {
    if (it->is_string() && it->get<std::string>().empty()) {
      it = labels.erase(it);
    } else {
      ++it;
    }
  }
  return labels;
}

// The merged variables the template declares, minus name and namespace (the operator owns both:
// the FlowRun lives in the WorkPool's namespace) and nulls. Prefect ignores values the template
// does not declare; so do we, instead of failing the FlowRun.
json declaredVariables(const json& merged, const json& baseJobTemplate) {
  const json& vars = baseJobTemplate.value("variables", json::object());
  const json props = vars.is_object() ? vars.value("properties", json::object()) : json::object();
  json out = json::object();
  for (const auto& [k, v] : merged.items()) {
    if (k == "name" || k == "namespace" || v.is_null()) continue;
    if (!props.is_object() || !props.contains(k)) continue;
    out[k] = v;
  }
  return out;
}

bool envHas(const json& env, const std::string& name) {
  if (env.is_object()) return env.contains(name);
  if (env.is_array()) {
    return std::any_of(env.begin(), env.end(),
                       [&](const json& e) { return str(e, "name") == name; });
  }
  return false;
}

}  // namespace

std::string flowRunNameFor(const std::string& flowRunId) {
  // jobNameFor keeps a valid DNS-1123 label and hashes anything else, deterministically.
  return controllers::flowrun::jobNameFor("fr-" + flowRunId);
}

json buildFlowRun(const FlowRunInputs& in, std::string& error) {
  const json& tmpl = in.baseJobTemplate;
  if (!tmpl.is_object() || !tmpl.contains("job_configuration") ||
      !tmpl.at("job_configuration").is_object()) {
    error = "the work pool's base job template has no job_configuration";
    return nullptr;
  }
  const std::string id = str(in.flowRun, "id");
  const json merged = mergeJobVariables(
      tmpl, in.deployment.is_object() ? in.deployment.value("job_variables", json()) : json(),
      in.flowRun.value("job_variables", json()));
  const json variables = declaredVariables(merged, tmpl);

  json spec = json::object();
  spec["flowRunId"] = id;
  if (const std::string flowName = str(in.flow, "name"); !flowName.empty()) {
    spec["flowName"] = flowName;
  }
  spec["template"] = {{"job_configuration", tmpl.at("job_configuration")},
                      {"variables", tmpl.value("variables", json::object())}};
  if (!variables.empty()) spec["variables"] = variables;
  // The worker's own settings come first in Prefect and the variables' env wins over them: set
  // PREFECT_API_URL only when the variables do not.
  if (!envHas(variables.value("env", json()), "PREFECT_API_URL")) {
    spec["env"] = {{"PREFECT_API_URL", in.spec->apiUrl}};
  }
  spec["labels"] = workerLabels(in);
  if (in.spec->apiKeySecretName) {
    spec["apiKeySecret"] = {{"name", *in.spec->apiKeySecretName},
                            {"key", in.spec->apiKeySecretKey}};
  }

  json metadata = {
      {"name", flowRunNameFor(id)},
      {"namespace", in.ns},
      {"labels",
       {{kLabelWorkPool, controllers::flowrun::toLabelValue(in.workPoolName)},
        {kLabelFlowRunId, controllers::flowrun::toLabelValue(id)},
        {controllers::flowrun::kLabelManagedBy, controllers::flowrun::kManagedByValue}}},
      {"annotations",
       {{kAnnotationPoolName, in.spec->poolName},
        {kAnnotationFlowRunName, str(in.flowRun, "name")}}}};
  // No ownerReference to the WorkPool on purpose: deleting a WorkPool (or re-creating it during
  // a migration) must not garbage-collect running flow runs. docs/workpool.md says so.
  return {{"apiVersion", "prefect.io/v1alpha1"},
          {"kind", "FlowRun"},
          {"metadata", metadata},
          {"spec", spec}};
}

}  // namespace controllers::workpool
