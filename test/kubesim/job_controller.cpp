#include "test/kubesim/job_controller.h"
#include "test/kubesim/cluster_json.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cmath>

namespace kubesim {

namespace {

constexpr const char* kJobNameLabel = "batch.kubernetes.io/job-name";
constexpr const char* kLegacyJobNameLabel = "job-name";
constexpr const char* kControllerUidLabel = "batch.kubernetes.io/controller-uid";
constexpr const char* kLegacyControllerUidLabel = "controller-uid";
constexpr double kBackoffBase = 10;  // DefaultJobPodFailureBackOff
constexpr double kBackoffMax = 360;  // MaxJobPodFailureBackOff
const char* kSucceededReason = "CompletionsReached";
const char* kSucceededMessage = "Reached expected number of succeeded pods";

const json* findCondition(const json& status, const std::string& type) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) return nullptr;
  for (const auto& c : status["conditions"]) {
    if (c.value("type", "") == type) return &c;
  }
  return nullptr;
}

bool conditionTrue(const json& status, const std::string& type) {
  const json* c = findCondition(status, type);
  return c && c->value("status", "") == "True";
}

void setCondition(json& status, const std::string& type, const std::string& value,
                  const std::string& reason, const std::string& message, const std::string& now) {
  if (!status.contains("conditions") || !status["conditions"].is_array()) {
    status["conditions"] = json::array();
  }
  json cond = {{"type", type},       {"status", value},      {"reason", reason},
               {"message", message}, {"lastProbeTime", now}, {"lastTransitionTime", now}};
  for (auto& c : status["conditions"]) {
    if (c.value("type", "") == type) {
      if (c.value("status", "") == value) cond["lastTransitionTime"] = c["lastTransitionTime"];
      c = cond;
      return;
    }
  }
  status["conditions"].push_back(cond);
}

long intField(const json& obj, const std::string& key, long fallback) {
  if (obj.contains(key) && obj[key].is_number_integer()) return obj[key].get<long>();
  return fallback;
}

void setCount(json& status, const std::string& key, long value) {
  // active, succeeded and failed are omitempty in batch/v1; ready and terminating are pointers.
  if (value == 0) {
    status.erase(key);
  } else {
    status[key] = value;
  }
}

bool podReady(const json& pod) {
  const auto st = objectAt(pod, "status");
  for (const auto& c : arrayAt(st, "conditions")) {
    if (c.value("type", "") == "Ready") return c.value("status", "") == "True";
  }
  return false;
}

}  // namespace

std::string randomNameSuffix() {
  static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  unsigned char bytes[5];
  RAND_bytes(bytes, sizeof bytes);
  std::string s;
  for (unsigned char b : bytes) s += alphabet[b % (sizeof alphabet - 1)];
  return s;
}

bool defaultJob(json& job) {
  bool changed = false;
  auto& md = job["metadata"];
  const std::string uid = md.value("uid", "");
  const std::string name = md.value("name", "");
  auto& spec = job["spec"];
  if (!spec.is_object()) spec = json::object();
  const bool manual = spec.value("manualSelector", false);
  if (!manual && (!spec.contains("selector") || spec["selector"].is_null())) {
    spec["selector"] = {{"matchLabels", {{kControllerUidLabel, uid}}}};
    changed = true;
  }
  if (!manual) {
    auto& labels = spec["template"]["metadata"]["labels"];
    if (!labels.is_object()) labels = json::object();
    const std::pair<const char*, std::string> want[] = {{kControllerUidLabel, uid},
                                                        {kLegacyControllerUidLabel, uid},
                                                        {kJobNameLabel, name},
                                                        {kLegacyJobNameLabel, name}};
    for (const auto& [k, v] : want) {
      if (!labels.contains(k)) {
        labels[k] = v;
        changed = true;
      }
    }
  }
  const std::pair<const char*, json> defaults[] = {
      {"backoffLimit", 6}, {"completions", 1},
      {"parallelism", 1},  {"completionMode", "NonIndexed"},
      {"suspend", false},  {"podReplacementPolicy", "TerminatingOrFailed"}};
  for (const auto& [k, v] : defaults) {
    if (!spec.contains(k) || spec[k].is_null()) {
      spec[k] = v;
      changed = true;
    }
  }
  return changed;
}

