#include "controllers/flowrun/flowrun_reconciler.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "controllers/flowrun/api_key_secret.h"
#include "controllers/flowrun/diagnosis.h"
#include "controllers/flowrun/json_util.h"
#include "controllers/flowrun/labels.h"
#include "controllers/flowrun/outcome_finalizer.h"

namespace controllers::flowrun {

using runtime::ReconcileOutcome;
using namespace std::chrono_literals;

namespace {

using jsonutil::at;
using jsonutil::str;

const json& meta(const json& obj) {
  return at(obj, "metadata");
}
bool deleting(const json& obj) {
  return !str(meta(obj), "deletionTimestamp").empty();
}

std::optional<std::int64_t> integer(const json& v) {
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_number_float()) return static_cast<std::int64_t>(v.get<double>());
  if (v.is_string()) {
    try {
      std::size_t used = 0;
      long long n = std::stoll(v.get<std::string>(), &used);
      if (used == v.get<std::string>().size()) return n;
    } catch (const std::exception&) {
    }
  }
  return std::nullopt;
}

bool cancelRequested(const json& fr) {
  const json& c = at(at(fr, "spec"), "cancel");
  return c.is_boolean() && c.get<bool>();
}

std::int64_t gracePeriodOf(const json& fr) {
  auto g = integer(at(at(fr, "spec"), "cancelGracePeriodSeconds"));
  return g && *g >= 0 ? *g : 30;
}

// Reasons that are a problem a person should look at get Warning Events.
bool isWarning(Phase phase, const std::string& r) {
  return phase == Phase::Failed || phase == Phase::Crashed || r == reason::kTemplateNotFound ||
         r == reason::kJobNameConflict || r == reason::kSecretNameConflict ||
         r == reason::kCreateRetrying;
}

// Crashed diagnoses of a Job that would otherwise keep going: the controller stops it, so that a
// run reported as Crashed never starts later.
bool newestPodFinal(const std::vector<kube::ObjectPtr>& pods) {
  auto newest = newestPod(pods);
  if (!newest) return false;
  std::string phase = str(at(*newest, "status"), "phase");
  return phase == "Succeeded" || phase == "Failed";
}

bool jobFinished(const json& job) {
  return trueJobCondition(job, "Complete") || trueJobCondition(job, "Failed");
}

bool stopsTheJob(const std::string& r);

// Terminal phases behind which no Job may run: Crashed for a reason that stops the Job,
// Cancelled, and Failed because the spec is invalid (no Job was ever meant to exist).
bool mustNotRun(const FlowRunStatus& st) {
  if (!st.phase) return false;
  if (*st.phase == Phase::Cancelled) return true;
  if (*st.phase == Phase::Failed) return st.reason == reason::kInvalidSpec;
  return *st.phase == Phase::Crashed && stopsTheJob(st.reason);
}

bool stopsTheJob(const std::string& r) {
  return r == reason::kUnschedulable || r == reason::kImagePullFailed ||
         r == reason::kPodNeverStarted || r == reason::kCrashLoopBackOff;
}

std::string controllerOf(const json& obj) {
  const json& refs = at(meta(obj), "ownerReferences");
  if (refs.is_array()) {
    for (const json& r : refs) {
      if (at(r, "controller").is_boolean() && r["controller"].get<bool>()) {
        return str(r, "kind") + "/" + str(r, "name");
      }
    }
  }
  return "";
}

void annotate(json& obj, const std::string& key, const std::string& value) {
  json& md = obj["metadata"];
  if (!md.is_object()) md = json::object();
  if (!md.contains("annotations") || !md["annotations"].is_object()) {
    md["annotations"] = json::object();
  }
  md["annotations"][key] = value;
}

// Equal but for the status message and the conditions' messages, and, while the run goes on in
// the same phase, the exit code of an attempt (a pod that succeeded before its Job is Complete):
// the terminal write records it.
bool sameButMessages(FlowRunStatus a, FlowRunStatus b) {
  const bool ongoing = a.phase && a.phase == b.phase && !isTerminal(*a.phase);
  for (FlowRunStatus* s : {&a, &b}) {
    s->message.clear();
    for (Condition& c : s->conditions) c.message.clear();
    if (ongoing) s->exitCode.reset();
  }
  return a == b;
}

}  // namespace

bool isControlledBy(const json& object, const std::string& uid) {
  if (uid.empty()) return false;
  const json& refs = at(meta(object), "ownerReferences");
  if (!refs.is_array()) return false;
  for (const json& r : refs) {
    if (at(r, "controller").is_boolean() && r["controller"].get<bool>() && str(r, "uid") == uid) {
      return true;
    }
  }
  return false;
}

std::chrono::seconds podWatchTimeoutOf(const json& flowRun, const json& baseJobTemplate) {
  const json& spec = at(flowRun, "spec");
  for (const json* v :
       {&at(spec, "podWatchTimeoutSeconds"),
        &at(at(spec, "variables"), "pod_watch_timeout_seconds"),
        &at(at(at(at(baseJobTemplate, "variables"), "properties"), "pod_watch_timeout_seconds"),
            "default")}) {
    if (auto n = integer(*v); n && *n > 0) return std::chrono::seconds(*n);
  }
  return 60s;
}

