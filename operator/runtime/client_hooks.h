#pragma once
// Connects the kube client's process-wide hooks (operator/kube/log.h) to the runtime: its log
// lines go to a runtime::Logger and every HTTP attempt feeds rest_client_requests_total{code,
// method} and rest_client_request_duration_seconds{verb}. Call once from main after
// configureLogging().
#include "operator/runtime/logging.h"
#include "operator/runtime/metrics.h"

namespace runtime {

void installKubeClientHooks(MetricsRegistry& registry, Logger log);

}  // namespace runtime
