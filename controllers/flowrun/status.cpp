#include "controllers/flowrun/status.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "controllers/flowrun/diagnosis.h"
#include "controllers/flowrun/json_util.h"
#include "operator/kube/utf8.h"

namespace controllers::flowrun {

namespace {

using jsonutil::at;
using jsonutil::str;

std::string describeSeconds(std::chrono::seconds s) {
  return std::to_string(s.count()) + "s";
}

}  // namespace

const char* phaseName(Phase phase) {
  switch (phase) {
    case Phase::Pending:
      return "Pending";
    case Phase::Running:
      return "Running";
    case Phase::Succeeded:
      return "Succeeded";
    case Phase::Failed:
      return "Failed";
    case Phase::Crashed:
      return "Crashed";
    case Phase::Cancelling:
      return "Cancelling";
    case Phase::Cancelled:
      return "Cancelled";
  }
  return "Pending";
}

std::optional<Phase> parsePhase(const std::string& name) {
  for (Phase p : {Phase::Pending, Phase::Running, Phase::Succeeded, Phase::Failed, Phase::Crashed,
                  Phase::Cancelling, Phase::Cancelled}) {
    if (name == phaseName(p)) return p;
  }
  return std::nullopt;
}

bool isTerminal(Phase phase) {
  return phase == Phase::Succeeded || phase == Phase::Failed || phase == Phase::Crashed ||
         phase == Phase::Cancelled;
}

std::string formatTime(TimePoint t) {
  std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::optional<TimePoint> parseTime(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return std::nullopt;
  }
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::size_t i = 19;
  std::chrono::microseconds fraction{0};
  if (i < text.size() && text[i] == '.') {
    ++i;
    long long value = 0;
    int digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (digits < 6) {
        value = value * 10 + (text[i] - '0');
        ++digits;
      }
      ++i;
    }
    if (digits == 0) return std::nullopt;
    while (digits++ < 6) value *= 10;
    fraction = std::chrono::microseconds(value);
  }
  long offsetSeconds = 0;
  if (i < text.size() && (text[i] == 'Z' || text[i] == 'z')) {
    ++i;
  } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int hh = 0, mm = 0;
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &hh, &mm) != 2) return std::nullopt;
    offsetSeconds = (hh * 3600L + mm * 60L) * (text[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;
  }
  if (i != text.size()) return std::nullopt;
  std::time_t t = timegm(&tm);
  return Clock::from_time_t(t - offsetSeconds) +
         std::chrono::duration_cast<Clock::duration>(fraction);
}

FlowRunStatus FlowRunStatus::fromJson(const json& status) {
  FlowRunStatus s;
  if (!status.is_object()) return s;
  if (auto p = parsePhase(str(status, "phase"))) s.phase = *p;
  s.reason = str(status, "reason");
  s.message = str(status, "message");
  s.jobName = str(status, "jobName");
  s.podName = str(status, "podName");
  s.infrastructurePid = str(status, "infrastructurePid");
  if (const json& e = at(status, "exitCode"); e.is_number_integer()) s.exitCode = e.get<int>();
  s.cancelRequestedAt = str(status, "cancelRequestedAt");
  s.startTime = str(status, "startTime");
  s.completionTime = str(status, "completionTime");
  if (const json& g = at(status, "observedGeneration"); g.is_number_integer()) {
    s.observedGeneration = g.get<std::int64_t>();
  }
  if (const json& cs = at(status, "conditions"); cs.is_array()) {
    for (const json& c : cs) {
      if (!c.is_object() || str(c, "type").empty()) continue;
      Condition cond{str(c, "type"),
                     str(c, "status"),
                     str(c, "reason"),
                     str(c, "message"),
                     str(c, "lastTransitionTime"),
                     0};
      if (const json& g = at(c, "observedGeneration"); g.is_number_integer()) {
        cond.observedGeneration = g.get<std::int64_t>();
      }
      s.conditions.push_back(std::move(cond));
    }
  }
  return s;
}