// The state of one reconcile: the FlowRun as last read or written, the status as it was, and
// the status being built.
struct FlowRunReconciler::Run {
  runtime::ObjectKey key;
  json fr;
  FlowRunStatus before;
  FlowRunStatus status;
  std::int64_t generation = 0;
  TimePoint now;
  struct PendingEvent {
    std::string type, reason, message;
  };
  std::vector<PendingEvent> extraEvents;  // recorded once the status write succeeds
};

FlowRunReconciler::FlowRunReconciler(kube::Client& client, const kube::Store& flowRuns,
                                     const kube::Store& jobs, const kube::Store& pods,
                                     runtime::EventRecorder& events,
                                     runtime::MetricsRegistry& metrics,
                                     const clusteridentity::IdentityProvider& identity,
                                     FlowRunOptions options)
    : client_(client),
      flowRuns_(flowRuns),
      jobs_(jobs),
      pods_(pods),
      events_(events),
      metrics_(metrics),
      identity_(identity),
      options_(std::move(options)) {}

TimePoint FlowRunReconciler::now() const {
  return options_.now ? options_.now() : Clock::now();
}

ReconcileOutcome FlowRunReconciler::reconcile(const runtime::ObjectKey& key) {
  try {
    return reconcileOnce(key);
  } catch (const std::exception& e) {
    // Malformed objects must not take the controller down; retry with backoff.
    return ReconcileOutcome::retry("FlowRun " + key.str() + ": unexpected error: " + e.what());
  }
}

ReconcileOutcome FlowRunReconciler::reconcileOnce(const runtime::ObjectKey& key) {
  kube::ObjectPtr cached = ownWrites_.freshest(key.str(), flowRuns_.get(key.ns, key.name));
  if (!cached) {
    metrics_.observePhase(key, std::nullopt);
    // Gone: nothing will read the outcome any more, so the Job and pods may go.
    if (auto failed = releaseOutcome(key, jobNameFor(key.name), true)) return *failed;
    return ReconcileOutcome::done();
  }
  Run run;
  run.key = key;
  run.fr = *cached;
  run.before = FlowRunStatus::fromJson(at(run.fr, "status"));
  run.status = run.before;
  run.generation = integer(at(meta(run.fr), "generation")).value_or(0);
  run.now = now();
  metrics_.observePhase(key, run.before.phase);

  // Being deleted: garbage collection removes the Job, its pods and the Secret, once the
  // outcome finalizer is off them.
  if (deleting(run.fr)) {
    if (auto failed = releaseOutcome(key, jobNameOf(run), true)) return *failed;
    return ReconcileOutcome::done();
  }
  if (run.before.phase && isTerminal(*run.before.phase)) return reconcileTerminal(run);
  // The latch: once status.cancelRequestedAt is set, a revert of spec.cancel changes nothing.
  if (cancelRequested(run.fr) || !run.before.cancelRequestedAt.empty()) {
    return reconcileCancel(run);
  }
  return reconcileActive(run);
}

std::optional<ReconcileOutcome> FlowRunReconciler::commit(Run& run) {
  run.status.observedGeneration = std::max(run.status.observedGeneration, run.generation);
  // A status that differs only in its messages (a pending pod's ContainerCreating after
  // "not scheduled yet", "succeeded; waiting for the Job" after "running") is not written on its
  // own: one write per transition. The newest message goes out with the next write.
  const bool changed = !sameButMessages(run.status, run.before);
  if (!changed && run.extraEvents.empty()) return std::nullopt;
  if (changed) {
    json obj = run.fr;
    obj["status"] = run.status.toJson();
    const std::string basedOn = str(meta(run.fr), "resourceVersion");
    auto written = client_.updateStatus(kube::resources::FlowRuns, obj);
    if (!written.ok()) {
      const kube::ApiError& e = written.error();
      // Someone else wrote first: read again and decide again.
      if (e.isConflict()) {
        ownWrites_.forget(run.key.str());
        return ReconcileOutcome::after(200ms);
      }
      if (e.isNotFound()) return ReconcileOutcome::done();
      return ReconcileOutcome::retry("FlowRun " + run.key.str() +
                                     ": status update failed: " + e.describe());
    }
    run.fr = std::move(*written);
    // Until the watch brings this write, the next reconcile decides on it, not on the cache.
    // The same projection as the cache, so a decision reads the same fields either way.
    ownWrites_.wrote(run.key.str(), basedOn,
                     std::make_shared<const json>(flowRunTransform()(run.fr)));
  }
  Phase to = run.status.phase.value_or(Phase::Pending);
  if (run.before.phase != run.status.phase && run.status.phase) {
    metrics_.transition(run.before.phase, to);
  }
  // JobCreated has its Event when the Job is created (createJob).
  if (run.status.phase && run.status.reason != reason::kJobCreated &&
      (run.before.phase != run.status.phase || run.before.reason != run.status.reason)) {
    events_.record(run.fr, isWarning(to, run.status.reason) ? "Warning" : "Normal",
                   run.status.reason, run.status.message);
  }
  for (const auto& e : run.extraEvents) events_.record(run.fr, e.type, e.reason, e.message);
  run.extraEvents.clear();
  run.before = run.status;
  metrics_.observePhase(run.key, run.status.phase);
  return std::nullopt;
}

