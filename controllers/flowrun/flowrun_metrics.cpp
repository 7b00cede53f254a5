#include "controllers/flowrun/flowrun_metrics.h"

namespace controllers::flowrun {

namespace {
constexpr const char* kPhaseName = "flowrun_phase";
constexpr const char* kPhaseHelp = "FlowRuns in each phase, as last reconciled.";
constexpr const char* kTransitionsName = "flowrun_transitions_total";
constexpr const char* kTransitionsHelp = "FlowRun phase transitions written to status.";
constexpr const char* kLatencyName = "flowrun_job_creation_latency_seconds";
constexpr const char* kLatencyHelp =
    "Seconds from a FlowRun's creation to the creation of its Job by the operator.";

const std::vector<double>& latencyBuckets() {
  static const std::vector<double> b = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300};
  return b;
}
}  // namespace

FlowRunMetrics::FlowRunMetrics(runtime::MetricsRegistry& registry) : registry_(registry) {
  // Every phase is exported from the start, so dashboards see 0 rather than a gap.
  for (Phase p : {Phase::Pending, Phase::Running, Phase::Succeeded, Phase::Failed, Phase::Crashed,
                  Phase::Cancelling, Phase::Cancelled}) {
    registry_.gauge(kPhaseName, kPhaseHelp, {{"phase", phaseName(p)}});
  }
  registry_.histogram(kLatencyName, kLatencyHelp, {}, latencyBuckets());
}

void FlowRunMetrics::observePhase(const runtime::ObjectKey& key, std::optional<Phase> phase) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = phases_.find(key);
  std::optional<Phase> old;
  if (it != phases_.end()) old = it->second;
  if (old == phase) return;
  if (old) registry_.gauge(kPhaseName, kPhaseHelp, {{"phase", phaseName(*old)}}).add(-1);
  if (phase) {
    registry_.gauge(kPhaseName, kPhaseHelp, {{"phase", phaseName(*phase)}}).add(1);
    phases_[key] = *phase;
  } else {
    phases_.erase(key);
  }
}

void FlowRunMetrics::transition(std::optional<Phase> from, Phase to) {
  registry_
      .counter(kTransitionsName, kTransitionsHelp,
               {{"from", from ? phaseName(*from) : ""}, {"to", phaseName(to)}})
      .inc();
}

void FlowRunMetrics::jobCreated(std::chrono::duration<double> sinceFlowRunCreation) {
  double s = sinceFlowRunCreation.count();
  registry_.histogram(kLatencyName, kLatencyHelp, {}, latencyBuckets()).observe(s < 0 ? 0 : s);
}

}  // namespace controllers::flowrun
