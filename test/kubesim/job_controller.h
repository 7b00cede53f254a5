#pragma once
// The batch/v1 Job controller (non-indexed Jobs) and the TTL-after-finished controller.
// decideJob() is the pure heart: a Job, its pods and the time in, the actions and the new status
// out, with Kubernetes 1.31+ semantics (SuccessCriteriaMet / FailureTarget first, Complete /
// Failed once no pod is left running).
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "test/kubesim/clock.h"
#include "test/kubesim/events.h"
#include "test/kubesim/object_store.h"

namespace kubesim {

struct JobTiming {
  double now = 0;                       // epoch seconds
  std::optional<double> startedAt;      // when the controller started the Job (precise)
  std::optional<double> lastFailureAt;  // when it last saw the failed count grow
  std::optional<double> finishedAt;     // when it set Complete/Failed
  double timeScale = 1.0;               // scenario durations (deadline, back-off, TTL) are scaled
};

struct JobDecision {
  bool defaulted = false;        // spec.selector / template labels were filled in: update the Job
  json job;                      // the Job with defaults (when defaulted)
  std::vector<json> createPods;  // pods to create
  std::vector<std::string> deletePods;
  std::optional<json> status;  // the new status, when it differs
  std::vector<EventSpec> events;
  std::optional<double> requeueAfter;  // real seconds
  bool deleteJob = false;              // ttlSecondsAfterFinished elapsed
  bool started = false;                // startTime set now
  bool finished = false;               // Complete or Failed set now
};

// Fills spec.selector and the template's job labels as kube-apiserver defaults them.
bool defaultJob(json& job);
// A pod for `job`, named <job>-<suffix>.
json podForJob(const json& job, const std::string& suffix);
// Five characters from the alphabet Kubernetes uses for generated names.
std::string randomNameSuffix();

JobDecision decideJob(const json& job, const std::vector<json>& pods, const JobTiming& timing,
                      const std::function<std::string()>& suffix = randomNameSuffix);

class JobController {
 public:
  JobController(ObjectStore& store, TaskRunner& runner, const Clock& clock, EventRecorder& events);
  void onEvent(const StoreEvent& event);
  void resync();

 private:
  struct Memory {
    std::string uid;
    std::optional<double> startedAt, lastFailureAt, finishedAt;
    long failedSeen = 0;
  };
  void reconcile(const std::string& ns, const std::string& name);
  void indexPod(const StoreEvent& event);
  std::vector<json> ownedPods(const std::string& ns, const std::string& uid);
  void enqueue(const std::string& ns, const std::string& name,
               std::chrono::steady_clock::duration after = {});

  ObjectStore& store_;
  TaskRunner& runner_;
  const Clock& clock_;
  EventRecorder& events_;
  std::map<std::string, Memory> jobs_;  // runner thread only
  // Pod names by the uid of their controlling Job, kept from the store's events, so a reconcile
  // reads its own pods instead of listing (and copying) every pod of the namespace: with 10,000
  // Jobs in one namespace the list made each reconcile O(pods).
  std::mutex podsMu_;
  std::map<std::string, std::set<std::string>> podsByOwner_;
};

}  // namespace kubesim
