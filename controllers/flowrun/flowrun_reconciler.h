#pragma once
// The FlowRun reconciler: one FlowRun -> exactly one Job, status mirrored from the Job and its
// pods, diagnosis of runs that crash, cancellation with a latch. Level-based: each call reads the
// FlowRun, Job and pods from the shared caches, decides, and writes at most what changed.
// docs/flowrun-lifecycle.md is the user-facing description; ../shared/API.md the contract.
#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include "controllers/clusteridentity/identity_provider.h"
#include "controllers/flowrun/flowrun_metrics.h"
#include "controllers/flowrun/job_renderer.h"
#include "controllers/flowrun/own_writes.h"
#include "controllers/flowrun/released_finalizers.h"
#include "controllers/flowrun/status.h"
#include "controllers/flowrun/watches.h"
#include "operator/kube/client.h"
#include "operator/kube/store.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/reconciler.h"

namespace controllers::flowrun {

struct FlowRunOptions {
  // --store-api-key-in-secret: move a literal PREFECT_API_KEY of spec.env into an owned Secret.
  bool storeApiKeyInSecret = false;
  std::string fieldManager = "flowrun-operator";
  // The wall clock (tests pin it); null means std::chrono::system_clock::now.
  std::function<TimePoint()> now;
};

class FlowRunReconciler : public runtime::Reconciler {
 public:
  // `flowRuns`, `jobs` and `pods` are the stores of the shared informers (jobs and pods selected
  // with kManagedJobSelector and trimmed by jobTransform()/podTransform()).
  FlowRunReconciler(kube::Client& client, const kube::Store& flowRuns, const kube::Store& jobs,
                    const kube::Store& pods, runtime::EventRecorder& events,
                    runtime::MetricsRegistry& metrics,
                    const clusteridentity::IdentityProvider& identity, FlowRunOptions options);

  // Thread-safe for distinct keys (the work queue never hands out one key twice at once).
  runtime::ReconcileOutcome reconcile(const runtime::ObjectKey& key) override;

 private:
  struct Run;
  runtime::ReconcileOutcome reconcileOnce(const runtime::ObjectKey& key);
  runtime::ReconcileOutcome reconcileTerminal(Run& run);
  runtime::ReconcileOutcome reconcileCancel(Run& run);
  runtime::ReconcileOutcome reconcileActive(Run& run);
  runtime::ReconcileOutcome createJob(Run& run, const std::string& jobName);
  runtime::ReconcileOutcome observe(Run& run, const json& job);
  runtime::ReconcileOutcome conflict(Run& run, const json& job);
  runtime::ReconcileOutcome invalidSpec(Run& run, const RenderError& error);
  // Creating the Job or its Secret failed: ends the run when retrying cannot help, else retries
  // and says so in the status.
  runtime::ReconcileOutcome createFailed(Run& run, const std::string& what,
                                         const kube::ApiError& error,
                                         const std::string& templateOrigin);
  // Ensures the --store-api-key-in-secret Secret; nullopt when it is in place.
  std::optional<runtime::ReconcileOutcome> ensureApiKeySecret(Run& run, const std::string& name,
                                                              const std::string& apiKey);
  // Writes run.status when it differs from what was read; records Events and metrics for the
  // transition. nullopt on success (or nothing to write), else the outcome to return.
  std::optional<runtime::ReconcileOutcome> commit(Run& run);
  // The Job as the cache has it, else as the API server has it (the cache may lag a create).
  // nullopt + error outcome on a failed read.
  kube::Result<std::optional<json>> findJob(const std::string& ns, const std::string& name,
                                            bool confirmAbsence);
  std::vector<kube::ObjectPtr> podsOf(const json& job) const;
  // The Job's pods as the API server has them now (for when the pod cache lags).
  kube::Result<std::vector<kube::ObjectPtr>> livePodsOf(const nlohmann::json& job);
  std::vector<kube::ObjectPtr> podsOfFlowRun(const std::string& ns,
                                             const std::string& flowRunName) const;
  // Removes the outcome finalizer (outcome_finalizer.h) from the FlowRun's Job and pods as the
  // caches have them (the Job as `liveJob` has it when the cache has none); `scanPods` also
  // looks for pods by FlowRun when the Job is still cached.
  // nullopt once every removal succeeded (or there was nothing to remove).
  std::optional<runtime::ReconcileOutcome> releaseOutcome(const runtime::ObjectKey& key,
                                                          const std::string& jobName, bool scanPods,
                                                          const json* liveJob = nullptr);
  static std::string jobNameOf(const Run& run);
  void deletePods(const std::vector<kube::ObjectPtr>& pods, std::int64_t gracePeriodSeconds);
  TimePoint now() const;

  kube::Client& client_;
  const kube::Store& flowRuns_;
  const kube::Store& jobs_;
  const kube::Store& pods_;
  runtime::EventRecorder& events_;
  FlowRunMetrics metrics_;
  const clusteridentity::IdentityProvider& identity_;
  FlowRunOptions options_;
  OwnWrites ownWrites_;
  ReleasedFinalizers releasedFinalizers_;
};

// True when `object`'s controller ownerReference has `uid`.
bool isControlledBy(const json& object, const std::string& uid);

// The pod watch timeout of a FlowRun: spec.podWatchTimeoutSeconds, else
// spec.variables.pod_watch_timeout_seconds, else the template's default for
// pod_watch_timeout_seconds, else 60 seconds.
std::chrono::seconds podWatchTimeoutOf(const json& flowRun, const json& baseJobTemplate);

}  // namespace controllers::flowrun