json podForJob(const json& job, const std::string& suffix) {
  const auto md = objectAt(job, "metadata");
  const auto tmpl = objectAt(objectAt(job, "spec"), "template");
  const auto tmd = objectAt(tmpl, "metadata");
  const std::string name = md.value("name", "");
  const std::string uid = md.value("uid", "");
  json labels = objectAt(tmd, "labels");
  labels[kControllerUidLabel] = uid;
  labels[kLegacyControllerUidLabel] = uid;
  labels[kJobNameLabel] = name;
  labels[kLegacyJobNameLabel] = name;
  json podMd = {{"name", name + "-" + suffix},
                {"generateName", name + "-"},
                {"namespace", md.value("namespace", "")},
                {"labels", labels},
                {"ownerReferences", json::array({{{"apiVersion", "batch/v1"},
                                                  {"kind", "Job"},
                                                  {"name", name},
                                                  {"uid", uid},
                                                  {"controller", true},
                                                  {"blockOwnerDeletion", true}}})}};
  if (tmd.contains("annotations") && tmd["annotations"].is_object() &&
      !tmd["annotations"].empty()) {
    podMd["annotations"] = tmd["annotations"];
  }
  // The template's finalizers go onto every pod, as the real controller's GetPodFromTemplate
  // does (it adds batch.kubernetes.io/job-tracking too, which kubesim does not model).
  if (tmd.contains("finalizers") && tmd["finalizers"].is_array() && !tmd["finalizers"].empty()) {
    podMd["finalizers"] = tmd["finalizers"];
  }
  return {
      {"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", podMd}, {"spec", objectAt(tmpl, "spec")}};
}