ReconcileOutcome FlowRunReconciler::reconcileTerminal(Run& run) {
  // Terminal phases never change; a cancel request that arrives now is noted, not acted on.
  if (cancelRequested(run.fr) && run.status.cancelRequestedAt.empty()) {
    run.status.cancelRequestedAt = formatTime(run.now);
    std::string why = "the cancel request was ignored: the flow run had already finished (phase " +
                      std::string(phaseName(*run.status.phase)) + ", reason " + run.status.reason +
                      ") before it arrived";
    run.status.setCondition(Condition{kConditionCancelRequested, "False", reason::kAlreadyFinished,
                                      why, "", run.generation},
                            run.now);
    run.extraEvents.push_back({"Normal", "CancelIgnored", why});
  }
  if (auto failed = commit(run)) return *failed;
  // The outcome is in the status (the cache shows it written): the Job and pods may go now.
  if (auto failed = releaseOutcome(run.key, jobNameOf(run), false)) return *failed;

  // A Job that must not run behind a terminal FlowRun is stopped whenever it shows up: a run
  // diagnosed as Crashed while its Job was active (the delete may not have happened before a
  // restart), and a Job whose create landed after the run was Cancelled or found invalid (a
  // slow API server, or a hung leader's request in flight).
  if (!mustNotRun(run.status)) return ReconcileOutcome::done();
  const std::string jobName =
      run.status.jobName.empty() ? jobNameFor(run.key.name) : run.status.jobName;
  kube::ObjectPtr job = jobs_.get(run.key.ns, jobName);
  if (!job || !isControlledBy(*job, str(meta(run.fr), "uid")) || deleting(*job) ||
      jobFinished(*job)) {
    return ReconcileOutcome::done();
  }
  kube::DeleteOptions opts;
  opts.propagationPolicy = "Foreground";
  if (*run.status.phase == Phase::Cancelled) opts.gracePeriodSeconds = gracePeriodOf(run.fr);
  opts.preconditionUid = str(meta(*job), "uid");
  auto r = client_.remove(kube::resources::Jobs, run.key.ns, jobName, opts);
  if (!r.ok() && !r.error().isNotFound() && !r.error().isConflict()) {
    return ReconcileOutcome::retry("FlowRun " + run.key.str() + ": deleting Job " + jobName +
                                   " that must not run: " + r.error().describe());
  }
  events_.record(run.fr, "Warning", "JobStopped",
                 "deleted Job " + jobName + ": it appeared after the run ended (" +
                     phaseName(*run.status.phase) + ", " + run.status.reason +
                     ") and must not run");
  return ReconcileOutcome::done();
}

kube::Result<std::optional<json>> FlowRunReconciler::findJob(const std::string& ns,
                                                             const std::string& name,
                                                             bool confirmAbsence) {
  if (kube::ObjectPtr cached = jobs_.get(ns, name)) return std::optional<json>(*cached);
  if (!confirmAbsence) return std::optional<json>();
  auto live = client_.get(kube::resources::Jobs, ns, name);
  if (live.ok()) return std::optional<json>(jobTransform()(std::move(*live)));
  if (live.error().isNotFound()) return std::optional<json>();
  return live.error();
}

std::vector<kube::ObjectPtr> FlowRunReconciler::podsOf(const json& job) const {
  std::string uid = str(meta(job), "uid");
  if (uid.empty()) return {};
  return pods_.byIndex(kube::kIndexControllerUid, uid);
}

kube::Result<std::vector<kube::ObjectPtr>> FlowRunReconciler::livePodsOf(const json& job) {
  kube::ListOptions lo;
  // Set by the Job controller on every pod of the Job, in every Kubernetes version.
  lo.labelSelector = "controller-uid=" + str(meta(job), "uid");
  auto list = client_.list(kube::resources::Pods, str(meta(job), "namespace"), lo);
  if (!list.ok()) return list.error();
  std::vector<kube::ObjectPtr> out;
  auto trim = podTransform();
  for (auto& p : list->items) out.push_back(std::make_shared<const json>(trim(std::move(p))));
  return out;
}

std::vector<kube::ObjectPtr> FlowRunReconciler::podsOfFlowRun(const std::string& ns,
                                                              const std::string& name) const {
  std::vector<kube::ObjectPtr> out;
  for (const auto& p : pods_.byIndex(kIndexFlowRun, name)) {
    auto k = p ? flowRunKeyFor(*p) : std::nullopt;
    if (k && k->ns == ns && k->name == name) out.push_back(p);
  }
  return out;
}

