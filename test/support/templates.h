#pragma once
// Base job templates for tests and benchmarks that drive the operator in worker mode.
#include <nlohmann/json.hpp>

namespace testsupport {

// The shipped default template (controllers/flowrun/default-base-job-template.json) with the pod
// annotation that turns kubesim's flow engine off: an engine that never reports to Prefect, as
// when `prefect flow-run execute` dies before it can, and a Prefect log of the worker's requests
// only.
nlohmann::json silentEngineTemplate();

}  // namespace testsupport
