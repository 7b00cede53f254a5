// Diagnosis of runs whose pod never started: the reason and the quoted evidence.
#include <catch2/catch.hpp>

#include "controllers/flowrun/diagnosis.h"

using namespace controllers::flowrun;
using json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

json job() {
  return {{"metadata", {{"name", "etl"}, {"namespace", "data"}, {"uid", "job-uid"}}}};
}

json pendingPod(json conditions = json::array(), json containerStatuses = nullptr) {
  json p = {{"metadata", {{"name", "etl-x7k2p"}, {"namespace", "data"}, {"uid", "pod-uid"}}},
            {"status", {{"phase", "Pending"}, {"conditions", conditions}}}};
  if (!containerStatuses.is_null()) p["status"]["containerStatuses"] = containerStatuses;
  return p;
}

json event(const std::string& type, const std::string& reason, const std::string& message,
           const std::string& when) {
  return {{"type", type},
          {"reason", reason},
          {"message", message},
          {"lastTimestamp", when},
          {"involvedObject", {{"kind", "Pod"}, {"name", "etl-x7k2p"}, {"uid", "pod-uid"}}}};
}

}  // namespace

TEST_CASE("FailedScheduling gives Unschedulable and quotes the scheduler") {
  json p =
      pendingPod({{{"type", "PodScheduled"}, {"status", "False"}, {"reason", "Unschedulable"}}});
  std::vector<json> events = {event("Warning", "FailedScheduling",
                                    "0/3 nodes are available: 3 Insufficient memory.",
                                    "2026-01-01T00:00:10Z")};
  Diagnosis d = diagnoseNotStarted(&p, job(), events, 60s);
  CHECK(d.reason == "Unschedulable");
  CHECK(d.message ==
        "pod etl-x7k2p did not start within 60s: FailedScheduling: 0/3 nodes are available: 3 "
        "Insufficient memory. (check the pod's resource requests, node selectors and tolerations)");
}

TEST_CASE("without Events, the PodScheduled condition still says Unschedulable") {
  json p = pendingPod({{{"type", "PodScheduled"},
                        {"status", "False"},
                        {"reason", "Unschedulable"},
                        {"message", "0/1 nodes are available: 1 node(s) had untolerated taint."}}});
  Diagnosis d = diagnoseNotStarted(&p, job(), {}, 30s);
  CHECK(d.reason == "Unschedulable");
  CHECK_THAT(d.message, Catch::Contains("untolerated taint") && Catch::Contains("30s"));
}

TEST_CASE("image pull failures quote the Event that says why, not the newest") {
  json p = pendingPod({{{"type", "PodScheduled"}, {"status", "True"}}});
  const std::string why =
      "Failed to pull image \"prefecthq/prefect:nope\": failed to resolve reference: pull access "
      "denied, repository does not exist or may require authorization";
  // As a kubelet spreads them over seconds: the cause first, its summaries after.
  std::vector<json> events = {
      event("Normal", "Scheduled", "Successfully assigned data/etl-x7k2p to node-1",
            "2026-01-01T00:00:01Z"),
      event("Normal", "Pulling", "Pulling image \"prefecthq/prefect:nope\"",
            "2026-01-01T00:00:02Z"),
      event("Warning", "Failed", why, "2026-01-01T00:00:05Z"),
      event("Warning", "Failed", "Error: ErrImagePull", "2026-01-01T00:00:06Z"),
      event("Normal", "BackOff", "Back-off pulling image \"prefecthq/prefect:nope\"",
            "2026-01-01T00:00:20Z"),
      event("Warning", "Failed", "Error: ImagePullBackOff", "2026-01-01T00:00:20Z")};
  Diagnosis d = diagnoseNotStarted(&p, job(), events, 60s);
  CHECK(d.reason == "ImagePullFailed");
  CHECK_THAT(d.message, Catch::Contains("Failed: " + why));
  CHECK(d.message.find("Error: ImagePullBackOff") == std::string::npos);

  SECTION("only the summaries: the newest is quoted") {
    std::vector<json> summaries = {events[3], events[5]};
    Diagnosis s = diagnoseNotStarted(&p, job(), summaries, 60s);
    CHECK(s.reason == "ImagePullFailed");
    CHECK_THAT(s.message, Catch::Contains("Error: ImagePullBackOff"));
  }
  SECTION("the container's ErrImagePull message beats a summary Event") {
    json q = pendingPod(
        {{{"type", "PodScheduled"}, {"status", "True"}}},
        {{{"name", "prefect-job"},
          {"state",
           {{"waiting", {{"reason", "ErrImagePull"}, {"message", "pull access denied"}}}}}}});
    std::vector<json> summaries = {events[5]};
    Diagnosis s = diagnoseNotStarted(&q, job(), summaries, 60s);
    CHECK_THAT(s.message, Catch::Contains("ErrImagePull: pull access denied"));
  }
}

