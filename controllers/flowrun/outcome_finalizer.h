#pragma once
// The outcome finalizer: the Job and its pods carry prefect.io/flowrun-outcome from their
// creation, so that neither the TTL-after-finished controller (finishedJobTTL, 0 included) nor
// the garbage collector can remove them before the operator has read how the run ended: the
// Job's conditions, and the pod's exit code or OOMKilled/Evicted state. The operator removes
// it once the FlowRun's terminal status is written, when the FlowRun is deleted or gone, and
// when it deletes the Job for a cancel. docs/flowrun-lifecycle.md, "The outcome finalizer".
#include <nlohmann/json.hpp>

#include <optional>

namespace controllers::flowrun {

// A qualified name with the project's domain, as Kubernetes asks of finalizers.
inline constexpr const char* kOutcomeFinalizer = "prefect.io/flowrun-outcome";

// Adds the finalizer to a rendered Job and to its pod template (the Job controller copies the
// template's finalizers onto every pod it creates, next to its own
// batch.kubernetes.io/job-tracking).
void addOutcomeFinalizer(nlohmann::json& job);

bool hasOutcomeFinalizer(const nlohmann::json& object);

// The JSON patch that removes the finalizer from `object` as it was read: a test of the entry
// first, so that a stale read is refused (422) instead of removing another finalizer. nullopt
// when the object does not carry it.
std::optional<nlohmann::json> outcomeFinalizerRemoval(const nlohmann::json& object);

}  // namespace controllers::flowrun
