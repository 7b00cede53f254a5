#include "controllers/workpool/job_variables.h"

namespace controllers::workpool {

using nlohmann::json;

json schemaDefaults(const json& baseJobTemplate) {
  json out = json::object();
  if (!baseJobTemplate.is_object()) return out;
  auto vars = baseJobTemplate.find("variables");
  if (vars == baseJobTemplate.end() || !vars->is_object()) return out;
  auto props = vars->find("properties");
  if (props == vars->end() || !props->is_object()) return out;
  for (const auto& [name, schema] : props->items()) {
    if (!schema.is_object()) continue;
    if (auto d = schema.find("default"); d != schema.end() && !d->is_null()) out[name] = *d;
  }
  return out;
}

json mergeJobVariables(const json& baseJobTemplate, const json& deploymentJobVariables,
                       const json& flowRunJobVariables) {
  json out = schemaDefaults(baseJobTemplate);
  for (const json* layer : {&deploymentJobVariables, &flowRunJobVariables}) {
    if (!layer->is_object()) continue;
    for (const auto& [k, v] : layer->items()) out[k] = v;
  }
  return out;
}

}  // namespace controllers::workpool