void FlowRunReconciler::deletePods(const std::vector<kube::ObjectPtr>& pods,
                                   std::int64_t gracePeriodSeconds) {
  // The garbage collector deletes a Job's pods with their own terminationGracePeriodSeconds;
  // deleting them ourselves is what gives them spec.cancelGracePeriodSeconds. A second delete
  // may shorten a grace period, never lengthen it, so pods already going fast enough are left.
  for (const auto& p : pods) {
    const json& md = meta(*p);
    if (deleting(*p)) {
      auto g = integer(at(md, "deletionGracePeriodSeconds"));
      if (!g || *g <= gracePeriodSeconds) continue;
    }
    std::string phase = str(at(*p, "status"), "phase");
    if (phase == "Succeeded" || phase == "Failed") continue;
    kube::DeleteOptions opts;
    opts.gracePeriodSeconds = gracePeriodSeconds;
    opts.preconditionUid = str(md, "uid");
    // Failures are not fatal: the garbage collector removes the pods anyway, and the next
    // reconcile tries again.
    (void)client_.remove(kube::resources::Pods, str(md, "namespace"), str(md, "name"), opts);
  }
}

std::string FlowRunReconciler::jobNameOf(const Run& run) {
  return run.status.jobName.empty() ? jobNameFor(run.key.name) : run.status.jobName;
}

std::optional<ReconcileOutcome> FlowRunReconciler::releaseOutcome(const runtime::ObjectKey& key,
                                                                  const std::string& jobName,
                                                                  bool scanPods,
                                                                  const json* liveJob) {
  std::vector<std::pair<const kube::ResourceType*, kube::ObjectPtr>> held;
  kube::ObjectPtr job = jobs_.get(key.ns, jobName);
  // A Job read from the API server because the cache did not have it yet.
  if (!job && liveJob) job = std::make_shared<const json>(*liveJob);
  if (job) {
    auto owner = flowRunKeyFor(*job);
    if (!owner || owner->name != key.name) job.reset();
  }
  if (job) {
    if (hasOutcomeFinalizer(*job)) held.emplace_back(&kube::resources::Jobs, job);
    for (auto& p : podsOf(*job)) {
      if (hasOutcomeFinalizer(*p)) held.emplace_back(&kube::resources::Pods, p);
    }
  }
  // Pods whose Job is gone from the cache are found by their FlowRun (a scan of the namespace:
  // only once the Job is gone, or when the FlowRun is).
  if (!job || scanPods) {
    for (auto& p : podsOfFlowRun(key.ns, key.name)) {
      bool seen = false;
      for (const auto& h : held) seen = seen || str(meta(*h.second), "uid") == str(meta(*p), "uid");
      if (!seen && hasOutcomeFinalizer(*p)) held.emplace_back(&kube::resources::Pods, p);
    }
  }
  kube::PatchOptions po;
  po.type = kube::PatchType::JsonPatch;
  for (const auto& [type, obj] : held) {
    auto patch = outcomeFinalizerRemoval(*obj);
    if (!patch) continue;
    const json& md = meta(*obj);
    const std::string uid = str(md, "uid"), rv = str(md, "resourceVersion");
    if (releasedFinalizers_.alreadyReleased(uid, rv)) continue;  // the cache has not caught up
    auto r = client_.patch(*type, str(md, "namespace"), str(md, "name"), *patch, po);
    if (r.ok()) releasedFinalizers_.released(uid, rv);
    if (r.ok() || r.error().isNotFound()) continue;
    // 422: the cached object is stale (the finalizer moved); its update event brings us back.
    if (r.error().isInvalid()) return ReconcileOutcome::after(500ms);
    return ReconcileOutcome::retry("FlowRun " + key.str() + ": removing finalizer " +
                                   kOutcomeFinalizer + " from " + type->qualifiedName() + " " +
                                   str(md, "name") + ": " + r.error().describe());
  }
  return std::nullopt;
}

