#include "controllers/flowrun/diagnosis.h"

#include <algorithm>

#include "controllers/flowrun/json_util.h"
#include "controllers/flowrun/status.h"

namespace controllers::flowrun {

namespace {

using jsonutil::at;
using jsonutil::str;

std::string podName(const json& pod) {
  return str(at(pod, "metadata"), "name");
}

bool contains(const std::string& haystack, const char* needle) {
  return haystack.find(needle) != std::string::npos;
}

bool isImagePullReason(const std::string& r) {
  return r == "ErrImagePull" || r == "ImagePullBackOff" || r == "ErrImageNeverPull" ||
         r == "InvalidImageName" || r == "InspectFailed";
}

// The kubelet words image pull failures as reason Failed ("Failed to pull image ...",
// "Error: ErrImagePull") or BackOff ("Back-off pulling image ..."), besides the reasons above.
bool isImagePullEvent(const json& e) {
  std::string r = str(e, "reason");
  std::string m = str(e, "message");
  if (isImagePullReason(r)) return true;
  if (r == "Failed" && (contains(m, "pull") || contains(m, "ErrImagePull") ||
                        contains(m, "ImagePullBackOff") || contains(m, "image"))) {
    return true;
  }
  return r == "BackOff" && contains(m, "pulling image");
}

// A pull Event that carries the cause, not the kubelet's one-word summaries ("Error: ErrImagePull",
// "Error: ImagePullBackOff") or its back-off notice ("Back-off pulling image ...").
bool saysWhyPullFailed(const json& e) {
  const std::string r = str(e, "reason");
  const std::string m = str(e, "message");
  if (r == "BackOff" || r == "ImagePullBackOff" || m.empty()) return false;
  return m.rfind("Error: ", 0) != 0 || m.find(' ', 7) != std::string::npos;
}

// The latest time an Event was seen: series, lastTimestamp, eventTime, creation.
std::string eventTime(const json& e) {
  for (const std::string& t :
       {str(at(e, "series"), "lastObservedTime"), str(e, "lastTimestamp"), str(e, "eventTime"),
        str(e, "firstTimestamp"), str(at(e, "metadata"), "creationTimestamp")}) {
    if (!t.empty()) return t;
  }
  return {};
}

std::vector<const json*> newestFirst(const std::vector<json>& events) {
  std::vector<const json*> out;
  for (const json& e : events) {
    if (e.is_object()) out.push_back(&e);
  }
  std::stable_sort(out.begin(), out.end(), [](const json* a, const json* b) {
    auto ta = parseTime(eventTime(*a)).value_or(TimePoint{});
    auto tb = parseTime(eventTime(*b)).value_or(TimePoint{});
    return ta > tb;
  });
  return out;
}

std::string quote(const json& e) {
  std::string r = str(e, "reason");
  std::string m = str(e, "message");
  return r.empty() ? m : (m.empty() ? r : r + ": " + m);
}

}  // namespace

std::optional<Diagnosis> diagnoseEndedPod(const json& pod) {
  const json& status = at(pod, "status");
  if (str(status, "phase") == "Failed" && str(status, "reason") == "Evicted") {
    std::string m = str(status, "message");
    return Diagnosis{reason::kEvicted, "pod " + podName(pod) + " was evicted" +
                                           (m.empty() ? "" : ": " + m) +
                                           "; the flow run's container never finished"};
  }
  const json& cs = at(status, "containerStatuses");
  if (cs.is_array() && !cs.empty()) {
    for (const char* which : {"state", "lastState"}) {
      const json& term = at(at(cs[0], which), "terminated");
      if (str(term, "reason") == "OOMKilled") {
        std::string code = at(term, "exitCode").is_number_integer()
                               ? std::to_string(term["exitCode"].get<int>())
                               : std::string("137");
        return Diagnosis{reason::kOOMKilled,
                         "container " + str(cs[0], "name") + " of pod " + podName(pod) +
                             " was killed because it ran out of memory (OOMKilled, exit code " +
                             code + "); raise its memory limit"};
      }
    }
  }
  return std::nullopt;
}

std::optional<Diagnosis> diagnoseCrashLoop(const json& pod) {
  const json& cs = at(at(pod, "status"), "containerStatuses");
  if (!cs.is_array()) return std::nullopt;
  for (const json& c : cs) {
    const json& waiting = at(at(c, "state"), "waiting");
    if (str(waiting, "reason") != "CrashLoopBackOff") continue;
    std::string m = "container " + str(c, "name") + " of pod " + podName(pod) +
                    " keeps crashing (CrashLoopBackOff";
    const json& restarts = at(c, "restartCount");
    if (restarts.is_number_integer()) m += ", " + std::to_string(restarts.get<int>()) + " restarts";
    const json& last = at(at(c, "lastState"), "terminated");
    if (at(last, "exitCode").is_number_integer()) {
      m += ", last exit code " + std::to_string(last["exitCode"].get<int>());
    }
    m += ")";
    if (!str(waiting, "message").empty()) m += ": " + str(waiting, "message");
    return Diagnosis{reason::kCrashLoopBackOff, m};
  }
  return std::nullopt;
}

std::optional<Diagnosis> diagnoseDeadline(const json& job) {
  const json* failed = trueJobCondition(job, "Failed");
  if (!failed || str(*failed, "reason") != "DeadlineExceeded") return std::nullopt;
  std::string m = "Job " + str(at(job, "metadata"), "name") + " ran longer than its deadline";
  const json& deadline = at(at(job, "spec"), "activeDeadlineSeconds");
  if (deadline.is_number_integer()) {
    m += " of " + std::to_string(deadline.get<long long>()) + "s";
  }
  m += " (spec.jobWatchTimeoutSeconds) and was stopped";
  if (!str(*failed, "message").empty()) m += ": " + str(*failed, "message");
  return Diagnosis{reason::kDeadlineExceeded, m};
}

Diagnosis diagnoseNotStarted(const json* pod, const json& job, const std::vector<json>& events,
                             std::chrono::seconds timeout) {
  const std::string limit = std::to_string(timeout.count()) + "s";
  const std::string jobName = str(at(job, "metadata"), "name");
  auto sorted = newestFirst(events);

  if (!pod) {
    // The Job controller could not create the pod (quota, admission, missing ServiceAccount).
    std::string m = "Job " + jobName + " created no pod within " + limit;
    for (const json* e : sorted) {
      if (str(*e, "type") == "Warning" || str(*e, "reason") == "FailedCreate") {
        return Diagnosis{reason::kPodNeverStarted, m + ": " + quote(*e)};
      }
    }
    return Diagnosis{reason::kPodNeverStarted, m + "; no Events explain why"};
  }

  const std::string prefix = "pod " + podName(*pod) + " did not start within " + limit;
  // 1. Not scheduled: the scheduler's Event, else the pod's PodScheduled condition.
  for (const json* e : sorted) {
    if (str(*e, "reason") == "FailedScheduling") {
      return Diagnosis{reason::kUnschedulable,
                       prefix + ": " + quote(*e) +
                           " (check the pod's resource requests, node selectors and tolerations)"};
    }
  }
  bool scheduled = true;
  const json& conds = at(at(*pod, "status"), "conditions");
  if (conds.is_array()) {
    for (const json& c : conds) {
      if (str(c, "type") != "PodScheduled" || str(c, "status") == "True") continue;
      scheduled = false;
      if (str(c, "reason") == "Unschedulable") {
        std::string m = str(c, "message");
        return Diagnosis{reason::kUnschedulable,
                         prefix + ": Unschedulable" + (m.empty() ? "" : ": " + m) +
                             " (check the pod's resource requests, node selectors and "
                             "tolerations)"};
      }
    }
  }
  // 2. Image pull failures: the Event that says why (the registry's words: "Failed to pull image
  // ...: pull access denied"), not the newest ("Error: ImagePullBackOff" comes seconds later);
  // then the container's waiting message; then any pull Event.
  const json& cs = at(at(*pod, "status"), "containerStatuses");
  for (const json* e : sorted) {
    if (isImagePullEvent(*e) && saysWhyPullFailed(*e)) {
      return Diagnosis{reason::kImagePullFailed,
                       prefix + ": " + quote(*e) + " (check the image name, tag and pull secrets)"};
    }
  }
  if (cs.is_array()) {
    for (const json& c : cs) {
      const json& waiting = at(at(c, "state"), "waiting");
      const std::string r = str(waiting, "reason");
      const std::string m = str(waiting, "message");
      if (r != "ImagePullBackOff" && isImagePullReason(r) && !m.empty()) {
        return Diagnosis{
            reason::kImagePullFailed,
            prefix + ": " + r + ": " + m + " (check the image name, tag and pull secrets)"};
      }
    }
  }
  for (const json* e : sorted) {
    if (isImagePullEvent(*e)) {
      return Diagnosis{reason::kImagePullFailed,
                       prefix + ": " + quote(*e) + " (check the image name, tag and pull secrets)"};
    }
  }
  std::string waitingReason, waitingMessage;
  if (cs.is_array()) {
    for (const json& c : cs) {
      const json& waiting = at(at(c, "state"), "waiting");
      if (str(waiting, "reason").empty()) continue;
      waitingReason = str(waiting, "reason");
      waitingMessage = str(waiting, "message");
      if (isImagePullReason(waitingReason)) {
        return Diagnosis{reason::kImagePullFailed,
                         prefix + ": " + waitingReason +
                             (waitingMessage.empty() ? "" : ": " + waitingMessage) +
                             " (check the image name, tag and pull secrets)"};
      }
      break;
    }
  }
  // 3. Anything else: quote the newest Warning Event, else the waiting state.
  for (const json* e : sorted) {
    if (str(*e, "type") == "Warning") {
      return Diagnosis{reason::kPodNeverStarted, prefix + ": " + quote(*e)};
    }
  }
  if (!waitingReason.empty()) {
    return Diagnosis{reason::kPodNeverStarted,
                     prefix + ": container waiting: " + waitingReason +
                         (waitingMessage.empty() ? "" : ": " + waitingMessage)};
  }
  return Diagnosis{reason::kPodNeverStarted,
                   prefix + (scheduled ? "" : " (not scheduled)") + "; no Events explain why"};
}

}  // namespace controllers::flowrun
