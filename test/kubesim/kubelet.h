#pragma once
// The scheduler and the kubelet of one simulated node. Each pod's life is planned up front from
// its scenario (a list of timed steps, pure and unit-testable), then played on real time scaled
// by the cluster's time scale. Deleting a pod switches to a termination plan: Killing, SIGTERM,
// exit 143 (or 137 at the end of the grace period when the scenario ignores SIGTERM), removal.
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "test/kubesim/clock.h"
#include "test/kubesim/events.h"
#include "test/kubesim/flow_engine.h"
#include "test/kubesim/object_store.h"
#include "test/kubesim/scenario.h"

namespace kubesim {

inline constexpr const char* kNodeName = "kubesim-node";

struct PodEvent {
  std::string component;  // kubelet | default-scheduler
  EventSpec event;
};

struct PodStep {
  double at = 0;  // scenario seconds since the plan started
  // Mutates the pod: status, and for the binding spec.nodeName, for logs an annotation.
  std::function<void(json& pod, const std::string& now)> apply;
  std::vector<PodEvent> events;
  bool terminal = false;   // the pod reaches Succeeded or Failed here
  bool deletePod = false;  // the kubelet removes the pod (grace 0) here
  // The containers are created here: their environment is resolved first, and a reference that
  // cannot be resolved holds the pod at this step (CreateContainerConfigError) until it can.
  bool createsContainers = false;
};

// Scheduling, pulling, running and exiting, per the scenario (or the parse error).
std::vector<PodStep> planPodLife(const json& pod, const ScenarioParse& scenario);
// Graceful termination of a pod that has a deletionTimestamp.
std::vector<PodStep> planPodTermination(const json& pod, const Scenario& scenario);
// The grace period a deleted pod gets, in scenario seconds.
double terminationGraceSeconds(const json& pod);

class Kubelet {
 public:
  Kubelet(ObjectStore& store, TaskRunner& runner, const Clock& clock, EventRecorder& events);
  void onEvent(const StoreEvent& event);
  void resync();  // picks up pods that exist already (start after a restart with --data-dir)

 private:
  struct Tracked {
    std::string uid;
    Scenario scenario;
    std::vector<PodStep> steps;
    std::size_t next = 0;
    std::chrono::steady_clock::time_point started;
    bool terminating = false;
    std::string configError;  // the env reference that holds the containers back, if any
    bool pulledOnce = false;  // a Pulled Event was recorded for a held start already
    std::map<std::string, std::string> env;  // the first container's, for $(VAR) in logs
  };
  // Resolves the containers' env before they are created; false, with the pod's container
  // statuses and `events` saying why, when a reference cannot be resolved yet.
  bool resolveEnvironment(Tracked& t, json& pod, std::vector<PodEvent>& events);
  void reconcile(const std::string& ns, const std::string& name);
  void scheduleReconcile(const std::string& ns, const std::string& name,
                         std::chrono::steady_clock::time_point at);

  ObjectStore& store_;
  TaskRunner& runner_;
  const Clock& clock_;
  EventRecorder& events_;
  FlowEngine flowEngine_;                // reports Prefect flow run states for pods that run one
  std::map<std::string, Tracked> pods_;  // ns/name -> plan; only touched on the runner thread
  // A pod held by a missing ConfigMap or Secret is retried after this many scenario seconds,
  // as a real kubelet's pod worker backs off, and at once when one of them changes.
  static constexpr double kConfigRetrySeconds = 10;
};

}  // namespace kubesim
