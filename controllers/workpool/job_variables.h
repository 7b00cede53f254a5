#pragma once
// Job variables as the Prefect worker merges them (prefect/workers/base.py
// BaseJobConfiguration.from_template_and_values): the base job template's schema defaults, then
// deployment.job_variables, then flow_run.job_variables, each a shallow update (a later env or
// labels map replaces an earlier one whole, as in Prefect).
#include <nlohmann/json.hpp>

namespace controllers::workpool {

// {variable: default} for every property of the template's variables schema with a non-null
// default.
nlohmann::json schemaDefaults(const nlohmann::json& baseJobTemplate);

// defaults < deployment < flow run. Non-object inputs count as {}.
nlohmann::json mergeJobVariables(const nlohmann::json& baseJobTemplate,
                                 const nlohmann::json& deploymentJobVariables,
                                 const nlohmann::json& flowRunJobVariables);

}  // namespace controllers::workpool