ReconcileOutcome FlowRunReconciler::reconcileCancel(Run& run) {
  const bool latched = !run.before.cancelRequestedAt.empty();
  const std::string& ns = run.key.ns;
  const std::string uid = str(meta(run.fr), "uid");
  const std::string jobName =
      run.status.jobName.empty() ? jobNameFor(run.key.name) : run.status.jobName;
  const std::int64_t grace = gracePeriodOf(run.fr);

  // Absence must be certain before saying "no Job was created": ask the API server when the
  // cache has nothing.
  auto found = findJob(ns, jobName, true);
  if (!found.ok()) {
    return ReconcileOutcome::retry("FlowRun " + run.key.str() + ": reading Job " + jobName + ": " +
                                   found.error().describe());
  }
  std::optional<json> job = std::move(*found);
  if (job && !isControlledBy(*job, uid)) job.reset();  // never touch someone else's Job

  // A run that finished before the cancel request was seen (the operator was away) keeps its
  // outcome: record it from the Job, and the terminal path notes the ignored request.
  if (!latched && job && jobFinished(*job)) return reconcileActive(run);
  if (!latched) run.status.cancelRequestedAt = formatTime(run.now);

  if (job) {
    // The create may have landed without its status write (the cancel came in between): the
    // status names the Job it is deleting, and the final message says a Job was deleted.
    run.status.jobName = jobName;
    const std::string message = "cancel requested; deleting Job " + jobName +
                                " and its pods (grace period " + std::to_string(grace) + "s)";
    // Latch first, act second: if the operator stops after deleting, the status already says
    // the run is being cancelled, so a vanished Job reads as Cancelled, never as JobDeleted.
    if (!latched) {
      setPhase(run.status, Phase::Cancelling, reason::kCancelRequested, message, run.generation,
               run.now);
      if (auto failed = commit(run)) return *failed;
    }
    if (!deleting(*job)) {
      kube::DeleteOptions opts;
      opts.propagationPolicy = "Foreground";
      opts.gracePeriodSeconds = grace;
      opts.preconditionUid = str(meta(*job), "uid");
      auto r = client_.remove(kube::resources::Jobs, ns, jobName, opts);
      if (!r.ok() && !r.error().isNotFound() && !r.error().isConflict()) {
        return ReconcileOutcome::retry("FlowRun " + run.key.str() + ": deleting Job " + jobName +
                                       ": " + r.error().describe());
      }
    }
    deletePods(podsOf(*job), grace);
    // A cancelled run's outcome is Cancelled whatever the Job did: nothing to keep.
    if (auto failed = releaseOutcome(run.key, jobName, false, &*job)) return *failed;
    setPhase(run.status, Phase::Cancelling, reason::kCancelRequested, message, run.generation,
             run.now);
    if (auto failed = commit(run)) return *failed;
    return ReconcileOutcome::after(1s);
  }

  // The Job is gone (or never existed); its pods may still be terminating.
  auto leftovers = podsOfFlowRun(ns, run.key.name);
  if (!leftovers.empty()) {
    deletePods(leftovers, grace);
    if (auto failed = releaseOutcome(run.key, jobName, true)) return *failed;
    setPhase(run.status, Phase::Cancelling, reason::kCancelRequested,
             "cancel requested; Job " + jobName + " is deleted, waiting for " +
                 std::to_string(leftovers.size()) + " pod(s) to terminate",
             run.generation, run.now);
    if (auto failed = commit(run)) return *failed;
    return ReconcileOutcome::after(1s);
  }
  std::string message = run.status.jobName.empty()
                            ? "cancelled before a Job was created; no Job will be created"
                            : "cancelled; Job " + jobName + " and its pods were deleted";
  setPhase(run.status, Phase::Cancelled, reason::kCancelled, message, run.generation, run.now);
  if (auto failed = commit(run)) return *failed;
  return ReconcileOutcome::done();
}

ReconcileOutcome FlowRunReconciler::reconcileActive(Run& run) {
  const std::string& ns = run.key.ns;
  const std::string uid = str(meta(run.fr), "uid");
  const std::string jobName =
      run.status.jobName.empty() ? jobNameFor(run.key.name) : run.status.jobName;

  // Once a Job was recorded, a Job missing from the cache is checked against the API server: the
  // cache may lag, and JobDeleted is terminal.
  auto found = findJob(ns, jobName, !run.status.jobName.empty());
  if (!found.ok()) {
    return ReconcileOutcome::retry("FlowRun " + run.key.str() + ": reading Job " + jobName + ": " +
                                   found.error().describe());
  }
  if (!*found) {
    if (!run.status.jobName.empty()) {
      setPhase(run.status, Phase::Crashed, reason::kJobDeleted,
               "Job " + jobName +
                   " was deleted before the flow run finished, and not by a cancel request "
                   "(delete the FlowRun, or patch spec.cancel, to stop a run)",
               run.generation, run.now);
      if (auto failed = commit(run)) return *failed;
      return ReconcileOutcome::done();
    }
    return createJob(run, jobName);
  }
  if (!isControlledBy(**found, uid)) return conflict(run, **found);
  return observe(run, **found);
}

ReconcileOutcome FlowRunReconciler::conflict(Run& run, const json& job) {
  const std::string name = str(meta(job), "name");
  const std::string owner = controllerOf(job);
  const bool oldIncarnation = owner == "FlowRun/" + run.key.name;
  std::string message;
  std::chrono::milliseconds again = 30s;
  if (deleting(job) || oldIncarnation) {
    message = "a Job named " + name + " already exists and is " +
              (deleting(job) ? "being deleted" : "owned by an earlier FlowRun of the same name") +
              "; waiting for it to go before creating this FlowRun's Job";
    again = 2s;
  } else {
    message = "a Job named " + name + " already exists and is not owned by this FlowRun (" +
              (owner.empty() ? std::string("it has no controller") : "controller: " + owner) +
              "); delete or rename that Job, or give the FlowRun another name";
  }
  setPhase(run.status, Phase::Pending, reason::kJobNameConflict, message, run.generation, run.now);
  if (auto failed = commit(run)) return *failed;
  return ReconcileOutcome::after(again);
}