JobDecision decideJob(const json& jobIn, const std::vector<json>& pods, const JobTiming& t,
                      const std::function<std::string()>& suffix) {
  JobDecision d;
  json job = jobIn;
  d.defaulted = defaultJob(job);
  if (d.defaulted) d.job = job;
  const json spec = job["spec"];
  const json oldStatus = objectAt(job, "status");
  json status = oldStatus.is_object() ? oldStatus : json::object();
  const std::string now = Clock::rfc3339(t.now);
  const double scale = t.timeScale > 0 ? t.timeScale : 1.0;

  std::vector<const json*> active, terminating;
  long succeededPods = 0, failedPods = 0, ready = 0;
  for (const auto& p : pods) {
    const std::string phase = objectAt(p, "status").value("phase", "");
    const bool deleting = p["metadata"].contains("deletionTimestamp") &&
                          !p["metadata"]["deletionTimestamp"].is_null();
    if (phase == "Succeeded") {
      ++succeededPods;
    } else if (phase == "Failed") {
      ++failedPods;
    } else if (deleting) {
      terminating.push_back(&p);
    } else {
      active.push_back(&p);
      if (podReady(p)) ++ready;
    }
  }
  // Without pod tracking finalizers, counts only grow: a counted pod may be deleted later.
  const long succeeded = std::max(intField(status, "succeeded", 0), succeededPods);
  const long failed = std::max(intField(status, "failed", 0), failedPods);
  const long completions = intField(spec, "completions", 1);
  const long parallelism = intField(spec, "parallelism", 1);
  const long backoffLimit = intField(spec, "backoffLimit", 6);
  const bool suspend = spec.value("suspend", false);
  long activeCount = static_cast<long>(active.size());
  long terminatingCount = static_cast<long>(terminating.size());

  auto deleteActive = [&] {
    for (const json* p : active) {
      std::string n = (*p)["metadata"].value("name", "");
      d.deletePods.push_back(n);
      d.events.push_back({"Normal", "SuccessfulDelete", "Deleted pod: " + n, ""});
    }
    terminatingCount += activeCount;
    activeCount = 0;
    ready = 0;
  };
  auto requeue = [&](double seconds) {
    seconds = std::max(seconds, 0.001);
    if (!d.requeueAfter || seconds < *d.requeueAfter) d.requeueAfter = seconds;
  };

  const bool finished = conditionTrue(status, "Complete") || conditionTrue(status, "Failed");
  if (finished) {
    if (!active.empty()) deleteActive();
    if (spec.contains("ttlSecondsAfterFinished") && spec["ttlSecondsAfterFinished"].is_number()) {
      std::optional<double> doneAt = t.finishedAt;
      if (!doneAt && status.contains("completionTime")) {
        doneAt = Clock::parseRfc3339(status.value("completionTime", ""));
      }
      if (!doneAt) {
        const json* f = findCondition(status, "Failed");
        if (f) doneAt = Clock::parseRfc3339(f->value("lastTransitionTime", ""));
      }
      const double due =
          doneAt.value_or(t.now) + spec["ttlSecondsAfterFinished"].get<double>() * scale;
      if (t.now >= due) {
        d.deleteJob = true;
      } else {
        requeue(due - t.now);
      }
    }
  } else {
    bool failureTarget = conditionTrue(status, "FailureTarget");
    bool successMet = conditionTrue(status, "SuccessCriteriaMet");
    if (!failureTarget && !successMet) {
      if (succeeded >= completions) {
        setCondition(status, "SuccessCriteriaMet", "True", kSucceededReason, kSucceededMessage,
                     now);
        successMet = true;
      } else if (failed > backoffLimit) {
        setCondition(status, "FailureTarget", "True", "BackoffLimitExceeded",
                     "Job has reached the specified backoff limit", now);
        failureTarget = true;
      } else if (!suspend && spec.contains("activeDeadlineSeconds") &&
                 spec["activeDeadlineSeconds"].is_number()) {
        std::optional<double> start = t.startedAt;
        if (!start && status.contains("startTime")) {
          start = Clock::parseRfc3339(status.value("startTime", ""));
        }
        if (start) {
          const double due = *start + spec["activeDeadlineSeconds"].get<double>() * scale;
          if (t.now >= due) {
            setCondition(status, "FailureTarget", "True", "DeadlineExceeded",
                         "Job was active longer than specified deadline", now);
            failureTarget = true;
          } else {
            requeue(due - t.now);
          }
        }
      }
    }
    if (failureTarget || successMet) {
      if (!active.empty()) deleteActive();
      if (activeCount == 0 && terminatingCount == 0) {
        d.finished = true;
        if (successMet) {
          setCondition(status, "Complete", "True", kSucceededReason, kSucceededMessage, now);
          status["completionTime"] = now;
          d.events.push_back({"Normal", "Completed", "Job completed", ""});
        } else {
          const json* ft = findCondition(status, "FailureTarget");
          const std::string reason = ft ? ft->value("reason", "") : "BackoffLimitExceeded";
          const std::string message = ft ? ft->value("message", "") : "";
          setCondition(status, "Failed", "True", reason, message, now);
          d.events.push_back({"Warning", reason, message, ""});
        }
        if (spec.contains("ttlSecondsAfterFinished") &&
            spec["ttlSecondsAfterFinished"].is_number()) {
          requeue(spec["ttlSecondsAfterFinished"].get<double>() * scale);
        }
      }
    } else if (suspend) {
      if (!active.empty()) deleteActive();
      if (!conditionTrue(status, "Suspended")) {
        setCondition(status, "Suspended", "True", "JobSuspended", "Job suspended", now);
        d.events.push_back({"Normal", "Suspended", "Job suspended", ""});
      }
    } else {
      if (conditionTrue(status, "Suspended")) {
        setCondition(status, "Suspended", "False", "JobResumed", "Job resumed", now);
        d.events.push_back({"Normal", "Resumed", "Job resumed", ""});
        status["startTime"] = now;
        d.started = true;
      }
      if (!status.contains("startTime") || status["startTime"].is_null()) {
        status["startTime"] = now;
        d.started = true;
      }
      if (spec.contains("activeDeadlineSeconds") && spec["activeDeadlineSeconds"].is_number()) {
        const double start = d.started ? t.now : t.startedAt.value_or(t.now);
        requeue(start + spec["activeDeadlineSeconds"].get<double>() * scale - t.now);
      }
      const long wanted = std::min(parallelism, completions - succeeded) - activeCount;
      if (wanted > 0) {
        double backoff = 0;
        if (failed > 0) {
          backoff =
              std::min(kBackoffBase * std::pow(2.0, static_cast<double>(failed - 1)), kBackoffMax) *
              scale;
        }
        const double readyAt = t.lastFailureAt ? *t.lastFailureAt + backoff : t.now;
        if (failed > 0 && t.now < readyAt) {
          requeue(readyAt - t.now);
        } else {
          for (long i = 0; i < wanted; ++i) {
            json pod = podForJob(job, suffix());
            d.events.push_back({"Normal", "SuccessfulCreate",
                                "Created pod: " + pod["metadata"].value("name", ""), ""});
            d.createPods.push_back(std::move(pod));
            ++activeCount;
          }
        }
      }
    }
  }

  setCount(status, "active", activeCount);
  setCount(status, "succeeded", succeeded);
  setCount(status, "failed", failed);
  status["ready"] = ready;
  status["terminating"] = terminatingCount;
  status["uncountedTerminatedPods"] = json::object();
  if (status != oldStatus) d.status = status;
  return d;
}