json FlowRunStatus::toJson() const {
  json j = json::object();
  if (phase) j["phase"] = phaseName(*phase);
  if (!reason.empty()) j["reason"] = reason;
  if (!message.empty()) j["message"] = message;
  if (!jobName.empty()) j["jobName"] = jobName;
  if (!podName.empty()) j["podName"] = podName;
  if (!infrastructurePid.empty()) j["infrastructurePid"] = infrastructurePid;
  if (exitCode) j["exitCode"] = *exitCode;
  if (!cancelRequestedAt.empty()) j["cancelRequestedAt"] = cancelRequestedAt;
  if (!startTime.empty()) j["startTime"] = startTime;
  if (!completionTime.empty()) j["completionTime"] = completionTime;
  if (observedGeneration > 0) j["observedGeneration"] = observedGeneration;
  if (!conditions.empty()) {
    json cs = json::array();
    for (const Condition& c : conditions) {
      json cj = {{"type", c.type}, {"status", c.status}};
      if (!c.reason.empty()) cj["reason"] = c.reason;
      if (!c.message.empty()) cj["message"] = c.message;
      if (!c.lastTransitionTime.empty()) cj["lastTransitionTime"] = c.lastTransitionTime;
      if (c.observedGeneration > 0) cj["observedGeneration"] = c.observedGeneration;
      cs.push_back(std::move(cj));
    }
    j["conditions"] = std::move(cs);
  }
  return j;
}

