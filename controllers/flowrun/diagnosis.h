#pragma once
// Turns pod and Job state, and the Kubernetes Events about them, into a Crashed reason a person
// can act on (Unschedulable, ImagePullFailed, CrashLoopBackOff, OOMKilled, Evicted,
// DeadlineExceeded, PodNeverStarted) and a message that quotes the evidence. Pure functions.
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace controllers::flowrun {

using json = nlohmann::json;

struct Diagnosis {
  std::string reason;
  std::string message;
  bool operator==(const Diagnosis&) const = default;
};

// A pod that ended without the flow failing on its own: evicted (phase Failed, reason Evicted),
// OOMKilled (first container terminated with reason OOMKilled). nullopt otherwise.
std::optional<Diagnosis> diagnoseEndedPod(const json& pod);

// A container the kubelet keeps restarting (waiting reason CrashLoopBackOff): the Job will not
// finish on its own, so the run is Crashed at once. nullopt otherwise.
std::optional<Diagnosis> diagnoseCrashLoop(const json& pod);

// The Job failed with reason DeadlineExceeded (activeDeadlineSeconds from
// spec.jobWatchTimeoutSeconds passed).
std::optional<Diagnosis> diagnoseDeadline(const json& job);

// No pod started within `timeout` of the Job's creation. `pod` is the newest pod, or null when
// the Job never created one; `events` are the core/v1 Events about that pod (or about the Job
// when there is no pod), in any order. Priority: not scheduled -> Unschedulable; image pull
// errors -> ImagePullFailed; anything else -> PodNeverStarted. The message quotes the most
// recent relevant Event (reason and message), or the pod's own condition or waiting state.
Diagnosis diagnoseNotStarted(const json* pod, const json& job, const std::vector<json>& events,
                             std::chrono::seconds timeout);

}  // namespace controllers::flowrun
