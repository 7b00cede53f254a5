#pragma once
// The FlowRun status model and the pure part of the lifecycle: from a Job, its pods and the time
// now, what phase, reason and message the FlowRun shows. No I/O here: the reconciler reads the
// caches, calls these functions, and writes the result. docs/flowrun-lifecycle.md explains the
// phases and every reason.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace controllers::flowrun {

using json = nlohmann::json;
using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;

enum class Phase { Pending, Running, Succeeded, Failed, Crashed, Cancelling, Cancelled };

const char* phaseName(Phase phase);
std::optional<Phase> parsePhase(const std::string& name);
// Succeeded, Failed, Crashed and Cancelled never change again.
bool isTerminal(Phase phase);

// RFC 3339 in UTC with second precision ("2026-11-23T18:31:30Z"), as Kubernetes writes times.
std::string formatTime(TimePoint t);
// Accepts "Z" or a numeric offset and optional fractional seconds; nullopt when malformed.
std::optional<TimePoint> parseTime(const std::string& text);

// The reasons the FlowRun controller writes into status.reason (one CamelCase word each).
namespace reason {
inline constexpr const char* kWaitingForClusterIdentity = "WaitingForClusterIdentity";
inline constexpr const char* kTemplateNotFound = "TemplateNotFound";
inline constexpr const char* kJobNameConflict = "JobNameConflict";
inline constexpr const char* kSecretNameConflict = "SecretNameConflict";
inline constexpr const char* kJobCreated = "JobCreated";
// Event: creating the Job (or its API-key Secret) failed; said at each attempt.
inline constexpr const char* kFailedCreate = "FailedCreate";
// Pending: creating the Job failed with an error that may pass (429, 5xx, no connection).
inline constexpr const char* kCreateRetrying = "CreateRetrying";
// Failed: the API server forbids creating the Job or its Secret (403 with a message).
inline constexpr const char* kCreateForbidden = "CreateForbidden";
inline constexpr const char* kPodPending = "PodPending";
inline constexpr const char* kPodRunning = "PodRunning";
inline constexpr const char* kRetrying = "Retrying";
inline constexpr const char* kCompleted = "Completed";
inline constexpr const char* kBackoffLimitExceeded = "BackoffLimitExceeded";
inline constexpr const char* kInvalidSpec = "InvalidSpec";
inline constexpr const char* kUnschedulable = "Unschedulable";
inline constexpr const char* kImagePullFailed = "ImagePullFailed";
inline constexpr const char* kCrashLoopBackOff = "CrashLoopBackOff";
inline constexpr const char* kOOMKilled = "OOMKilled";
inline constexpr const char* kEvicted = "Evicted";
inline constexpr const char* kDeadlineExceeded = "DeadlineExceeded";
inline constexpr const char* kJobDeleted = "JobDeleted";
inline constexpr const char* kPodNeverStarted = "PodNeverStarted";
inline constexpr const char* kCancelRequested = "CancelRequested";
inline constexpr const char* kCancelled = "Cancelled";
inline constexpr const char* kAlreadyFinished = "AlreadyFinished";
}  // namespace reason

inline constexpr const char* kConditionSucceeded = "Succeeded";
// Set only when a cancel request arrives after the run finished: status False, reason
// AlreadyFinished, and a message saying why nothing was cancelled.
inline constexpr const char* kConditionCancelRequested = "CancelRequested";

struct Condition {
  std::string type;
  std::string status;  // True | False | Unknown
  std::string reason;
  std::string message;
  std::string lastTransitionTime;
  std::int64_t observedGeneration = 0;
  bool operator==(const Condition&) const = default;
};

// status of a FlowRun, as the controller reads and writes it. Only the controller writes it.
struct FlowRunStatus {
  std::optional<Phase> phase;
  std::string reason;
  std::string message;
  std::string jobName;
  std::string podName;
  std::string infrastructurePid;
  std::optional<int> exitCode;
  std::string cancelRequestedAt;  // "" until a cancel request is first seen (the latch)
  std::string startTime;
  std::string completionTime;
  std::int64_t observedGeneration = 0;
  std::vector<Condition> conditions;

  // Tolerant: unknown or mistyped fields are ignored rather than failing the reconcile.
  static FlowRunStatus fromJson(const json& status);
  json toJson() const;
  bool operator==(const FlowRunStatus&) const = default;

  const Condition* condition(const std::string& type) const;
  // Sets a condition; lastTransitionTime changes only when its status changes.
  void setCondition(Condition c, TimePoint now);
};

// Status messages are for a person and must fit the API: valid UTF-8, and within the
// conditions' maxLength (32768) with room to spare. A longer one (a 40 KB command quoted in a
// diagnosis) is cut with its size said, so the status write is never refused (422).
inline constexpr std::size_t kMaxStatusMessageBytes = 8192;
std::string fitMessage(const std::string& message);

// Moves the status to phase/reason/message and keeps the Succeeded condition in step (Unknown
// while the run is not finished, True for Succeeded, False for the other terminal phases).
// Sets completionTime on entering a terminal phase when it is not set yet.
void setPhase(FlowRunStatus& status, Phase phase, const std::string& reason,
              const std::string& message, std::int64_t generation, TimePoint now);

// What the Job and its pods say about the run.
struct Observation {
  Phase phase = Phase::Pending;
  std::string reason;
  std::string message;
  std::string podName;           // the newest pod, "" when there is none
  std::optional<int> exitCode;   // first container of the newest pod, once it terminated
  std::string startTime;         // when the flow's container started
  std::string completionTime;    // when the Job finished
  bool jobFinished = false;      // the Job has a Complete or Failed condition
  bool podStartOverdue = false;  // no pod started within the pod watch timeout: diagnose
  bool waitForPodCache = false;  // the Job finished but its pods are not final in the cache
  std::optional<std::chrono::milliseconds> recheckAfter;  // look again then, even with no event
};

// `pods` are the Job's pods in any order. `podWatchTimeout` counts from the Job's creation.
// Never returns Cancelling/Cancelled and never diagnoses from Events (see diagnosis.h).
Observation observeJob(const json& job, const std::vector<std::shared_ptr<const json>>& pods,
                       TimePoint now, std::chrono::seconds podWatchTimeout);

// The newest pod (creationTimestamp, then name); null when there is none.
std::shared_ptr<const json> newestPod(const std::vector<std::shared_ptr<const json>>& pods);
// The first container's terminated exit code (state, else lastState); nullopt if it never ended.
std::optional<int> firstContainerExitCode(const json& pod);
// True once any container of the pod has been running (running or terminated with startedAt).
bool podStarted(const json& pod);
// The Job's condition of `type` when its status is "True"; null otherwise.
const json* trueJobCondition(const json& job, const std::string& type);

}  // namespace controllers::flowrun
