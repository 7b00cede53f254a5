#pragma once
// The FlowRun controller's metrics:
//   flowrun_phase{phase}                     gauge: FlowRuns in each phase, as last reconciled
//   flowrun_transitions_total{from,to}       counter: phase transitions written (from="" for new)
//   flowrun_job_creation_latency_seconds     histogram: FlowRun creation -> its Job created
// The gauge is kept from a key -> phase map fed by every reconcile (a FlowRun that is gone is
// removed), so it costs O(1) per reconcile instead of a scan of the cache.
#include <chrono>
#include <map>
#include <mutex>
#include <optional>

#include "controllers/flowrun/status.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/reconciler.h"

namespace controllers::flowrun {

class FlowRunMetrics {
 public:
  explicit FlowRunMetrics(runtime::MetricsRegistry& registry);

  // The phase `key` shows now; nullopt when the FlowRun is gone or has no phase yet.
  void observePhase(const runtime::ObjectKey& key, std::optional<Phase> phase);
  void transition(std::optional<Phase> from, Phase to);
  void jobCreated(std::chrono::duration<double> sinceFlowRunCreation);

 private:
  runtime::MetricsRegistry& registry_;
  std::mutex mu_;
  std::map<runtime::ObjectKey, Phase> phases_;  // guarded by mu_
};

}  // namespace controllers::flowrun
