// The pure lifecycle: what phase, reason, message and exit code a Job and its pods give.
#include <catch2/catch.hpp>

#include "controllers/flowrun/status.h"
#include "operator/kube/utf8.h"

using namespace controllers::flowrun;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

const TimePoint kT0 = *parseTime("2026-01-01T00:00:00Z");

json job(const std::string& name = "etl") {
  return {{"metadata",
           {{"name", name},
            {"namespace", "data"},
            {"uid", "job-uid"},
            {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
          {"spec", {{"backoffLimit", 0}}},
          {"status", json::object()}};
}

json withCondition(json j, const std::string& type, const std::string& reason,
                   const std::string& message = "") {
  j["status"]["conditions"].push_back({{"type", type},
                                       {"status", "True"},
                                       {"reason", reason},
                                       {"message", message},
                                       {"lastTransitionTime", "2026-01-01T00:01:00Z"}});
  return j;
}

std::shared_ptr<const json> pod(const std::string& name, const std::string& created,
                                const std::string& phase, json containerStatus) {
  json p = {{"metadata",
             {{"name", name},
              {"namespace", "data"},
              {"uid", name + "-uid"},
              {"creationTimestamp", created}}},
            {"spec", {{"containers", {{{"name", "prefect-job"}}}}}},
            {"status", {{"phase", phase}}}};
  if (!containerStatus.is_null()) {
    containerStatus["name"] = "prefect-job";
    p["status"]["containerStatuses"] = json::array({containerStatus});
  }
  return std::make_shared<const json>(p);
}

json running() {
  return {{"state", {{"running", {{"startedAt", "2026-01-01T00:00:05Z"}}}}}};
}
json terminated(int code, const std::string& reason = "Error") {
  return {{"state",
           {{"terminated",
             {{"exitCode", code},
              {"reason", reason},
              {"startedAt", "2026-01-01T00:00:05Z"},
              {"finishedAt", "2026-01-01T00:00:50Z"}}}}}};
}
json waiting(const std::string& reason, const std::string& message = "") {
  return {{"state", {{"waiting", {{"reason", reason}, {"message", message}}}}}};
}

}  // namespace

TEST_CASE("RFC 3339 times round-trip and tolerate fractions and offsets") {
  auto t = parseTime("2026-11-23T18:31:30Z");
  REQUIRE(t);
  CHECK(formatTime(*t) == "2026-11-23T18:31:30Z");
  CHECK(formatTime(*parseTime("2026-11-23T18:31:30.123456Z")) == "2026-11-23T18:31:30Z");
  CHECK(formatTime(*parseTime("2026-11-23T20:31:30+02:00")) == "2026-11-23T18:31:30Z");
  CHECK_FALSE(parseTime(""));
  CHECK_FALSE(parseTime("yesterday"));
  CHECK_FALSE(parseTime("2026-13-01T00:00:00Z"));
  CHECK_FALSE(parseTime("2026-11-23T18:31:30"));
}

TEST_CASE("status round-trips through JSON and ignores junk") {
  json in = {{"phase", "Running"},
             {"reason", "PodRunning"},
             {"exitCode", 3},
             {"jobName", "etl"},
             {"observedGeneration", 2},
             {"cancelRequestedAt", "2026-01-01T00:00:00Z"},
             {"conditions",
              {{{"type", "Succeeded"},
                {"status", "Unknown"},
                {"reason", "PodRunning"},
                {"lastTransitionTime", "2026-01-01T00:00:00Z"}}}}};
  FlowRunStatus s = FlowRunStatus::fromJson(in);
  CHECK(s.phase == Phase::Running);
  CHECK(s.exitCode == 3);
  CHECK(s.toJson() == in);
  FlowRunStatus junk = FlowRunStatus::fromJson({{"phase", "Exploded"}, {"exitCode", "x"}});
  CHECK_FALSE(junk.phase);
  CHECK_FALSE(junk.exitCode);
  CHECK(FlowRunStatus::fromJson(nullptr).toJson() == json::object());
}

TEST_CASE("the Succeeded condition moves its lastTransitionTime only when its status changes") {
  FlowRunStatus s;
  setPhase(s, Phase::Pending, "JobCreated", "created", 1, kT0);
  REQUIRE(s.condition("Succeeded"));
  CHECK(s.condition("Succeeded")->status == "Unknown");
  CHECK(s.condition("Succeeded")->lastTransitionTime == "2026-01-01T00:00:00Z");
  setPhase(s, Phase::Running, "PodRunning", "running", 1, kT0 + 10s);
  CHECK(s.condition("Succeeded")->lastTransitionTime == "2026-01-01T00:00:00Z");
  CHECK(s.condition("Succeeded")->reason == "PodRunning");
  CHECK(s.completionTime.empty());
  setPhase(s, Phase::Failed, "BackoffLimitExceeded", "failed", 1, kT0 + 20s);
  CHECK(s.condition("Succeeded")->status == "False");
  CHECK(s.condition("Succeeded")->lastTransitionTime == "2026-01-01T00:00:20Z");
  CHECK(s.completionTime == "2026-01-01T00:00:20Z");
  CHECK(isTerminal(Phase::Failed));
  CHECK_FALSE(isTerminal(Phase::Cancelling));
}

TEST_CASE("a Job without pods is Pending until the pod watch timeout, then overdue") {
  Observation o = observeJob(job(), {}, kT0 + 10s, 60s);
  CHECK(o.phase == Phase::Pending);
  CHECK(o.reason == "JobCreated");
  CHECK_FALSE(o.podStartOverdue);
  REQUIRE(o.recheckAfter);
  CHECK(*o.recheckAfter >= 50s);
  CHECK(*o.recheckAfter <= 51s);
  Observation late = observeJob(job(), {}, kT0 + 61s, 60s);
  CHECK(late.podStartOverdue);
}

TEST_CASE("a pending pod says why it waits") {
  auto p = pod("etl-a", "2026-01-01T00:00:01Z", "Pending", waiting("ContainerCreating"));
  Observation o = observeJob(job(), {p}, kT0 + 5s, 60s);
  CHECK(o.phase == Phase::Pending);
  CHECK(o.reason == "PodPending");
  CHECK(o.podName == "etl-a");
  CHECK_THAT(o.message, Catch::Contains("ContainerCreating"));
}

TEST_CASE("a started container is Running with its start time") {
  auto p = pod("etl-a", "2026-01-01T00:00:01Z", "Running", running());
  Observation o = observeJob(job(), {p}, kT0 + 500s, 60s);
  CHECK(o.phase == Phase::Running);
  CHECK(o.reason == "PodRunning");
  CHECK(o.startTime == "2026-01-01T00:00:05Z");
  CHECK_FALSE(o.podStartOverdue);  // the timeout is only about starting
}

TEST_CASE("a completed Job is Succeeded with exit code 0") {
  auto p = pod("etl-a", "2026-01-01T00:00:01Z", "Succeeded", terminated(0, "Completed"));
  json j = withCondition(job(), "Complete", "");
  j["status"]["completionTime"] = "2026-01-01T00:00:51Z";
  Observation o = observeJob(j, {p}, kT0 + 60s, 60s);
  CHECK(o.phase == Phase::Succeeded);
  CHECK(o.reason == "Completed");
  CHECK(o.exitCode == 0);
  CHECK(o.completionTime == "2026-01-01T00:00:51Z");
  CHECK(o.jobFinished);
}

TEST_CASE("a failed Job is Failed with the newest pod's exit code") {
  auto p = pod("etl-a", "2026-01-01T00:00:01Z", "Failed", terminated(3));
  json j = withCondition(job(), "Failed", "BackoffLimitExceeded",
                         "Job has reached the specified backoff limit");
  Observation o = observeJob(j, {p}, kT0 + 60s, 60s);
  CHECK(o.phase == Phase::Failed);
  CHECK(o.reason == "BackoffLimitExceeded");
  CHECK(o.exitCode == 3);
  CHECK_THAT(o.message, Catch::Contains("exited with code 3"));
}

TEST_CASE("backoffLimit: failed attempts while the Job is active keep the run going") {
  auto a = pod("etl-a", "2026-01-01T00:00:01Z", "Failed", terminated(3));
  auto b = pod("etl-b", "2026-01-01T00:00:20Z", "Pending", waiting("ContainerCreating"));
  json j = job();
  j["spec"]["backoffLimit"] = 2;
  j["status"]["failed"] = 1;
  Observation o = observeJob(j, {b, a}, kT0 + 120s, 60s);
  CHECK(o.phase == Phase::Running);
  CHECK(o.reason == "Retrying");
  CHECK(o.podName == "etl-b");
  CHECK_FALSE(o.podStartOverdue);

  auto c = pod("etl-c", "2026-01-01T00:00:40Z", "Failed", terminated(4));
  auto b2 = pod("etl-b", "2026-01-01T00:00:20Z", "Failed", terminated(3));
  json failed = withCondition(j, "Failed", "BackoffLimitExceeded");
  failed["status"]["failed"] = 3;
  Observation f = observeJob(failed, {a, c, b2}, kT0 + 120s, 60s);
  CHECK(f.phase == Phase::Failed);
  CHECK(f.podName == "etl-c");
  CHECK(f.exitCode == 4);
  CHECK_THAT(f.message, Catch::Contains("3 failed attempts"));
}

TEST_CASE("a finished Job waits briefly for its pod to be final in the cache") {
  auto p = pod("etl-a", "2026-01-01T00:00:01Z", "Running", running());
  json j = withCondition(job(), "Failed", "BackoffLimitExceeded");
  Observation o = observeJob(j, {p}, kT0 + 61s, 60s);
  CHECK(o.waitForPodCache);
  // Not forever: after 10 seconds the Job's verdict stands without the exit code.
  Observation later = observeJob(j, {p}, kT0 + 80s, 60s);
  CHECK_FALSE(later.waitForPodCache);
  CHECK(later.phase == Phase::Failed);
}

TEST_CASE("Job failures that are infrastructure problems are Crashed") {
  SECTION("deadline") {
    json j = withCondition(job(), "Failed", "DeadlineExceeded",
                           "Job was active longer than specified deadline");
    j["spec"]["activeDeadlineSeconds"] = 30;
    auto p = pod("etl-a", "2026-01-01T00:00:01Z", "Failed", terminated(143));
    Observation o = observeJob(j, {p}, kT0 + 60s, 60s);
    CHECK(o.phase == Phase::Crashed);
    CHECK(o.reason == "DeadlineExceeded");
    CHECK_THAT(o.message, Catch::Contains("30s") && Catch::Contains("jobWatchTimeoutSeconds"));
  }
  SECTION("evicted") {
    json p = *pod("etl-a", "2026-01-01T00:00:01Z", "Failed", nullptr);
    p["status"]["reason"] = "Evicted";
    p["status"]["message"] = "The node was low on resource: memory.";
    json j = withCondition(job(), "Failed", "BackoffLimitExceeded");
    Observation o = observeJob(j, {std::make_shared<const json>(p)}, kT0 + 60s, 60s);
    CHECK(o.phase == Phase::Crashed);
    CHECK(o.reason == "Evicted");
    CHECK_FALSE(o.exitCode);
    CHECK_THAT(o.message, Catch::Contains("low on resource"));
  }
  SECTION("evicted, as a current kubelet leaves it: ContainerStatusUnknown with 137") {
    json p =
        *pod("etl-a", "2026-01-01T00:00:01Z", "Failed", terminated(137, "ContainerStatusUnknown"));
    p["status"]["reason"] = "Evicted";
    p["status"]["message"] = "The node was low on resource: memory.";
    json j = withCondition(job(), "Failed", "BackoffLimitExceeded");
    Observation o = observeJob(j, {std::make_shared<const json>(p)}, kT0 + 60s, 60s);
    CHECK(o.phase == Phase::Crashed);
    CHECK(o.reason == "Evicted");
    CHECK_FALSE(o.exitCode);
    CHECK(o.message.find("137") == std::string::npos);
  }
  SECTION("OOMKilled") {
    auto p = pod("etl-a", "2026-01-01T00:00:01Z", "Failed", terminated(137, "OOMKilled"));
    json j = withCondition(job(), "Failed", "BackoffLimitExceeded");
    Observation o = observeJob(j, {p}, kT0 + 60s, 60s);
    CHECK(o.phase == Phase::Crashed);
    CHECK(o.reason == "OOMKilled");
    CHECK(o.exitCode == 137);
  }
  SECTION("crash loop while the Job is active") {
    json cs = waiting("CrashLoopBackOff", "back-off 40s restarting failed container");
    cs["restartCount"] = 4;
    cs["lastState"] = {{"terminated", {{"exitCode", 1}, {"startedAt", "2026-01-01T00:00:05Z"}}}};
    auto p = pod("etl-a", "2026-01-01T00:00:01Z", "Running", cs);
    Observation o = observeJob(job(), {p}, kT0 + 60s, 60s);
    CHECK(o.phase == Phase::Crashed);
    CHECK(o.reason == "CrashLoopBackOff");
    CHECK_THAT(o.message, Catch::Contains("4 restarts") && Catch::Contains("last exit code 1"));
  }
}

TEST_CASE("the newest pod is chosen by creation time, then name") {
  auto a = pod("etl-b", "2026-01-01T00:00:01Z", "Failed", nullptr);
  auto b = pod("etl-a", "2026-01-01T00:00:02Z", "Failed", nullptr);
  auto c = pod("etl-c", "2026-01-01T00:00:02Z", "Failed", nullptr);
  CHECK((*newestPod({a, b, c}))["metadata"]["name"] == "etl-c");
  CHECK((*newestPod({a, b}))["metadata"]["name"] == "etl-a");
  CHECK(newestPod({}) == nullptr);
}

TEST_CASE("status messages fit the API: cut to a bounded size, valid UTF-8") {
  // A 40 KB command quoted in an InvalidSpec message made the status write a 422 (the
  // conditions' message maxLength is 32768): the FlowRun stayed without status for ever.
  FlowRunStatus st;
  std::string longText = "command has an unbalanced quote: \"" + std::string(40000, 'x');
  setPhase(st, Phase::Failed, "InvalidSpec", longText, 1, kT0);
  CHECK(st.message.size() <= kMaxStatusMessageBytes);
  CHECK_THAT(st.message, Catch::StartsWith("command has an unbalanced quote: \"xxx"));
  CHECK_THAT(st.message, Catch::EndsWith(" ... (40034 bytes, cut)"));
  REQUIRE(st.condition(kConditionSucceeded) != nullptr);
  CHECK(st.condition(kConditionSucceeded)->message == st.message);
  CHECK_NOTHROW(st.toJson().dump());
  // A cut never splits a character, and bytes that are not UTF-8 become U+FFFD.
  std::string accents;
  for (int i = 0; i < 5000; ++i) accents += "\xc3\xa9";
  CHECK(kube::isValidUtf8(fitMessage(accents)));
  CHECK(fitMessage("bad \xdf byte") == "bad \xef\xbf\xbd byte");
  CHECK(fitMessage("short") == "short");
}
