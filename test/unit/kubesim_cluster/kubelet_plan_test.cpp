#include <catch2/catch.hpp>

#include "test/kubesim/kubelet.h"

using namespace kubesim;

namespace {

json makePod(const std::string& scenario, const std::string& restartPolicy = "Never",
             const std::string& image = "busybox") {
  json pod = {
      {"metadata", {{"name", "job-abcde"}, {"namespace", "ns"}, {"uid", "u-1"}}},
      {"spec",
       {{"restartPolicy", restartPolicy}, {"containers", {{{"name", "main"}, {"image", image}}}}}},
      {"status", {{"phase", "Pending"}}}};
  if (!scenario.empty()) pod["metadata"]["annotations"] = {{kScenarioAnnotation, scenario}};
  return pod;
}

struct Played {
  json pod;
  std::vector<PodEvent> events;
  bool deleted = false;
  bool terminal = false;
};

// Applies every step due by `until` scenario seconds.
Played play(json pod, const std::vector<PodStep>& steps, double until = 1e9) {
  Played out;
  for (const auto& s : steps) {
    if (s.at > until) break;
    s.apply(pod, "2026-01-01T00:00:00Z");
    out.events.insert(out.events.end(), s.events.begin(), s.events.end());
    out.deleted = out.deleted || s.deletePod;
    out.terminal = out.terminal || s.terminal;
  }
  out.pod = pod;
  return out;
}

std::vector<std::string> reasons(const Played& p) {
  std::vector<std::string> r;
  for (const auto& e : p.events) r.push_back(e.event.reason);
  return r;
}

const json* condition(const json& pod, const std::string& type) {
  for (const auto& c : pod["status"]["conditions"]) {
    if (c["type"] == type) return &c;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("kubelet plan: default pod is scheduled, pulled, started and completes") {
  json pod = makePod("run 2s; exit 0; log \"hello\"");
  auto steps = planPodLife(pod, scenarioForPod(pod));
  auto running = play(pod, steps, 1.0);
  CHECK(running.pod["spec"]["nodeName"] == kNodeName);
  CHECK(running.pod["status"]["phase"] == "Running");
  const auto& cs = running.pod["status"]["containerStatuses"][0];
  CHECK(cs["state"].contains("running"));
  CHECK(cs["ready"] == true);
  CHECK((*condition(running.pod, "Ready"))["status"] == "True");
  CHECK(running.pod["metadata"]["annotations"][kLogAnnotation] == "hello\n");

  auto done = play(pod, steps);
  CHECK(done.terminal);
  CHECK(done.pod["status"]["phase"] == "Succeeded");
  const auto& term = done.pod["status"]["containerStatuses"][0]["state"]["terminated"];
  CHECK(term["exitCode"] == 0);
  CHECK(term["reason"] == "Completed");
  CHECK((*condition(done.pod, "Ready"))["reason"] == "PodCompleted");
  CHECK(reasons(done) ==
        std::vector<std::string>{"Scheduled", "Pulling", "Pulled", "Created", "Started"});
  CHECK(done.events[0].component == "default-scheduler");
  CHECK(done.events[0].event.message == "Successfully assigned ns/job-abcde to kubesim-node");
  CHECK(done.events[3].event.fieldPath == "spec.containers{main}");
}

TEST_CASE("kubelet plan: non-zero exit and OOM end Failed with the exit code and reason") {
  json pod = makePod("run 1s; exit 3");
  auto failed = play(pod, planPodLife(pod, scenarioForPod(pod)));
  CHECK(failed.pod["status"]["phase"] == "Failed");
  CHECK(failed.pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3);
  CHECK(failed.pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error");

  json oomPod = makePod("", "Never", "kubesim/oom");
  auto oom = play(oomPod, planPodLife(oomPod, scenarioForPod(oomPod)));
  CHECK(oom.pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled");
  CHECK(oom.pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137);
}

TEST_CASE("kubelet plan: unschedulable pods never run") {
  json pod = makePod("unschedulable");
  auto p = play(pod, planPodLife(pod, scenarioForPod(pod)));
  CHECK(p.pod["status"]["phase"] == "Pending");
  CHECK_FALSE(p.pod["spec"].contains("nodeName"));
  const json* c = condition(p.pod, "PodScheduled");
  REQUIRE(c);
  CHECK((*c)["status"] == "False");
  CHECK((*c)["reason"] == "Unschedulable");
  REQUIRE(p.events.size() == 1);
  CHECK(p.events[0].event.reason == "FailedScheduling");
  CHECK(p.events[0].event.type == "Warning");
  CHECK(p.events[0].component == "default-scheduler");
  CHECK(p.events[0].event.message.rfind("0/1 nodes are available", 0) == 0);
}

TEST_CASE("kubelet plan: image pull failure goes ErrImagePull then ImagePullBackOff") {
  json pod = makePod("image-pull-fail", "Never", "example.com/nope:1");
  auto steps = planPodLife(pod, scenarioForPod(pod));
  auto first = play(pod, steps, 0.3);
  CHECK(first.pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] ==
        "ErrImagePull");
  auto later = play(pod, steps, 1.0);
  CHECK(later.pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] ==
        "ImagePullBackOff");
  CHECK(later.pod["status"]["phase"] == "Pending");
  auto r = reasons(later);
  CHECK(std::count(r.begin(), r.end(), "Failed") == 3);
  CHECK(std::count(r.begin(), r.end(), "BackOff") == 1);
  CHECK_FALSE(later.terminal);
}

TEST_CASE("kubelet plan: crash loop restarts only with restartPolicy Always or OnFailure") {
  json never = makePod("crash-loop", "Never");
  auto n = play(never, planPodLife(never, scenarioForPod(never)));
  CHECK(n.pod["status"]["phase"] == "Failed");

  json always = makePod("crash-loop", "OnFailure");
  auto steps = planPodLife(always, scenarioForPod(always));
  auto a = play(always, steps, 12);
  CHECK(a.pod["status"]["phase"] == "Running");
  const auto& cs = a.pod["status"]["containerStatuses"][0];
  CHECK(cs["restartCount"] == 1);
  CHECK(cs["lastState"]["terminated"]["exitCode"] == 1);
  auto b = play(always, steps, 11.0);  // after the second exit, in back-off
  (void)b;
  auto c = play(always, steps, 31.0);
  CHECK(c.pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] ==
        "CrashLoopBackOff");
  auto r = reasons(c);
  CHECK(std::count(r.begin(), r.end(), "BackOff") == 2);
}

TEST_CASE("kubelet plan: eviction fails the pod with reason Evicted and no exit code") {
  json pod = makePod("run 10s; evict after 1s");
  auto p = play(pod, planPodLife(pod, scenarioForPod(pod)));
  CHECK(p.pod["status"]["phase"] == "Failed");
  CHECK(p.pod["status"]["reason"] == "Evicted");
  CHECK(p.pod["status"]["message"].get<std::string>().find("low on resource") != std::string::npos);
  CHECK_FALSE(p.pod["status"]["containerStatuses"][0]["state"].contains("terminated"));
  CHECK((*condition(p.pod, "DisruptionTarget"))["reason"] == "TerminationByKubelet");
  auto r = reasons(p);
  CHECK(std::find(r.begin(), r.end(), "Evicted") != r.end());
}

TEST_CASE("kubelet plan: graceful deletion sends SIGTERM, exit 143, then removes the pod") {
  json pod = makePod("run 60s");
  auto running = play(pod, planPodLife(pod, scenarioForPod(pod)), 5).pod;
  running["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:05Z";
  running["metadata"]["deletionGracePeriodSeconds"] = 30;
  auto t = play(running, planPodTermination(running, *scenarioForPod(running).scenario));
  CHECK(t.deleted);
  CHECK(t.pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 143);
  CHECK(t.pod["status"]["phase"] == "Failed");
  REQUIRE_FALSE(t.events.empty());
  CHECK(t.events[0].event.reason == "Killing");
  CHECK(t.events[0].event.message == "Stopping container main");
}

TEST_CASE("kubelet plan: a pod ignoring SIGTERM is killed with 137 at the end of the grace") {
  json pod = makePod("ignore-sigterm 5s; run 60s");
  auto running = play(pod, planPodLife(pod, scenarioForPod(pod)), 5).pod;
  running["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:05Z";
  running["metadata"]["deletionGracePeriodSeconds"] = 2;
  auto steps = planPodTermination(running, *scenarioForPod(running).scenario);
  auto before = play(running, steps, 1.5);
  CHECK(before.pod["status"]["containerStatuses"][0]["state"].contains("running"));
  CHECK_FALSE(before.deleted);
  auto after = play(running, steps);
  CHECK(after.pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137);
  CHECK(after.deleted);

  // With a longer grace period the container exits on its own (143) after 5s.
  running["metadata"]["deletionGracePeriodSeconds"] = 30;
  auto own = planPodTermination(running, *scenarioForPod(running).scenario);
  CHECK(own[1].at == Approx(5));
  CHECK(
      play(running, own).pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] ==
      143);
}

TEST_CASE("kubelet plan: pods not running are removed at once, bad scenarios never start") {
  json pod = makePod("run 1s");
  pod["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:05Z";
  auto steps = planPodTermination(pod, Scenario{});
  REQUIRE(steps.size() == 1);
  CHECK(steps[0].deletePod);

  json bad = makePod("run forever");
  auto p = play(bad, planPodLife(bad, scenarioForPod(bad)));
  CHECK(p.pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] ==
        "CreateContainerConfigError");
  CHECK(p.pod["status"]["phase"] == "Pending");
}