TEST_CASE("the container's waiting state identifies an image pull failure without Events") {
  json p = pendingPod(
      {}, {{{"name", "prefect-job"},
            {"state",
             {{"waiting",
               {{"reason", "ImagePullBackOff"}, {"message", "Back-off pulling image \"x\""}}}}}}});
  Diagnosis d = diagnoseNotStarted(&p, job(), {}, 60s);
  CHECK(d.reason == "ImagePullFailed");
  CHECK_THAT(d.message, Catch::Contains("ImagePullBackOff: Back-off pulling image"));
}

TEST_CASE("anything else is PodNeverStarted with the newest Warning quoted") {
  json p = pendingPod({{{"type", "PodScheduled"}, {"status", "True"}}});
  std::vector<json> events = {
      event("Warning", "FailedMount",
            "MountVolume.SetUp failed for volume \"cfg\": configmap \"cfg\" not found",
            "2026-01-01T00:00:05Z")};
  Diagnosis d = diagnoseNotStarted(&p, job(), events, 60s);
  CHECK(d.reason == "PodNeverStarted");
  CHECK_THAT(d.message, Catch::Contains("FailedMount: MountVolume.SetUp failed"));
  Diagnosis none = diagnoseNotStarted(&p, job(), {}, 60s);
  CHECK(none.reason == "PodNeverStarted");
  CHECK_THAT(none.message, Catch::Contains("no Events explain why"));
}

TEST_CASE("a Job that made no pod quotes the Job's FailedCreate Event") {
  std::vector<json> events = {
      {{"type", "Warning"},
       {"reason", "FailedCreate"},
       {"message", "Error creating: pods \"etl-\" is forbidden: exceeded quota: compute"},
       {"lastTimestamp", "2026-01-01T00:00:05Z"}}};
  Diagnosis d = diagnoseNotStarted(nullptr, job(), events, 60s);
  CHECK(d.reason == "PodNeverStarted");
  CHECK(d.message ==
        "Job etl created no pod within 60s: FailedCreate: Error creating: pods \"etl-\" is "
        "forbidden: exceeded quota: compute");
}

TEST_CASE("ended pods: evicted and OOMKilled are diagnosed, a plain failure is not") {
  json evicted = {
      {"metadata", {{"name", "p"}}},
      {"status", {{"phase", "Failed"}, {"reason", "Evicted"}, {"message", "low memory"}}}};
  auto e = diagnoseEndedPod(evicted);
  REQUIRE(e);
  CHECK(e->reason == "Evicted");
  CHECK_THAT(e->message, Catch::Contains("low memory"));
  json oom = {{"metadata", {{"name", "p"}}},
              {"status",
               {{"phase", "Failed"},
                {"containerStatuses",
                 {{{"name", "prefect-job"},
                   {"state", {{"terminated", {{"exitCode", 137}, {"reason", "OOMKilled"}}}}}}}}}}};
  auto o = diagnoseEndedPod(oom);
  REQUIRE(o);
  CHECK(o->reason == "OOMKilled");
  CHECK_THAT(o->message, Catch::Contains("memory limit"));
  json plain = {{"metadata", {{"name", "p"}}},
                {"status",
                 {{"phase", "Failed"},
                  {"containerStatuses",
                   {{{"name", "prefect-job"},
                     {"state", {{"terminated", {{"exitCode", 3}, {"reason", "Error"}}}}}}}}}}};
  CHECK_FALSE(diagnoseEndedPod(plain));
  CHECK_FALSE(diagnoseDeadline(job()));
}