JobController::JobController(ObjectStore& store, TaskRunner& runner, const Clock& clock,
                             EventRecorder& events)
    : store_(store), runner_(runner), clock_(clock), events_(events) {}

void JobController::enqueue(const std::string& ns, const std::string& name,
                            std::chrono::steady_clock::duration after) {
  runner_.schedule("job/" + ns + "/" + name, std::chrono::steady_clock::now() + after,
                   [this, ns, name] { reconcile(ns, name); });
}

void JobController::onEvent(const StoreEvent& event) {
  const auto md = objectAt(event.object, "metadata");
  if (event.resource == "jobs.batch") {
    enqueue(md.value("namespace", ""), md.value("name", ""));
  } else if (event.resource == "pods") {
    indexPod(event);
    for (const auto& ref : arrayAt(md, "ownerReferences")) {
      if (ref.value("kind", "") == "Job" && ref.value("controller", false)) {
        enqueue(md.value("namespace", ""), ref.value("name", ""));
      }
    }
  }
}

namespace {

std::string controllerUid(const json& pod) {
  for (const auto& ref : arrayAt(objectAt(pod, "metadata"), "ownerReferences")) {
    if (ref.value("kind", "") == "Job" && ref.value("controller", false)) {
      return ref.value("uid", "");
    }
  }
  return "";
}

}  // namespace

void JobController::indexPod(const StoreEvent& event) {
  const auto md = objectAt(event.object, "metadata");
  const std::string name = md.value("name", "");
  const std::string uid = controllerUid(event.object);
  const std::string oldUid = event.oldObject.is_object() ? controllerUid(event.oldObject) : "";
  std::lock_guard lock(podsMu_);
  auto drop = [&](const std::string& owner) {
    auto it = podsByOwner_.find(owner);
    if (it == podsByOwner_.end()) return;
    it->second.erase(name);
    if (it->second.empty()) podsByOwner_.erase(it);
  };
  if (!oldUid.empty() && oldUid != uid) drop(oldUid);
  if (uid.empty()) return;
  if (event.type == StoreEvent::Type::Deleted) {
    drop(uid);
  } else {
    podsByOwner_[uid].insert(name);
  }
}