const Condition* FlowRunStatus::condition(const std::string& type) const {
  for (const Condition& c : conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

std::string fitMessage(const std::string& message) {
  std::string text = kube::validUtf8(message);
  if (text.size() <= kMaxStatusMessageBytes) return text;
  std::string tail = " ... (" + std::to_string(text.size()) + " bytes, cut)";
  std::size_t cut = kMaxStatusMessageBytes - tail.size();
  // Never cut a UTF-8 sequence in half.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + tail;
}

void FlowRunStatus::setCondition(Condition c, TimePoint now) {
  c.message = fitMessage(c.message);
  for (Condition& existing : conditions) {
    if (existing.type != c.type) continue;
    c.lastTransitionTime = existing.status == c.status && !existing.lastTransitionTime.empty()
                               ? existing.lastTransitionTime
                               : formatTime(now);
    existing = std::move(c);
    return;
  }
  c.lastTransitionTime = formatTime(now);
  conditions.push_back(std::move(c));
}

void setPhase(FlowRunStatus& status, Phase phase, const std::string& reason,
              const std::string& message, std::int64_t generation, TimePoint now) {
  status.phase = phase;
  status.reason = reason;
  status.message = fitMessage(message);
  std::string conditionStatus = "Unknown";
  if (phase == Phase::Succeeded) {
    conditionStatus = "True";
  } else if (isTerminal(phase)) {
    conditionStatus = "False";
  }
  if (isTerminal(phase) && status.completionTime.empty()) status.completionTime = formatTime(now);
  status.setCondition(
      Condition{kConditionSucceeded, conditionStatus, reason, message, "", generation}, now);
}

std::shared_ptr<const json> newestPod(const std::vector<std::shared_ptr<const json>>& pods) {
  std::shared_ptr<const json> best;
  for (const auto& p : pods) {
    if (!p) continue;
    if (!best) {
      best = p;
      continue;
    }
    // RFC 3339 with the same precision sorts lexically; parse to be safe with mixed precision.
    auto tp = parseTime(str(at(*p, "metadata"), "creationTimestamp"));
    auto tb = parseTime(str(at(*best, "metadata"), "creationTimestamp"));
    TimePoint a = tp.value_or(TimePoint{}), b = tb.value_or(TimePoint{});
    if (a > b || (a == b && str(at(*p, "metadata"), "name") > str(at(*best, "metadata"), "name"))) {
      best = p;
    }
  }
  return best;
}

namespace {
const json* firstContainerStatus(const json& pod) {
  const json& cs = at(at(pod, "status"), "containerStatuses");
  if (!cs.is_array() || cs.empty()) return nullptr;
  // The flow runs in the first container of the pod spec; the transform may have dropped the
  // spec, so fall back to the first status entry (kubelets report them in spec order).
  const json& spec = at(at(pod, "spec"), "containers");
  if (spec.is_array() && !spec.empty()) {
    std::string name = str(spec[0], "name");
    for (const json& c : cs) {
      if (str(c, "name") == name) return &c;
    }
  }
  return &cs[0];
}
}  // namespace

std::optional<int> firstContainerExitCode(const json& pod) {
  const json* c = firstContainerStatus(pod);
  if (!c) return std::nullopt;
  for (const char* which : {"state", "lastState"}) {
    const json& term = at(at(*c, which), "terminated");
    // 137 with ContainerStatusUnknown is the kubelet's stand-in for a container it could not
    // find once the pod was killed (evictions): not an exit code the flow's process returned.
    if (str(term, "reason") == "ContainerStatusUnknown") continue;
    if (const json& e = at(term, "exitCode"); e.is_number_integer()) return e.get<int>();
  }
  return std::nullopt;
}

bool podStarted(const json& pod) {
  const json& cs = at(at(pod, "status"), "containerStatuses");
  if (!cs.is_array()) return false;
  for (const json& c : cs) {
    if (at(at(c, "state"), "running").is_object()) return true;
    if (at(c, "started").is_boolean() && at(c, "started").get<bool>()) return true;
    for (const char* which : {"state", "lastState"}) {
      const json& term = at(at(c, which), "terminated");
      // A container that terminated without ever starting (e.g. a failed image pull that the
      // kubelet gave up on) has no startedAt.
      if (term.is_object() && !str(term, "startedAt").empty()) return true;
    }
  }
  return false;
}

const json* trueJobCondition(const json& job, const std::string& type) {
  const json& cs = at(at(job, "status"), "conditions");
  if (!cs.is_array()) return nullptr;
  for (const json& c : cs) {
    if (str(c, "type") == type && str(c, "status") == "True") return &c;
  }
  return nullptr;
}

namespace {

std::string startedAt(const json& pod) {
  const json* c = firstContainerStatus(pod);
  if (!c) return {};
  for (const char* which : {"state", "lastState"}) {
    const json& st = at(*c, which);
    for (const char* kind : {"running", "terminated"}) {
      std::string t = str(at(st, kind), "startedAt");
      if (!t.empty()) return t;
    }
  }
  return {};
}

std::string podPhase(const json& pod) {
  return str(at(pod, "status"), "phase");
}

// "pod p is Pending (ContainerCreating)" or "(not scheduled yet)".
std::string describePendingPod(const json& pod) {
  std::string name = str(at(pod, "metadata"), "name");
  std::string detail;
  const json& cs = at(at(pod, "status"), "containerStatuses");
  if (cs.is_array()) {
    for (const json& c : cs) {
      std::string why = str(at(at(c, "state"), "waiting"), "reason");
      if (!why.empty()) {
        detail = why;
        break;
      }
    }
  }
  if (detail.empty()) {
    const json& conds = at(at(pod, "status"), "conditions");
    if (conds.is_array()) {
      for (const json& c : conds) {
        if (str(c, "type") == "PodScheduled" && str(c, "status") != "True") {
          detail = "not scheduled yet";
          if (!str(c, "reason").empty()) detail += ": " + str(c, "reason");
        }
      }
    }
  }
  return "pod " + name + " is " + (podPhase(pod).empty() ? "Pending" : podPhase(pod)) +
         (detail.empty() ? "" : " (" + detail + ")");
}

std::string finishedAt(const json& job, const json* condition) {
  std::string t = str(at(job, "status"), "completionTime");
  if (t.empty() && condition) t = str(*condition, "lastTransitionTime");
  return t;
}

}  // namespace

Observation observeJob(const json& job, const std::vector<std::shared_ptr<const json>>& pods,
                       TimePoint now, std::chrono::seconds podWatchTimeout) {
  Observation o;
  const std::string jobName = str(at(job, "metadata"), "name");
  auto newest = newestPod(pods);
  if (newest) {
    o.podName = str(at(*newest, "metadata"), "name");
    o.exitCode = firstContainerExitCode(*newest);
    o.startTime = startedAt(*newest);
  }
  bool anyStarted = false;
  for (const auto& p : pods) anyStarted = anyStarted || (p && podStarted(*p));

  const json* complete = trueJobCondition(job, "Complete");
  const json* failed = trueJobCondition(job, "Failed");
  if (complete || failed) {
    o.jobFinished = true;
    o.completionTime = finishedAt(job, complete ? complete : failed);
    // The pod informer may lag the Job informer by a moment; the exit code belongs in the final
    // status, so wait briefly for the newest pod to be final too. Bounded: a pod that never
    // becomes final (or is gone, e.g. TTL) does not hold the run forever.
    bool podFinal = newest && (podPhase(*newest) == "Succeeded" || podPhase(*newest) == "Failed");
    auto finished = parseTime(o.completionTime);
    bool recent = !finished || now - *finished < std::chrono::seconds(10);
    if (newest && !podFinal && recent && !o.exitCode) {
      o.waitForPodCache = true;
      o.recheckAfter = std::chrono::milliseconds(500);
    }
  }

  if (complete) {
    o.phase = Phase::Succeeded;
    o.reason = reason::kCompleted;
    o.message = "Job " + jobName + " completed";
    if (o.exitCode)
      o.message += "; the flow run's container exited with code " + std::to_string(*o.exitCode);
    return o;
  }
  if (failed) {
    if (auto d = diagnoseDeadline(job)) {
      o.phase = Phase::Crashed;
      o.reason = d->reason;
      o.message = d->message;
      return o;
    }
    if (newest) {
      if (auto d = diagnoseEndedPod(*newest)) {
        o.phase = Phase::Crashed;
        o.reason = d->reason;
        o.message = d->message;
        if (d->reason == reason::kEvicted) o.exitCode.reset();  // an evicted run has none
        return o;
      }
    }
    if (!anyStarted && newest && !o.waitForPodCache) {
      o.phase = Phase::Crashed;
      o.reason = reason::kPodNeverStarted;
      std::string podReason = str(at(*newest, "status"), "reason");
      std::string podMessage = str(at(*newest, "status"), "message");
      o.message = "Job " + jobName + " failed before pod " + o.podName + " started" +
                  (podReason.empty() ? "" : ": " + podReason) +
                  (podMessage.empty() ? "" : ": " + podMessage);
      return o;
    }
    o.phase = Phase::Failed;
    std::string why = str(*failed, "reason");
    o.reason = why.empty() ? reason::kBackoffLimitExceeded : why;
    std::string jobMessage = str(*failed, "message");
    o.message = "Job " + jobName + " failed" + (jobMessage.empty() ? "" : ": " + jobMessage);
    if (o.exitCode) {
      o.message += "; the flow run's container exited with code " + std::to_string(*o.exitCode);
    }
    const json& failedCount = at(at(job, "status"), "failed");
    if (failedCount.is_number_integer() && failedCount.get<int>() > 1) {
      o.message += " (" + std::to_string(failedCount.get<int>()) + " failed attempts)";
    }
    return o;
  }

  // The Job is still active.
  if (newest) {
    if (auto d = diagnoseCrashLoop(*newest)) {
      o.phase = Phase::Crashed;
      o.reason = d->reason;
      o.message = d->message;
      return o;
    }
  }
  if (anyStarted) {
    std::string ph = newest ? podPhase(*newest) : "";
    if (newest && podStarted(*newest) && ph != "Succeeded" && ph != "Failed") {
      o.phase = Phase::Running;
      o.reason = reason::kPodRunning;
      o.message = "pod " + o.podName + " is running";
      return o;
    }
    if (newest && ph == "Succeeded") {
      // The Job controller marks the Job Complete next.
      o.phase = Phase::Running;
      o.reason = reason::kPodRunning;
      o.message = "pod " + o.podName + " succeeded; waiting for Job " + jobName + " to complete";
      return o;
    }
    // An attempt failed and the Job retries within its backoffLimit.
    o.phase = Phase::Running;
    o.reason = reason::kRetrying;
    o.message = "an attempt of Job " + jobName + " failed";
    if (o.exitCode) o.message += " with exit code " + std::to_string(*o.exitCode);
    o.message += "; the Job retries within its backoffLimit";
    if (newest && !podStarted(*newest)) o.message += "; " + describePendingPod(*newest);
    // The earlier attempt's start time is kept; the exit code belongs to the final attempt.
    if (newest && !podStarted(*newest)) o.exitCode.reset();
    return o;
  }

  // No pod has started: the pod watch timeout runs from the Job's creation.
  o.phase = Phase::Pending;
  auto created = parseTime(str(at(job, "metadata"), "creationTimestamp"));
  TimePoint since = created.value_or(now);
  auto elapsed = now - since;
  if (elapsed >= podWatchTimeout) {
    o.podStartOverdue = true;
  } else {
    o.recheckAfter =
        std::chrono::duration_cast<std::chrono::milliseconds>(podWatchTimeout - elapsed) +
        std::chrono::milliseconds(100);
  }
  if (newest) {
    o.reason = reason::kPodPending;
    o.message = describePendingPod(*newest) + "; it must start within " +
                describeSeconds(podWatchTimeout) + " of the Job's creation";
  } else {
    o.reason = reason::kJobCreated;
    o.message = "Job " + jobName + " created; waiting for its pod";
  }
  return o;
}

}  // namespace controllers::flowrun
