#include "test/kubesim/kubelet.h"

#include "test/kubesim/cluster_json.h"
#include "test/kubesim/container_env.h"

#include <algorithm>
#include <cstdio>
#include <functional>

namespace kubesim {

namespace {

// "Container image "busybox" already present on machine", for the container a Pulled Event is
// about.
std::string alreadyPresentMessage(const json& pod, const EventSpec& pulled) {
  std::string image;
  for (const auto& c : arrayAt(objectAt(pod, "spec"), "containers")) {
    if (pulled.fieldPath == "spec.containers{" + c.value("name", "") + "}")
      image = c.value("image", "");
  }
  return "Container image \"" + image + "\" already present on machine";
}

constexpr double kPullStart = 0.05;        // Pulling, right after scheduling
constexpr double kPlanHorizon = 4 * 3600;  // endless loops are planned this far
constexpr double kMaxBackoff = 300;        // kubelet's maximum container/image back-off
constexpr const char* kEvictionMessage =
    "The node was low on resource: memory. Threshold quantity: 100Mi, available: 42Mi. ";

std::string hex64(const std::string& seed) {
  std::size_t h1 = std::hash<std::string>{}(seed);
  std::size_t h2 = std::hash<std::string>{}(seed + "#");
  std::string out;
  char buf[17];
  for (int i = 0; i < 4; ++i) {
    const unsigned long long v = static_cast<unsigned long long>(i % 2 ? h2 : h1) ^
                                 (static_cast<unsigned long long>(i) * 0x9e3779b97f4a7c15ULL);
    std::snprintf(buf, sizeof buf, "%016llx", v);
    out += buf;
  }
  return out;
}

std::string podIP(const std::string& uid) {
  std::size_t h = std::hash<std::string>{}(uid);
  return "10.244." + std::to_string((h >> 8) % 250) + "." + std::to_string(2 + h % 250);
}

// Sets a pod condition, keeping the kubelet's order and lastTransitionTime semantics.
void setCondition(json& status, const std::string& type, const std::string& value,
                  const std::string& now, const std::string& reason = "",
                  const std::string& message = "") {
  static const std::vector<std::string> order = {
      "PodReadyToStartContainers", "Initialized",  "Ready",
      "ContainersReady",           "PodScheduled", "DisruptionTarget"};
  if (!status.contains("conditions") || !status["conditions"].is_array()) {
    status["conditions"] = json::array();
  }
  auto& conds = status["conditions"];
  json cond = {
      {"type", type}, {"status", value}, {"lastProbeTime", nullptr}, {"lastTransitionTime", now}};
  if (!reason.empty()) cond["reason"] = reason;
  if (!message.empty()) cond["message"] = message;
  for (auto& c : conds) {
    if (c.value("type", "") == type) {
      if (c.value("status", "") == value) cond["lastTransitionTime"] = c["lastTransitionTime"];
      c = cond;
      return;
    }
  }
  conds.push_back(cond);
  auto rank = [&](const json& c) {
    auto it = std::find(order.begin(), order.end(), c.value("type", ""));
    return it - order.begin();
  };
  std::stable_sort(conds.begin(), conds.end(),
                   [&](const json& a, const json& b) { return rank(a) < rank(b); });
}

struct PodFacts {
  std::string ns, name, uid, restartPolicy;
  std::vector<std::pair<std::string, std::string>> containers;  // name, image
};

PodFacts factsOf(const json& pod) {
  PodFacts f;
  const auto md = objectAt(pod, "metadata");
  const auto spec = objectAt(pod, "spec");
  f.ns = md.value("namespace", "");
  f.name = md.value("name", "");
  f.uid = md.value("uid", "");
  f.restartPolicy = spec.value("restartPolicy", "Always");
  for (const auto& c : arrayAt(spec, "containers")) {
    if (c.is_object()) f.containers.emplace_back(c.value("name", ""), c.value("image", ""));
  }
  return f;
}

std::string fieldPath(const std::string& container) {
  return "spec.containers{" + container + "}";
}

// Makes sure status.containerStatuses has one entry per container, in spec order.
json& containerStatuses(json& pod, const PodFacts& f) {
  auto& status = pod["status"];
  if (!status.contains("containerStatuses") || !status["containerStatuses"].is_array() ||
      status["containerStatuses"].size() != f.containers.size()) {
    json list = json::array();
    for (const auto& [name, image] : f.containers) {
      list.push_back({{"name", name},
                      {"image", image},
                      {"imageID", ""},
                      {"ready", false},
                      {"started", false},
                      {"restartCount", 0},
                      {"lastState", json::object()},
                      {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}});
    }
    status["containerStatuses"] = list;
  }
  return status["containerStatuses"];
}

void setPhase(json& pod, const std::string& phase) {
  pod["status"]["phase"] = phase;
}

}  // namespace

double terminationGraceSeconds(const json& pod) {
  const auto md = objectAt(pod, "metadata");
  if (md.contains("deletionGracePeriodSeconds") && md["deletionGracePeriodSeconds"].is_number()) {
    return md["deletionGracePeriodSeconds"].get<double>();
  }
  const auto spec = objectAt(pod, "spec");
  if (spec.contains("terminationGracePeriodSeconds") &&
      spec["terminationGracePeriodSeconds"].is_number()) {
    return spec["terminationGracePeriodSeconds"].get<double>();
  }
  return 30;
}

std::vector<PodStep> planPodLife(const json& pod, const ScenarioParse& parsed) {
  const PodFacts f = factsOf(pod);
  const Scenario sc = parsed.scenario.value_or(Scenario{});
  std::vector<PodStep> steps;
  auto kubelet = [](EventSpec e) { return PodEvent{"kubelet", std::move(e)}; };

  if (sc.unschedulable && parsed.scenario) {
    const std::string msg =
        "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. "
        "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
    PodStep s;
    s.at = 0;
    s.apply = [msg](json& p, const std::string& now) {
      setPhase(p, "Pending");
      setCondition(p["status"], "PodScheduled", "False", now, "Unschedulable", msg);
    };
    s.events.push_back({"default-scheduler", {"Warning", "FailedScheduling", msg, ""}});
    steps.push_back(std::move(s));
    return steps;
  }

  // Scheduling: bound to the node, sandbox being created.
  {
    PodStep s;
    s.at = 0;
    s.apply = [f](json& p, const std::string& now) {
      p["spec"]["nodeName"] = kNodeName;
      auto& st = p["status"];
      setPhase(p, "Pending");
      st["hostIP"] = "10.0.0.10";
      st["hostIPs"] = json::array({{{"ip", "10.0.0.10"}}});
      st["startTime"] = now;
      st["qosClass"] = st.value("qosClass", "BestEffort");
      setCondition(st, "PodReadyToStartContainers", "False", now);
      setCondition(st, "Initialized", "True", now);
      setCondition(st, "Ready", "False", now, "ContainersNotReady",
                   "containers with unready status: [" + f.containers.front().first + "]");
      setCondition(st, "ContainersReady", "False", now, "ContainersNotReady",
                   "containers with unready status: [" + f.containers.front().first + "]");
      setCondition(st, "PodScheduled", "True", now);
      containerStatuses(p, f);
    };
    s.events.push_back({"default-scheduler",
                        {"Normal", "Scheduled",
                         "Successfully assigned " + f.ns + "/" + f.name + " to " + kNodeName, ""}});
    steps.push_back(std::move(s));
  }
  if (f.containers.empty()) return steps;

  double t = kPullStart;
  // Pulling (and for image-pull-fail, the endless pull/back-off cycle).
  {
    PodStep s;
    s.at = t;
    s.apply = [f](json& p, const std::string& now) {
      p["status"]["podIP"] = podIP(f.uid);
      p["status"]["podIPs"] = json::array({{{"ip", podIP(f.uid)}}});
      setCondition(p["status"], "PodReadyToStartContainers", "True", now);
    };
    for (const auto& [name, image] : f.containers) {
      s.events.push_back(
          kubelet({"Normal", "Pulling", "Pulling image \"" + image + "\"", fieldPath(name)}));
    }
    steps.push_back(std::move(s));
  }
  if (parsed.scenario && sc.imagePullFail) {
    double backoff = 10;
    for (int attempt = 0; t < kPlanHorizon; ++attempt) {
      if (attempt > 0) {
        PodStep pull;
        pull.at = t;
        pull.apply = [](json&, const std::string&) {};
        for (const auto& [name, image] : f.containers) {
          pull.events.push_back(
              kubelet({"Normal", "Pulling", "Pulling image \"" + image + "\"", fieldPath(name)}));
        }
        steps.push_back(std::move(pull));
      }
      t += sc.pullSeconds;
      PodStep err;
      err.at = t;
      err.apply = [f](json& p, const std::string&) {
        auto& cs = containerStatuses(p, f);
        for (std::size_t i = 0; i < cs.size(); ++i) {
          const std::string& image = f.containers[i].second;
          cs[i]["state"] = {
              {"waiting",
               {{"reason", "ErrImagePull"},
                {"message", "failed to pull and unpack image \"docker.io/" + image +
                                "\": failed to resolve reference \"docker.io/" + image +
                                "\": pull access denied, repository does not exist "
                                "or may require authorization: server message: "
                                "insufficient_scope: authorization failed"}}}};
        }
      };
      for (const auto& [name, image] : f.containers) {
        err.events.push_back(
            kubelet({"Warning", "Failed",
                     "Failed to pull image \"" + image +
                         "\": failed to pull and unpack image \"docker.io/" + image +
                         "\": failed to resolve reference \"docker.io/" + image +
                         "\": pull access denied, repository does not exist or may require "
                         "authorization: server message: insufficient_scope: authorization failed",
                     fieldPath(name)}));
      }
      steps.push_back(std::move(err));
      // A real kubelet says "Error: ErrImagePull" and then ImagePullBackOff seconds later.
      PodStep errSaid;
      errSaid.at = t + sc.pullEventsSpread / 2;
      errSaid.apply = [](json&, const std::string&) {};
      for (const auto& [name, image] : f.containers) {
        errSaid.events.push_back(
            kubelet({"Warning", "Failed", "Error: ErrImagePull", fieldPath(name)}));
      }
      steps.push_back(std::move(errSaid));
      t += sc.pullEventsSpread;
      PodStep back;
      back.at = t;
      back.apply = [f](json& p, const std::string&) {
        auto& cs = containerStatuses(p, f);
        for (std::size_t i = 0; i < cs.size(); ++i) {
          cs[i]["state"] = {
              {"waiting",
               {{"reason", "ImagePullBackOff"},
                {"message", "Back-off pulling image \"" + f.containers[i].second + "\""}}}};
        }
      };
      for (const auto& [name, image] : f.containers) {
        back.events.push_back(kubelet(
            {"Normal", "BackOff", "Back-off pulling image \"" + image + "\"", fieldPath(name)}));
        back.events.push_back(
            kubelet({"Warning", "Failed", "Error: ImagePullBackOff", fieldPath(name)}));
      }
      steps.push_back(std::move(back));
      t += backoff;
      backoff = std::min(backoff * 2, kMaxBackoff);
    }
    return steps;
  }
  t += sc.pullSeconds;

  if (!parsed.scenario) {
    // The scenario cannot be run: the container is never created, as with a bad config.
    PodStep s;
    s.at = t;
    const std::string error = parsed.error;
    s.apply = [f, error](json& p, const std::string&) {
      auto& cs = containerStatuses(p, f);
      for (auto& c : cs) {
        c["state"] = {{"waiting", {{"reason", "CreateContainerConfigError"}, {"message", error}}}};
      }
    };
    for (const auto& [name, image] : f.containers) {
      s.events.push_back(kubelet({"Warning", "Failed", "Error: " + error, fieldPath(name)}));
    }
    steps.push_back(std::move(s));
    return steps;
  }

  const bool restarts =
      f.restartPolicy == "Always" || (f.restartPolicy == "OnFailure" && sc.exitCode != 0);
  const std::string logText = [&] {
    std::string out;
    for (const auto& l : sc.logs) out += l + "\n";
    return out;
  }();
  double backoff = 10;
  double firstStart = t;
  for (int run = 0; t < kPlanHorizon; ++run) {
    // Created + Started.
    PodStep start;
    start.at = t;
    start.createsContainers = true;
    start.apply = [f, run, logText](json& p, const std::string& now) {
      auto& cs = containerStatuses(p, f);
      for (std::size_t i = 0; i < cs.size(); ++i) {
        cs[i]["imageID"] =
            "docker.io/" + f.containers[i].second + "@sha256:" + hex64(f.containers[i].second);
        cs[i]["containerID"] =
            "containerd://" + hex64(f.uid + f.containers[i].first + std::to_string(run));
        cs[i]["state"] = {{"running", {{"startedAt", now}}}};
        cs[i]["ready"] = true;
        cs[i]["started"] = true;
        cs[i]["restartCount"] = run;
      }
      setPhase(p, "Running");
      auto& st = p["status"];
      setCondition(st, "Ready", "True", now);
      setCondition(st, "ContainersReady", "True", now);
      if (!logText.empty()) p["metadata"]["annotations"][kLogAnnotation] = logText;
    };
    for (const auto& [name, image] : f.containers) {
      if (run == 0) {
        start.events.push_back(
            kubelet({"Normal", "Pulled",
                     "Successfully pulled image \"" + image + "\" in " +
                         std::to_string(static_cast<int>(sc.pullSeconds * 1000)) + "ms (" +
                         std::to_string(static_cast<int>(sc.pullSeconds * 1000)) +
                         "ms including waiting). Image size: 74213428 bytes.",
                     fieldPath(name)}));
      } else {
        start.events.push_back(kubelet(
            {"Normal", "Pulled", "Container image \"" + image + "\" already present on machine",
             fieldPath(name)}));
      }
      start.events.push_back(
          kubelet({"Normal", "Created", "Created container: " + name, fieldPath(name)}));
      start.events.push_back(
          kubelet({"Normal", "Started", "Started container " + name, fieldPath(name)}));
    }
    steps.push_back(std::move(start));
    t += sc.runSeconds;

    // The container exits.
    PodStep exit;
    exit.at = t;
    const int code = sc.exitCode;
    const std::string reason = sc.oomKilled ? "OOMKilled" : code == 0 ? "Completed" : "Error";
    const bool terminal = !restarts;
    exit.terminal = terminal;
    exit.apply = [f, code, reason, terminal](json& p, const std::string& now) {
      auto& cs = containerStatuses(p, f);
      for (auto& c : cs) {
        std::string startedAt =
            c["state"].contains("running") ? c["state"]["running"].value("startedAt", now) : now;
        c["state"] = {{"terminated",
                       {{"exitCode", code},
                        {"reason", reason},
                        {"startedAt", startedAt},
                        {"finishedAt", now},
                        {"containerID", c.value("containerID", "")}}}};
        c["ready"] = false;
        c["started"] = false;
      }
      auto& st = p["status"];
      if (terminal) {
        setPhase(p, code == 0 ? "Succeeded" : "Failed");
        setCondition(st, "PodReadyToStartContainers", "False", now);
        setCondition(st, "Ready", "False", now, "PodCompleted");
        setCondition(st, "ContainersReady", "False", now, "PodCompleted");
      } else {
        std::string names;
        for (const auto& [n, i] : f.containers) names += (names.empty() ? "" : " ") + n;
        setCondition(st, "Ready", "False", now, "ContainersNotReady",
                     "containers with unready status: [" + names + "]");
        setCondition(st, "ContainersReady", "False", now, "ContainersNotReady",
                     "containers with unready status: [" + names + "]");
      }
    };
    steps.push_back(std::move(exit));
    if (terminal) break;

    // CrashLoopBackOff until the next start.
    PodStep wait;
    wait.at = t + 0.05;
    const double b = backoff;
    wait.apply = [f, b](json& p, const std::string&) {
      auto& cs = containerStatuses(p, f);
      for (std::size_t i = 0; i < cs.size(); ++i) {
        cs[i]["lastState"] = {{"terminated", objectAt(cs[i]["state"], "terminated")}};
        cs[i]["state"] = {
            {"waiting",
             {{"reason", "CrashLoopBackOff"},
              {"message", "back-off " + std::to_string(static_cast<int>(b)) +
                              "s restarting failed container=" + f.containers[i].first +
                              " pod=" + f.name + "_" + f.ns + "(" + f.uid + ")"}}}};
      }
    };
    for (const auto& [name, image] : f.containers) {
      wait.events.push_back(kubelet({"Warning", "BackOff",
                                     "Back-off restarting failed container " + name + " in pod " +
                                         f.name + "_" + f.ns + "(" + f.uid + ")",
                                     fieldPath(name)}));
    }
    steps.push_back(std::move(wait));
    t += backoff;
    backoff = std::min(backoff * 2, kMaxBackoff);
  }

  if (sc.evictAfter) {
    const double evictAt = firstStart + *sc.evictAfter;
    auto terminalBefore = std::find_if(steps.begin(), steps.end(), [&](const PodStep& s) {
      return s.terminal && s.at <= evictAt;
    });
    if (terminalBefore == steps.end()) {
      steps.erase(std::remove_if(steps.begin(), steps.end(),
                                 [&](const PodStep& s) { return s.at >= evictAt; }),
                  steps.end());
      PodStep ev;
      ev.at = evictAt;
      ev.terminal = true;
      ev.apply = [f, unknownStatus = sc.evictUnknownStatus](json& p, const std::string& now) {
        auto& cs = containerStatuses(p, f);
        for (auto& c : cs) {
          if (unknownStatus) {
            // Current kubelets: the container could not be found once the pod was killed.
            c["state"] = {
                {"terminated",
                 {{"exitCode", 137},
                  {"reason", "ContainerStatusUnknown"},
                  {"message", "The container could not be located when the pod was terminated"},
                  {"startedAt", nullptr},
                  {"finishedAt", nullptr}}}};
          } else {
            // Older kubelets clear the container state: no exit code.
            c["state"] = json::object();
          }
          c["ready"] = false;
          c["started"] = false;
        }
        auto& st = p["status"];
        setPhase(p, "Failed");
        st["reason"] = "Evicted";
        st["message"] = kEvictionMessage;
        setCondition(st, "PodReadyToStartContainers", "False", now);
        setCondition(st, "Ready", "False", now, "PodFailed");
        setCondition(st, "ContainersReady", "False", now, "PodFailed");
        setCondition(st, "DisruptionTarget", "True", now, "TerminationByKubelet", kEvictionMessage);
      };
      ev.events.push_back(kubelet({"Warning", "Evicted", kEvictionMessage, ""}));
      for (const auto& [name, image] : f.containers) {
        ev.events.push_back(
            kubelet({"Normal", "Killing", "Stopping container " + name, fieldPath(name)}));
      }
      steps.push_back(std::move(ev));
    }
  }
  return steps;
}

std::vector<PodStep> planPodTermination(const json& pod, const Scenario& sc) {
  const PodFacts f = factsOf(pod);
  std::vector<PodStep> steps;
  const auto status = objectAt(pod, "status");
  const std::string phase = status.value("phase", "Pending");
  std::vector<std::string> running;
  for (const auto& c : arrayAt(status, "containerStatuses")) {
    if (c.contains("state") && c["state"].contains("running"))
      running.push_back(c.value("name", ""));
  }
  if (phase == "Succeeded" || phase == "Failed" || running.empty()) {
    PodStep s;
    s.at = 0;
    s.apply = [](json&, const std::string&) {};
    s.deletePod = true;
    steps.push_back(std::move(s));
    return steps;
  }
  const double grace = terminationGraceSeconds(pod);
  const bool killed = sc.ignoreSigtermSeconds > 0 && sc.ignoreSigtermSeconds >= grace;
  const double exitAt = sc.ignoreSigtermSeconds > 0 ? std::min(sc.ignoreSigtermSeconds, grace)
                                                    : std::min(0.05, grace);
  const int code = killed ? 137 : 143;
  PodStep kill;
  kill.at = 0;
  kill.apply = [](json&, const std::string&) {};
  for (const auto& name : running) {
    kill.events.push_back(
        {"kubelet", {"Normal", "Killing", "Stopping container " + name, fieldPath(name)}});
  }
  steps.push_back(std::move(kill));
  PodStep exit;
  exit.at = exitAt;
  exit.terminal = true;
  exit.apply = [code](json& p, const std::string& now) {
    auto& st = p["status"];
    for (auto& c : st["containerStatuses"]) {
      if (!c.contains("state") || !c["state"].contains("running")) continue;
      std::string startedAt = c["state"]["running"].value("startedAt", now);
      c["state"] = {{"terminated",
                     {{"exitCode", code},
                      {"reason", "Error"},
                      {"startedAt", startedAt},
                      {"finishedAt", now},
                      {"containerID", c.value("containerID", "")}}}};
      c["ready"] = false;
      c["started"] = false;
    }
    setPhase(p, "Failed");
    setCondition(st, "PodReadyToStartContainers", "False", now);
    setCondition(st, "Ready", "False", now, "PodFailed");
    setCondition(st, "ContainersReady", "False", now, "PodFailed");
  };
  steps.push_back(std::move(exit));
  PodStep del;
  del.at = exitAt + 0.02;
  del.apply = [](json&, const std::string&) {};
  del.deletePod = true;
  steps.push_back(std::move(del));
  return steps;
}

Kubelet::Kubelet(ObjectStore& store, TaskRunner& runner, const Clock& clock, EventRecorder& events)
    : store_(store), runner_(runner), clock_(clock), events_(events) {}

void Kubelet::scheduleReconcile(const std::string& ns, const std::string& name,
                                std::chrono::steady_clock::time_point at) {
  runner_.schedule("kubelet/" + ns + "/" + name, at, [this, ns, name] { reconcile(ns, name); });
}

void Kubelet::onEvent(const StoreEvent& event) {
  const auto md = objectAt(event.object, "metadata");
  if (event.resource == "configmaps" || event.resource == "secrets") {
    // Pods held by a missing reference in this namespace try again now (pods_ belongs to the
    // runner thread, so the look happens there).
    const std::string ns = md.value("namespace", "");
    runner_.schedule("kubelet-config/" + ns, std::chrono::steady_clock::now(), [this, ns] {
      for (const auto& [key, t] : pods_) {
        if (t.configError.empty() || key.rfind(ns + "/", 0) != 0) continue;
        scheduleReconcile(ns, key.substr(ns.size() + 1), std::chrono::steady_clock::now());
      }
    });
    return;
  }
  if (event.resource != "pods") return;
  scheduleReconcile(md.value("namespace", ""), md.value("name", ""),
                    std::chrono::steady_clock::now());
}

void Kubelet::resync() {
  for (const auto& pod : store_.list("pods", "")) {
    const auto md = objectAt(pod, "metadata");
    scheduleReconcile(md.value("namespace", ""), md.value("name", ""),
                      std::chrono::steady_clock::now());
  }
}

void Kubelet::reconcile(const std::string& ns, const std::string& name) {
  const std::string key = ns + "/" + name;
  json pod;
  try {
    pod = store_.get("pods", ns, name);
  } catch (const ApiException& e) {
    if (e.code == 404) {
      pods_.erase(key);
      return;
    }
    throw;
  }
  const auto md = objectAt(pod, "metadata");
  const std::string uid = md.value("uid", "");
  auto it = pods_.find(key);
  if (it != pods_.end() && it->second.uid != uid) {
    pods_.erase(it);
    it = pods_.end();
  }
  const auto now = std::chrono::steady_clock::now();
  if (it == pods_.end()) {
    const std::string phase = objectAt(pod, "status").value("phase", "");
    Tracked t;
    t.uid = uid;
    auto parsed = scenarioForPod(pod);
    t.scenario = parsed.scenario.value_or(Scenario{});
    t.started = now;
    // A pod already finished is left alone. A pod found running (kubesim restarted with
    // --data-dir) keeps running: its plan resumes at the first container start, so the
    // container runs its whole run time again from now and then exits as its scenario says.
    if (phase == "Running") {
      t.steps = planPodLife(pod, parsed);
      std::size_t firstStart = t.steps.size();
      for (std::size_t i = 0; i < t.steps.size(); ++i) {
        bool starts = false;
        for (const auto& e : t.steps[i].events) starts = starts || e.event.reason == "Started";
        if (starts) {
          firstStart = i;
          break;
        }
      }
      if (firstStart < t.steps.size()) {
        t.next = firstStart + 1;
        t.started = now - clock_.scaled(t.steps[firstStart].at);
      } else {
        t.steps.clear();
      }
    } else if (phase.empty() || phase == "Pending") {
      t.steps = planPodLife(pod, parsed);
    }
    it = pods_.emplace(key, std::move(t)).first;
  }
  Tracked& t = it->second;
  if (md.contains("deletionTimestamp") && !md["deletionTimestamp"].is_null() && !t.terminating) {
    t.terminating = true;
    t.configError.clear();
    t.steps = planPodTermination(pod, t.scenario);
    t.next = 0;
    t.started = now;
  }
  if (t.next >= t.steps.size()) return;

  const std::string nowText = Clock::nowRfc3339();
  json updated = pod;
  if (!updated.contains("status") || !updated["status"].is_object())
    updated["status"] = json::object();
  std::vector<const PodStep*> applied;
  std::vector<PodEvent> configEvents;      // recorded before the applied steps' Events
  const PodStep* pulledAlready = nullptr;  // its Pulled Events are in configEvents
  bool remove = false, blocked = false, started = false;
  std::size_t n = t.next;
  while (n < t.steps.size() && t.started + clock_.scaled(t.steps[n].at) <= now) {
    if (t.steps[n].createsContainers && !t.terminating) {
      const bool wasHeld = !t.configError.empty();
      std::vector<PodEvent> failed;
      const bool resolved = resolveEnvironment(t, updated, failed);
      if (!resolved || wasHeld) {
        // As a kubelet: each attempt to create the containers says Pulled first (the real
        // pull the first time, "already present" after that), then Failed while it fails.
        for (const auto& e : t.steps[n].events) {
          if (e.event.reason != "Pulled") continue;
          PodEvent pulled = e;
          if (t.pulledOnce) pulled.event.message = alreadyPresentMessage(updated, e.event);
          configEvents.push_back(pulled);
        }
        t.pulledOnce = true;
        pulledAlready = &t.steps[n];
      }
      if (!resolved) {
        configEvents.insert(configEvents.end(), failed.begin(), failed.end());
        blocked = true;
        break;
      }
      // Held back until now: the rest of the plan runs from here.
      if (wasHeld) t.started = now - clock_.scaled(t.steps[n].at);
      started = true;
    }
    t.steps[n].apply(updated, nowText);
    applied.push_back(&t.steps[n]);
    if (t.steps[n].deletePod) remove = true;
    ++n;
  }
  if (started && !t.env.empty()) {
    // The scenario's log lines see the container's environment: log "uid $(CLUSTER_UID)".
    auto& annotations = updated["metadata"]["annotations"];
    if (annotations.is_object() && annotations.contains(kLogAnnotation) &&
        annotations[kLogAnnotation].is_string()) {
      annotations[kLogAnnotation] =
          expandEnvReferences(annotations[kLogAnnotation].get<std::string>(), t.env);
    }
  }
  if (!applied.empty() || blocked) {
    // The binding and the log annotation live outside status: one update, then the status.
    json before = pod, after = updated;
    before.erase("status");
    after.erase("status");
    if (before != after) {
      json written = store_.update("pods", after);
      updated["metadata"] = written["metadata"];
    }
    if (objectAt(pod, "status") != updated["status"]) {
      json written = store_.updateStatus("pods", updated);
      updated["metadata"] = written["metadata"];
    }
    t.next = n;
    flowEngine_.observe(updated, t.env);
    for (const auto& e : configEvents) {
      events_.record(updated, "pods", e.component, e.event, kNodeName);
    }
    for (const PodStep* s : applied) {
      for (const auto& e : s->events) {
        if (s == pulledAlready && e.event.reason == "Pulled") continue;
        events_.record(updated, "pods", e.component, e.event,
                       e.component == "kubelet" ? kNodeName : "");
      }
    }
    if (remove) {
      DeleteOptions opts;
      opts.gracePeriodSeconds = 0;
      opts.preconditionUid = uid;
      try {
        store_.remove("pods", ns, name, opts);
      } catch (const ApiException& e) {
        if (e.code != 404 && e.code != 409) throw;
      }
      return;
    }
  }
  if (blocked) {
    scheduleReconcile(ns, name, now + clock_.scaled(kConfigRetrySeconds));
  } else if (t.next < t.steps.size()) {
    scheduleReconcile(ns, name, t.started + clock_.scaled(t.steps[t.next].at));
  }
}

bool Kubelet::resolveEnvironment(Tracked& t, json& pod, std::vector<PodEvent>& events) {
  const std::string ns = objectAt(pod, "metadata").value("namespace", "");
  ObjectLookup lookup = [&](const std::string& resource,
                            const std::string& name) -> std::optional<json> {
    try {
      return store_.get(resource, ns, name);
    } catch (const ApiException& e) {
      if (e.code == 404) return std::nullopt;
      throw;
    }
  };
  std::string error;
  std::map<std::string, std::string> firstEnv;
  bool first = true;
  for (const auto& c : arrayAt(objectAt(pod, "spec"), "containers")) {
    auto env = resolveContainerEnv(pod, c.value("name", ""), lookup);
    if (!env.error.empty()) {
      error = env.error;
      break;
    }
    if (first) firstEnv = env.asMap();
    first = false;
  }
  if (error.empty()) {
    t.env = std::move(firstEnv);
    t.configError.clear();
    return true;
  }
  t.configError = error;
  // As the kubelet: the containers wait with CreateContainerConfigError and every attempt
  // records a Failed event (aggregated into one Event with a count).
  for (auto& c : pod["status"]["containerStatuses"]) {
    if (!c.is_object()) continue;
    c["state"] = {{"waiting", {{"reason", "CreateContainerConfigError"}, {"message", error}}}};
    c["ready"] = false;
    c["started"] = false;
  }
  for (const auto& c : arrayAt(objectAt(pod, "spec"), "containers")) {
    const std::string cname = c.value("name", "");
    events.push_back(
        {"kubelet", {"Warning", "Failed", "Error: " + error, "spec.containers{" + cname + "}"}});
  }
  return false;
}

}  // namespace kubesim
