#include <catch2/catch.hpp>

#include "test/kubesim/job_controller.h"

using namespace kubesim;

namespace {

json makeJob(json spec = json::object()) {
  json job = {{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata", {{"name", "etl"}, {"namespace", "data"}, {"uid", "job-uid"}}},
              {"spec",
               {{"template",
                 {{"metadata", {{"annotations", {{"kubesim.io/scenario", "run 1s"}}}}},
                  {"spec",
                   {{"restartPolicy", "Never"},
                    {"containers", {{{"name", "main"}, {"image", "busybox"}}}}}}}}}}};
  for (auto& [k, v] : spec.items()) job["spec"][k] = v;
  defaultJob(job);
  return job;
}

json makePod(const std::string& name, const std::string& phase, bool ready = false) {
  json pod = {{"metadata", {{"name", name}, {"namespace", "data"}, {"uid", name + "-uid"}}},
              {"status", {{"phase", phase}}}};
  if (ready) pod["status"]["conditions"] = {{{"type", "Ready"}, {"status", "True"}}};
  return pod;
}

JobTiming at(double now, std::optional<double> started = std::nullopt,
             std::optional<double> lastFailure = std::nullopt) {
  JobTiming t;
  t.now = now;
  t.startedAt = started;
  t.lastFailureAt = lastFailure;
  t.timeScale = 1.0;
  return t;
}

std::string fixedSuffix() {
  return "x7k2p";
}

const json* cond(const json& status, const std::string& type) {
  for (const auto& c : status["conditions"]) {
    if (c["type"] == type) return &c;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("job: defaulting sets the selector and the job labels once") {
  json job = {{"metadata", {{"name", "etl"}, {"uid", "u"}}},
              {"spec", {{"template", json::object()}}}};
  CHECK(defaultJob(job));
  CHECK(job["spec"]["selector"]["matchLabels"]["batch.kubernetes.io/controller-uid"] == "u");
  CHECK(job["spec"]["template"]["metadata"]["labels"]["job-name"] == "etl");
  CHECK(job["spec"]["backoffLimit"] == 6);
  CHECK_FALSE(defaultJob(job));
}

TEST_CASE("job: a new Job gets startTime and one pod with labels, owner and annotations") {
  auto d = decideJob(makeJob(), {}, at(1000), fixedSuffix);
  REQUIRE(d.createPods.size() == 1);
  const json& pod = d.createPods[0];
  CHECK(pod["metadata"]["name"] == "etl-x7k2p");
  for (const char* l : {"batch.kubernetes.io/job-name", "job-name"}) {
    CHECK(pod["metadata"]["labels"][l] == "etl");
  }
  for (const char* l : {"batch.kubernetes.io/controller-uid", "controller-uid"}) {
    CHECK(pod["metadata"]["labels"][l] == "job-uid");
  }
  const json& ref = pod["metadata"]["ownerReferences"][0];
  CHECK(ref["kind"] == "Job");
  CHECK(ref["uid"] == "job-uid");
  CHECK(ref["controller"] == true);
  CHECK(ref["blockOwnerDeletion"] == true);
  CHECK(pod["metadata"]["annotations"]["kubesim.io/scenario"] == "run 1s");
  CHECK(pod["spec"]["restartPolicy"] == "Never");
  REQUIRE(d.status);
  CHECK((*d.status)["active"] == 1);
  CHECK((*d.status)["startTime"] == Clock::rfc3339(1000));
  CHECK((*d.status)["uncountedTerminatedPods"] == json::object());
  CHECK(d.started);
  REQUIRE(d.events.size() == 1);
  CHECK(d.events[0].reason == "SuccessfulCreate");
  CHECK(d.events[0].message == "Created pod: etl-x7k2p");
}

TEST_CASE("job: running pods are counted, no second pod is created") {
  json job = makeJob();
  job["status"] = {{"startTime", Clock::rfc3339(1000)}, {"active", 1}};
  auto d = decideJob(job, {makePod("etl-a", "Running", true)}, at(1001, 1000));
  CHECK(d.createPods.empty());
  REQUIRE(d.status);
  CHECK((*d.status)["ready"] == 1);
}

TEST_CASE("job: success sets SuccessCriteriaMet then Complete with completionTime") {
  json job = makeJob();
  job["status"] = {{"startTime", Clock::rfc3339(1000)}, {"active", 1}};
  auto d = decideJob(job, {makePod("etl-a", "Succeeded")}, at(1002, 1000));
  REQUIRE(d.status);
  const json& s = *d.status;
  CHECK(s["succeeded"] == 1);
  CHECK_FALSE(s.contains("active"));
  CHECK((*cond(s, "SuccessCriteriaMet"))["reason"] == "CompletionsReached");
  CHECK((*cond(s, "Complete"))["status"] == "True");
  CHECK((*cond(s, "Complete"))["message"] == "Reached expected number of succeeded pods");
  CHECK(s["completionTime"] == Clock::rfc3339(1002));
  CHECK(s["conditions"][0]["type"] == "SuccessCriteriaMet");
  CHECK(d.finished);
  REQUIRE(d.events.size() == 1);
  CHECK(d.events[0].reason == "Completed");
  CHECK(d.events[0].message == "Job completed");
}

TEST_CASE("job: a failure within backoffLimit waits out the back-off, then retries") {
  json job = makeJob({{"backoffLimit", 2}});
  job["status"] = {{"startTime", Clock::rfc3339(1000)}};
  std::vector<json> pods = {makePod("etl-a", "Failed")};
  auto waiting = decideJob(job, pods, at(1002, 1000, 1001));
  CHECK(waiting.createPods.empty());
  REQUIRE(waiting.requeueAfter);
  CHECK(*waiting.requeueAfter == Approx(9));  // 10s after the first failure
  CHECK((*waiting.status)["failed"] == 1);
  auto retry = decideJob(job, pods, at(1011.5, 1000, 1001), fixedSuffix);
  CHECK(retry.createPods.size() == 1);

  // The second failure doubles the back-off.
  pods.push_back(makePod("etl-b", "Failed"));
  auto second = decideJob(job, pods, at(1030, 1000, 1025));
  CHECK(*second.requeueAfter == Approx(15));

  // Time scale shrinks the back-off.
  JobTiming scaled = at(1002, 1000, 1001);
  scaled.timeScale = 0.1;
  CHECK(decideJob(job, {makePod("etl-a", "Failed")}, scaled, fixedSuffix).createPods.size() == 1);
}

TEST_CASE("job: exceeding backoffLimit sets FailureTarget then Failed") {
  json job = makeJob({{"backoffLimit", 0}});
  job["status"] = {{"startTime", Clock::rfc3339(1000)}};
  auto d = decideJob(job, {makePod("etl-a", "Failed")}, at(1003, 1000, 1003));
  REQUIRE(d.status);
  const json& s = *d.status;
  CHECK(s["failed"] == 1);
  CHECK((*cond(s, "FailureTarget"))["reason"] == "BackoffLimitExceeded");
  CHECK((*cond(s, "Failed"))["reason"] == "BackoffLimitExceeded");
  CHECK((*cond(s, "Failed"))["message"] == "Job has reached the specified backoff limit");
  CHECK_FALSE(s.contains("completionTime"));
  REQUIRE(d.events.size() == 1);
  CHECK(d.events[0].type == "Warning");
  CHECK(d.events[0].reason == "BackoffLimitExceeded");
  CHECK(d.createPods.empty());
}

TEST_CASE("job: activeDeadlineSeconds deletes the pod, Failed waits until it is gone") {
  json job = makeJob({{"activeDeadlineSeconds", 5}});
  job["status"] = {{"startTime", Clock::rfc3339(1000)}, {"active", 1}};
  auto early = decideJob(job, {makePod("etl-a", "Running")}, at(1002, 1000));
  REQUIRE(early.requeueAfter);
  CHECK(*early.requeueAfter == Approx(3));

  auto d = decideJob(job, {makePod("etl-a", "Running")}, at(1005.5, 1000));
  REQUIRE(d.deletePods == std::vector<std::string>{"etl-a"});
  CHECK(d.events[0].reason == "SuccessfulDelete");
  CHECK(d.events[0].message == "Deleted pod: etl-a");
  const json& s = *d.status;
  CHECK((*cond(s, "FailureTarget"))["reason"] == "DeadlineExceeded");
  CHECK(cond(s, "Failed") == nullptr);
  CHECK(s["terminating"] == 1);

  json later = job;
  later["status"] = s;
  auto done = decideJob(later, {makePod("etl-a", "Failed")}, at(1006, 1000));
  const json* failed = cond(*done.status, "Failed");
  REQUIRE(failed);
  CHECK((*failed)["reason"] == "DeadlineExceeded");
  CHECK((*failed)["message"] == "Job was active longer than specified deadline");
  CHECK(done.events.back().reason == "DeadlineExceeded");
}

TEST_CASE("job: suspend deletes active pods and resume resets startTime") {
  json job = makeJob({{"suspend", true}});
  auto created = decideJob(job, {}, at(1000));
  CHECK(created.createPods.empty());
  CHECK((*cond(*created.status, "Suspended"))["reason"] == "JobSuspended");
  CHECK_FALSE(created.status->contains("startTime"));

  json running = makeJob();
  running["status"] = {{"startTime", Clock::rfc3339(1000)}, {"active", 1}};
  running["spec"]["suspend"] = true;
  auto s = decideJob(running, {makePod("etl-a", "Running")}, at(1001, 1000));
  CHECK(s.deletePods == std::vector<std::string>{"etl-a"});

  json resumed = running;
  resumed["spec"]["suspend"] = false;
  resumed["status"] = *s.status;
  auto r = decideJob(resumed, {}, at(1010, 1000), fixedSuffix);
  CHECK((*cond(*r.status, "Suspended"))["status"] == "False");
  CHECK((*cond(*r.status, "Suspended"))["reason"] == "JobResumed");
  CHECK((*r.status)["startTime"] == Clock::rfc3339(1010));
  CHECK(r.createPods.size() == 1);
}

TEST_CASE("job: ttlSecondsAfterFinished deletes the finished Job when due") {
  json job = makeJob({{"ttlSecondsAfterFinished", 10}});
  job["status"] = {{"completionTime", Clock::rfc3339(1000)},
                   {"conditions", {{{"type", "Complete"}, {"status", "True"}}}}};
  auto early = decideJob(job, {}, at(1004));
  CHECK_FALSE(early.deleteJob);
  CHECK(*early.requeueAfter == Approx(6));
  CHECK(decideJob(job, {}, at(1010)).deleteJob);
}