ReconcileOutcome FlowRunReconciler::createFailed(Run& run, const std::string& what,
                                                 const kube::ApiError& error,
                                                 const std::string& templateOrigin) {
  // Said on the FlowRun as the Job controller says FailedCreate on a Job, so that
  // `kubectl describe flowrun` shows why no Job appears. Repeats are aggregated into one Event.
  const std::string why = "creating " + what + ": " + error.describe();
  events_.record(run.fr, "Warning", reason::kFailedCreate, "Error " + why);
  if (error.isBadRequest() || error.isInvalid()) {
    // The server cannot decode (400) or refuses (422) what the template produced: a spec
    // problem that no retry fixes.
    return invalidSpec(
        run,
        RenderError{"job", "the API server rejected the rendered " + what + ": " + error.describe(),
                    templateOrigin});
  }
  if (error.isPermanentRefusal()) {
    // 403 with the server's reason (RBAC, quota, admission): the same request is refused again.
    setPhase(run.status, Phase::Failed, reason::kCreateForbidden,
             "the API server forbids " + why +
                 "; not retried: fix the permission, quota or policy and create the FlowRun again",
             run.generation, run.now);
    if (auto failed = commit(run)) return *failed;
    return ReconcileOutcome::done();
  }
  // 429, 5xx, no connection: retried with back-off, and said in the status while it lasts.
  setPhase(run.status, Phase::Pending, reason::kCreateRetrying, why + "; retrying with back-off",
           run.generation, run.now);
  if (auto failed = commit(run)) return *failed;
  return ReconcileOutcome::retry("FlowRun " + run.key.str() + ": " + why);
}

ReconcileOutcome FlowRunReconciler::invalidSpec(Run& run, const RenderError& error) {
  // Terminal: retrying cannot fix the spec; a new FlowRun is needed.
  setPhase(run.status, Phase::Failed, reason::kInvalidSpec, error.describe(), run.generation,
           run.now);
  if (auto failed = commit(run)) return *failed;
  return ReconcileOutcome::done();
}

std::optional<ReconcileOutcome> FlowRunReconciler::ensureApiKeySecret(Run& run,
                                                                      const std::string& name,
                                                                      const std::string& apiKey) {
  const std::string uid = str(meta(run.fr), "uid");
  json secret = apiKeySecretFor(run.fr, name, apiKey);
  auto created = client_.create(kube::resources::Secrets, run.key.ns, secret);
  if (created.ok()) return std::nullopt;
  if (!created.error().isAlreadyExists()) {
    // As for the Job: said on the FlowRun (e.g. secrets forbidden without the API-key Component).
    return createFailed(run, "Secret " + name, created.error(), "");
  }
  auto existing = client_.get(kube::resources::Secrets, run.key.ns, name);
  if (!existing.ok()) {
    if (existing.error().isNotFound()) return ReconcileOutcome::after(1s);
    return ReconcileOutcome::retry("FlowRun " + run.key.str() + ": reading Secret " + name + ": " +
                                   existing.error().describe());
  }
  if (!isControlledBy(*existing, uid)) {
    setPhase(run.status, Phase::Pending, reason::kSecretNameConflict,
             "a Secret named " + name +
                 " already exists and is not owned by this FlowRun; the API key is not written "
                 "into it. Delete or rename that Secret, or use spec.apiKeySecret",
             run.generation, run.now);
    if (auto failed = commit(run)) return *failed;
    return ReconcileOutcome::after(30s);
  }
  if (!apiKeySecretHolds(*existing, apiKey)) {
    // Ours, from an earlier attempt with another key: bring it up to date.
    json updated = *existing;
    updated["data"] = secret["data"];
    auto r = client_.update(kube::resources::Secrets, updated);
    if (!r.ok()) {
      return ReconcileOutcome::retry("FlowRun " + run.key.str() + ": updating Secret " + name +
                                     ": " + r.error().describe());
    }
  }
  return std::nullopt;
}