// The pods the Job controls: owned by uid (controller reference) and selected by its
// controller-uid label, in name order, as the label-selected list returned them.
std::vector<json> JobController::ownedPods(const std::string& ns, const std::string& uid) {
  std::vector<std::string> names;
  {
    std::lock_guard lock(podsMu_);
    auto it = podsByOwner_.find(uid);
    if (it != podsByOwner_.end()) names.assign(it->second.begin(), it->second.end());
  }
  std::vector<json> pods;
  for (const auto& n : names) {
    json p;
    try {
      p = store_.get("pods", ns, n);
    } catch (const ApiException& e) {
      if (e.code != 404) throw;
      continue;  // deleted since; its Deleted event drops it from the index
    }
    if (controllerUid(p) != uid) continue;
    const auto labels = objectAt(p["metadata"], "labels");
    if (!labels.contains(kControllerUidLabel) || !labels[kControllerUidLabel].is_string() ||
        labels[kControllerUidLabel].get<std::string>() != uid) {
      continue;
    }
    pods.push_back(std::move(p));
  }
  return pods;
}

void JobController::resync() {
  for (const auto& pod : store_.list("pods", "")) {
    indexPod(StoreEvent{StoreEvent::Type::Added, "pods", pod, json()});
  }
  for (const auto& job : store_.list("jobs.batch", "")) {
    enqueue(job["metadata"].value("namespace", ""), job["metadata"].value("name", ""));
  }
}

void JobController::reconcile(const std::string& ns, const std::string& name) {
  const std::string key = ns + "/" + name;
  json job;
  try {
    job = store_.get("jobs.batch", ns, name);
  } catch (const ApiException& e) {
    if (e.code == 404) {
      jobs_.erase(key);
      return;
    }
    throw;
  }
  const auto md = objectAt(job, "metadata");
  if (md.contains("deletionTimestamp") && !md["deletionTimestamp"].is_null()) return;
  const std::string uid = md.value("uid", "");
  Memory& mem = jobs_[key];
  if (mem.uid != uid) mem = Memory{uid, {}, {}, {}, 0};

  std::vector<json> pods = ownedPods(ns, uid);
  const double now = Clock::nowSeconds();
  JobTiming timing{now, mem.startedAt, mem.lastFailureAt, mem.finishedAt, clock_.scale()};
  {
    long failedNow = intField(objectAt(job, "status"), "failed", 0);
    long failedPods = 0;
    for (const auto& p : pods) {
      if (objectAt(p, "status").value("phase", "") == "Failed") ++failedPods;
    }
    failedNow = std::max(failedNow, failedPods);
    if (failedNow > mem.failedSeen) {
      // A restart of kubesim loses the precise time; the back-off then starts from now.
      mem.lastFailureAt = now;
      mem.failedSeen = failedNow;
      timing.lastFailureAt = now;
    }
  }
  JobDecision d = decideJob(job, pods, timing);
  if (d.defaulted) {
    job = store_.update("jobs.batch", d.job);
    return enqueue(ns, name);  // decide again on the stored, defaulted Job
  }
  if (d.deleteJob) {
    // The TTL-after-finished controller deletes in the foreground.
    DeleteOptions opts;
    opts.propagationPolicy = "Foreground";
    opts.preconditionUid = uid;
    store_.remove("jobs.batch", ns, name, opts);
    jobs_.erase(key);
    return;
  }
  for (auto& pod : d.createPods) {
    store_.create("pods", ns, pod);
  }
  for (const auto& pn : d.deletePods) {
    try {
      store_.remove("pods", ns, pn, DeleteOptions{});
    } catch (const ApiException& e) {
      if (e.code != 404) throw;
    }
  }
  if (d.status) {
    json updated = job;
    updated["status"] = *d.status;
    job = store_.updateStatus("jobs.batch", updated);
  }
  if (d.started) mem.startedAt = now;
  if (d.finished) mem.finishedAt = now;
  for (const auto& e : d.events) events_.record(job, "jobs.batch", "job-controller", e);
  if (d.requeueAfter) {
    enqueue(ns, name,
            std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                std::chrono::duration<double>(*d.requeueAfter)));
  }
}

}  // namespace kubesim
