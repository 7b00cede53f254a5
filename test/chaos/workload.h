#pragma once
// The chaos suite's workload: N FlowRuns of mixed outcomes, each with the outcome it must end
// with whatever happens to the operator and the API server (docs/chaos.md).
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace chaos {

struct Expected {
  std::string phase;
  std::string reason;
  std::optional<int> exitCode;  // nullopt: the status must have none
};

struct PlannedRun {
  std::string name;
  std::string kind;  // succeed, exit, oom, unschedulable, image-pull, cancel, cancel-after
  std::string yaml;  // the FlowRun manifest
  Expected want;
  // cancel: patch spec.cancel this many seconds after the FlowRun was applied.
  std::optional<double> cancelAfterSeconds;
  // cancel-after: patch spec.cancel once the run is seen Succeeded (the outcome must not move).
  bool cancelOnceFinished = false;
};

// Deterministic for a seed. `ns` is the FlowRuns' namespace.
std::vector<PlannedRun> planWorkload(int count, const std::string& ns, std::mt19937& rng);

}  // namespace chaos