ReconcileOutcome FlowRunReconciler::createJob(Run& run, const std::string& jobName) {
  const std::string& ns = run.key.ns;
  // An empty cluster UID is never used: the infrastructure PID would be unusable for cancellation.
  std::optional<std::string> clusterUid = identity_.clusterUid();
  if (!clusterUid || clusterUid->empty()) {
    setPhase(run.status, Phase::Pending, reason::kWaitingForClusterIdentity,
             "waiting for the ClusterIdentity to be Ready; no Job is created before the cluster "
             "has an identity",
             run.generation, run.now);
    if (auto failed = commit(run)) return *failed;
    return ReconcileOutcome::after(1s);
  }

  // The cache keeps a trimmed spec (watches.cpp): the Job is rendered from the FlowRun as the API
  // server has it now, one read per Job created.
  auto full = client_.get(kube::resources::FlowRuns, ns, run.key.name);
  if (!full.ok()) {
    if (full.error().isNotFound()) return ReconcileOutcome::done();
    return ReconcileOutcome::retry("FlowRun " + run.key.str() +
                                   ": reading it to render its Job: " + full.error().describe());
  }
  const json& fr = *full;
  // Newer than the cache in what decides whether to create at all: decide again on the newer
  // object, which the watch is about to bring.
  if (str(meta(fr), "uid") != str(meta(run.fr), "uid") || deleting(fr) || cancelRequested(fr)) {
    return ReconcileOutcome::after(200ms);
  }

  // The template: inline, from a ConfigMap (read live: not cached, rarely read), or the default.
  auto source = templateSourceOf(fr);
  if (auto* err = std::get_if<RenderError>(&source)) return invalidSpec(run, *err);
  const TemplateSource& src = std::get<TemplateSource>(source);
  json baseTemplate;
  RenderOptions options;
  options.clusterUid = *clusterUid;
  switch (src.kind) {
    case TemplateSource::Kind::Default:
      baseTemplate = defaultBaseJobTemplate();
      break;
    case TemplateSource::Kind::Inline:
      baseTemplate = at(at(fr, "spec"), "template");
      options.templateOrigin = "spec.template";
      break;
    case TemplateSource::Kind::ConfigMap: {
      const std::string where = "ConfigMap " + ns + "/" + src.configMapName;
      auto cm = client_.get(kube::resources::ConfigMaps, ns, src.configMapName);
      std::string missing;
      if (!cm.ok()) {
        if (!cm.error().isNotFound()) {
          return ReconcileOutcome::retry("FlowRun " + run.key.str() + ": reading " + where + ": " +
                                         cm.error().describe());
        }
        missing = where + " (spec.template.configMapRef) does not exist";
      } else if (!at(at(*cm, "data"), src.configMapKey.c_str()).is_string() &&
                 !at(at(*cm, "binaryData"), src.configMapKey.c_str()).is_string()) {
        missing = where + " has no key " + src.configMapKey + " (spec.template.configMapRef.key)";
      }
      if (!missing.empty()) {
        // It may appear later (applied after the FlowRun, or by another sync wave): wait, and
        // look again with a delay that grows with the wait, up to a minute.
        setPhase(run.status, Phase::Pending, reason::kTemplateNotFound,
                 missing + "; the Job is created once it does", run.generation, run.now);
        if (auto failed = commit(run)) return *failed;
        auto created = parseTime(str(meta(run.fr), "creationTimestamp")).value_or(run.now);
        auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(run.now - created);
        return ReconcileOutcome::after(std::clamp<std::chrono::milliseconds>(waited / 4, 2s, 60s));
      }
      auto parsed = baseJobTemplateFromConfigMap(*cm, src.configMapKey);
      if (auto* err = std::get_if<RenderError>(&parsed)) return invalidSpec(run, *err);
      baseTemplate = std::get<json>(std::move(parsed));
      options.templateOrigin =
          "configmap " + ns + "/" + src.configMapName + "[" + src.configMapKey + "]";
      break;
    }
  }

  const json& apiKeySecret = at(at(fr, "spec"), "apiKeySecret");
  if (apiKeySecret.is_object() && !str(apiKeySecret, "name").empty()) {
    std::string key = str(apiKeySecret, "key");
    options.apiKeySecretRef = std::make_pair(str(apiKeySecret, "name"), key.empty() ? "key" : key);
  }
  RenderResult rendered = renderJob(fr, baseTemplate, options);
  if (!rendered.ok()) {
    return invalidSpec(run,
                       rendered.error.value_or(RenderError{"spec", "could not be rendered", ""}));
  }
  if (options_.storeApiKeyInSecret && !options.apiKeySecretRef && rendered.literalApiKey) {
    // Render again with the Secret reference, then put the key into the Secret before the Job
    // exists, so the Job never carries the literal key.
    const std::string secretName = apiKeySecretName(jobName);
    options.apiKeySecretRef = std::make_pair(secretName, std::string(kApiKeySecretKey));
    std::string apiKey = *rendered.literalApiKey;
    rendered = renderJob(fr, baseTemplate, options);
    if (!rendered.ok()) {
      return invalidSpec(run,
                         rendered.error.value_or(RenderError{"spec", "could not be rendered", ""}));
    }
    if (auto stop = ensureApiKeySecret(run, secretName, apiKey)) return *stop;
  }

  json job = std::move(*rendered.job);
  addOutcomeFinalizer(job);
  const std::chrono::seconds podTimeout = podWatchTimeoutOf(fr, baseTemplate);
  annotate(job, kAnnotationFlowRunName, run.key.name);
  annotate(job, kAnnotationPodWatchTimeout, std::to_string(podTimeout.count()));
  if (job.contains("spec") && job["spec"].contains("template") &&
      job["spec"]["template"].is_object()) {
    json& podTemplate = job["spec"]["template"];
    annotate(podTemplate, kAnnotationFlowRunName, run.key.name);
    // Garbage collection deletes a cancelled Job's pods with the pods' own grace period, so the
    // cancel grace period is also the pods' terminationGracePeriodSeconds, unless the template
    // chose one (then the reconciler's own pod deletes carry the cancel grace period).
    if (podTemplate.contains("spec") && podTemplate["spec"].is_object() &&
        !podTemplate["spec"].contains("terminationGracePeriodSeconds")) {
      podTemplate["spec"]["terminationGracePeriodSeconds"] = gracePeriodOf(fr);
    }
  }
  const std::string renderedName =
      str(meta(job), "name").empty() ? jobName : str(meta(job), "name");

  auto created = client_.create(kube::resources::Jobs, ns, job);
  json current;
  if (created.ok()) {
    auto since = parseTime(str(meta(run.fr), "creationTimestamp"));
    if (since) metrics_.jobCreated(Clock::now() - *since);
    current = jobTransform()(std::move(*created));
    // Recorded now, not with the status write: that write may lose a race (409), and the next
    // pass adopts the Job and goes straight to the pod's state, so the creation would go unsaid.
    events_.record(run.fr, "Normal", reason::kJobCreated, "Job " + renderedName + " created");
  } else if (created.error().isAlreadyExists()) {
    // A stale cache, a restart between create and status write, or a foreign Job: decide on
    // what the API server has, and never create a second Job.
    auto live = client_.get(kube::resources::Jobs, ns, renderedName);
    if (!live.ok()) {
      if (live.error().isNotFound()) return ReconcileOutcome::after(1s);
      return ReconcileOutcome::retry("FlowRun " + run.key.str() + ": reading Job " + renderedName +
                                     ": " + live.error().describe());
    }
    current = jobTransform()(std::move(*live));
    if (!isControlledBy(current, str(meta(run.fr), "uid"))) return conflict(run, current);
  } else {
    return createFailed(run, "Job " + renderedName, created.error(), options.templateOrigin);
  }
  return observe(run, current);
}

