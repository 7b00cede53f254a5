#pragma once
// The FlowRun the worker creates for one Prefect flow run it won: a deterministic name from the
// flow run id (so a retry or a second replica can only find it, never make a second), the pool's
// base job template inline, the merged job variables, the worker's labels and env. Pure.
#include <nlohmann/json.hpp>

#include <string>

#include "controllers/workpool/workpool_spec.h"

namespace controllers::workpool {

// Labels on every FlowRun a WorkPool creates (the worker finds its runs by them).
inline constexpr const char* kLabelWorkPool = "prefect.io/workpool";  // the WorkPool's name
inline constexpr const char* kLabelFlowRunId = "prefect.io/flow-run-id";
inline constexpr const char* kAnnotationPoolName = "prefect.io/work-pool-name";
inline constexpr const char* kAnnotationFlowRunName = "prefect.io/flow-run-name";

// "fr-<flow run id>" when that is a DNS-1123 label (a UUID id always is), else a sanitized
// prefix and a hash of the id: deterministic, <= 63 characters.
std::string flowRunNameFor(const std::string& flowRunId);

struct FlowRunInputs {
  std::string workPoolName;  // the WorkPool object's name
  std::string ns;            // the WorkPool's namespace: the FlowRun's
  const WorkPoolSpec* spec = nullptr;
  nlohmann::json baseJobTemplate;  // the pool's base_job_template as Prefect holds it
  nlohmann::json flowRun;          // the flow run from get_scheduled_flow_runs / read
  nlohmann::json deployment;       // null when the run has no deployment
  nlohmann::json flow;             // null when unknown
  std::string prefectVersion;      // the server's version, for the prefect.io/version label
};

// The FlowRun object to create, or null with `error` set when the template cannot carry the run
// (its job_configuration is missing).
nlohmann::json buildFlowRun(const FlowRunInputs& in, std::string& error);

}  // namespace controllers::workpool