ReconcileOutcome FlowRunReconciler::observe(Run& run, const json& job) {
  const std::string jobName = str(meta(job), "name");
  run.status.jobName = jobName;
  if (run.status.infrastructurePid.empty()) {
    if (auto uid = identity_.clusterUid(); uid && !uid->empty()) {
      run.status.infrastructurePid = *uid + ":" + run.key.ns + ":" + jobName;
    }
  }
  std::chrono::seconds podTimeout = 60s;
  if (auto n = integer(at(at(meta(job), "annotations"), kAnnotationPodWatchTimeout)); n && *n > 0) {
    podTimeout = std::chrono::seconds(*n);
  } else {
    podTimeout = podWatchTimeoutOf(run.fr, json::object());
  }

  auto pods = podsOf(job);
  Observation o = observeJob(job, pods, run.now, podTimeout);
  if (o.jobFinished && !o.exitCode && !newestPodFinal(pods)) {
    // The pod watch may lag the Job watch (by more than a moment, or with no pod cached at all):
    // the terminal status is written once, so read the Job's pods from the API server rather
    // than lose the exit code or an OOMKilled diagnosis. One list, only at the end of a run.
    auto live = livePodsOf(job);
    if (!live.ok()) {
      return ReconcileOutcome::retry("FlowRun " + run.key.str() + ": reading the pods of Job " +
                                     jobName + ": " + live.error().describe());
    }
    pods = std::move(*live);
    o = observeJob(job, pods, run.now, podTimeout);
  }
  if (o.waitForPodCache) return ReconcileOutcome::after(o.recheckAfter.value_or(500ms));

  if (deleting(job) && !o.jobFinished) {
    // Not a cancel (that path never comes here): someone else is deleting the Job.
    o.phase = Phase::Crashed;
    o.reason = reason::kJobDeleted;
    o.message = "Job " + jobName +
                " is being deleted before the flow run finished, and not by a cancel request";
    o.recheckAfter.reset();
  } else if (o.podStartOverdue) {
    // One targeted list: the Events about the newest pod, or about the Job when it made none.
    auto newest = newestPod(pods);
    const json& subject = newest ? *newest : job;
    kube::ListOptions lo;
    lo.fieldSelector = "involvedObject.uid=" + str(meta(subject), "uid");
    auto events = client_.list(kube::resources::CoreEvents, run.key.ns, lo);
    std::vector<json> items;
    if (events.ok()) items = std::move(events->items);
    // Without Events the diagnosis still uses the pod's own state.
    Diagnosis d = diagnoseNotStarted(newest ? newest.get() : nullptr, job, items, podTimeout);
    o.phase = Phase::Crashed;
    o.reason = d.reason;
    o.message = d.message;
    o.recheckAfter.reset();
  }

  if (!o.podName.empty()) run.status.podName = o.podName;
  if (o.exitCode) run.status.exitCode = o.exitCode;
  if (run.status.startTime.empty()) {
    if (!o.startTime.empty()) {
      run.status.startTime = o.startTime;
    } else if (o.phase == Phase::Running) {
      run.status.startTime = formatTime(run.now);
    }
  }
  if (isTerminal(o.phase) && run.status.completionTime.empty()) {
    run.status.completionTime = !o.completionTime.empty() ? o.completionTime : formatTime(run.now);
  }
  setPhase(run.status, o.phase, o.reason, o.message, run.generation, run.now);
  if (auto failed = commit(run)) return *failed;

  if (o.phase == Phase::Crashed && stopsTheJob(o.reason) && !o.jobFinished && !deleting(job)) {
    // Crashed is terminal: a pod that starts later must not run the flow behind Prefect's back.
    kube::DeleteOptions opts;
    opts.propagationPolicy = "Foreground";
    opts.preconditionUid = str(meta(job), "uid");
    auto r = client_.remove(kube::resources::Jobs, run.key.ns, jobName, opts);
    if (!r.ok() && !r.error().isNotFound() && !r.error().isConflict()) {
      return ReconcileOutcome::retry("FlowRun " + run.key.str() + ": deleting crashed Job " +
                                     jobName + ": " + r.error().describe());
    }
  }
  if (o.recheckAfter) return ReconcileOutcome::after(*o.recheckAfter);
  return ReconcileOutcome::done();
}

}  // namespace controllers::flowrun
