// The FlowRun reconciler against in-memory fakes of the client and the caches: create/adopt,
// idempotency, status writes, diagnosis, cancellation, API key Secret, metrics.
#include <catch2/catch.hpp>

#include "operator/kube/base64.h"

#include "controllers/flowrun/api_key_secret.h"
#include "controllers/flowrun/flowrun_reconciler.h"
#include "test/unit/flowrun/fakes.h"

using namespace controllers::flowrun;
using namespace flowrun_test;
using namespace std::chrono_literals;
using runtime::ReconcileOutcome;

namespace {

const TimePoint kT0 = *parseTime("2026-01-01T00:00:00Z");

json flowRun(const std::string& name = "etl") {
  return {{"apiVersion", "prefect.io/v1alpha1"},
          {"kind", "FlowRun"},
          {"metadata",
           {{"name", name},
            {"namespace", "data"},
            {"uid", "fr-uid-" + name},
            {"generation", 1},
            {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
          {"spec",
           {{"image", "prefecthq/prefect:3-latest"},
            {"flowRunId", "0b8c1b5e-0000-4000-8000-000000000001"}}}};
}

struct Harness {
  FakeClient client;
  FakeStore flowRuns, jobs, pods;
  FakeEvents events;
  runtime::MetricsRegistry metrics;
  FakeIdentity identity;
  TimePoint now = kT0 + 1s;
  FlowRunOptions options;
  std::unique_ptr<FlowRunReconciler> reconciler;

  explicit Harness(FlowRunOptions opts = {}) : options(std::move(opts)) {
    options.now = [this] { return now; };
    reconciler = std::make_unique<FlowRunReconciler>(client, flowRuns, jobs, pods, events, metrics,
                                                     identity, options);
  }
  void add(const json& fr) {
    client.put(kube::resources::FlowRuns, fr);
    sync();
  }
  // The informers catch up with the API server.
  void sync() {
    flowRuns.clear();
    jobs.clear();
    pods.clear();
    for (const auto& [k, v] : client.objects[kube::resources::FlowRuns.qualifiedName()]) {
      flowRuns.put(flowRunTransform()(v));
    }
    for (const auto& [k, v] : client.objects[kube::resources::Jobs.qualifiedName()]) {
      jobs.put(jobTransform()(v));
    }
    for (const auto& [k, v] : client.objects[kube::resources::Pods.qualifiedName()]) {
      pods.put(podTransform()(v));
    }
  }
  ReconcileOutcome reconcile(const std::string& name = "etl") {
    return reconciler->reconcile({"data", name});
  }
  json fr(const std::string& name = "etl") {
    return *client.find(kube::resources::FlowRuns, "data", name);
  }
  json status(const std::string& name = "etl") { return fr(name).value("status", json::object()); }
  std::optional<json> job(const std::string& name = "etl") {
    return client.find(kube::resources::Jobs, "data", name);
  }
  // Changes the Job in the API server (as the Job controller would).
  void editJob(const std::function<void(json&)>& f, const std::string& name = "etl") {
    json j = *job(name);
    f(j);
    client.objects[kube::resources::Jobs.qualifiedName()]["data/" + name] = j;
  }
  void addPod(const std::string& name, json status, const std::string& jobName = "etl",
              const std::string& created = "2026-01-01T00:00:02Z") {
    auto existing = job(jobName);
    json j = existing ? *existing : json{{"metadata", {{"uid", "gone"}}}};
    json pod = {
        {"apiVersion", "v1"},
        {"kind", "Pod"},
        {"metadata",
         {{"name", name},
          {"namespace", "data"},
          {"uid", name + "-uid"},
          {"creationTimestamp", created},
          {"labels", {{"prefect.io/flowrun", "etl"}, {"controller-uid", j["metadata"]["uid"]}}},
          {"ownerReferences",
           {{{"apiVersion", "batch/v1"},
             {"kind", "Job"},
             {"name", jobName},
             {"uid", j["metadata"]["uid"]},
             {"controller", true}}}}}},
        {"spec", {{"containers", {{{"name", "prefect-job"}}}}}},
        {"status", status}};
    client.put(kube::resources::Pods, pod);
  }
  void setCancel(bool cancel, const std::string& name = "etl") {
    json f = fr(name);
    f["spec"]["cancel"] = cancel;
    f["metadata"]["generation"] = f["metadata"]["generation"].get<int>() + 1;
    f["metadata"]["resourceVersion"] = std::to_string(client.nextRv++);
    client.objects[kube::resources::FlowRuns.qualifiedName()]["data/" + name] = f;
  }
  std::size_t eventsWithReason(const std::string& reason) const {
    std::size_t n = 0;
    for (const auto& e : events.events) n += e.reason == reason;
    return n;
  }
};

json runningPodStatus() {
  return {{"phase", "Running"},
          {"containerStatuses",
           {{{"name", "prefect-job"},
             {"state", {{"running", {{"startedAt", "2026-01-01T00:00:05Z"}}}}}}}}};
}
json terminatedPodStatus(int code) {
  return {{"phase", code == 0 ? "Succeeded" : "Failed"},
          {"containerStatuses",
           {{{"name", "prefect-job"},
             {"state",
              {{"terminated",
                {{"exitCode", code},
                 {"reason", code == 0 ? "Completed" : "Error"},
                 {"startedAt", "2026-01-01T00:00:05Z"},
                 {"finishedAt", "2026-01-01T00:00:30Z"}}}}}}}}};
}
void finishJob(json& j, const std::string& type, const std::string& reason) {
  j["status"]["conditions"] = {{{"type", type},
                                {"status", "True"},
                                {"reason", reason},
                                {"lastTransitionTime", "2026-01-01T00:00:31Z"}}};
  if (type == "Complete") j["status"]["completionTime"] = "2026-01-01T00:00:31Z";
}

}  // namespace

TEST_CASE("a FlowRun becomes exactly one owned Job with a deterministic name") {
  Harness h;
  h.add(flowRun());
  auto out = h.reconcile();
  CHECK(out.kind == ReconcileOutcome::Kind::RequeueAfter);  // the pod watch timeout
  REQUIRE(h.job());
  json j = *h.job();
  CHECK(j["metadata"]["name"] == "etl");
  CHECK(j["metadata"]["ownerReferences"][0]["uid"] == "fr-uid-etl");
  CHECK(j["metadata"]["ownerReferences"][0]["controller"] == true);
  CHECK(j["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "flowrun-operator");
  CHECK(j["metadata"]["annotations"]["prefect.io/flowrun-name"] == "etl");
  CHECK(j["metadata"]["annotations"]["prefect.io/pod-watch-timeout-seconds"] == "60");
  CHECK(j["spec"]["template"]["metadata"]["annotations"]["prefect.io/flowrun-name"] == "etl");
  // Garbage collection of a cancelled Job gives its pods this grace period.
  CHECK(j["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 30);

  json s = h.status();
  CHECK(s["phase"] == "Pending");
  CHECK(s["reason"] == "JobCreated");
  CHECK(s["jobName"] == "etl");
  CHECK(s["infrastructurePid"] == "cluster-uid-1:data:etl");
  CHECK(s["observedGeneration"] == 1);
  CHECK(s["conditions"][0]["type"] == "Succeeded");
  CHECK(s["conditions"][0]["status"] == "Unknown");
  CHECK(h.eventsWithReason("JobCreated") == 1);
  CHECK(h.metrics.render().find("flowrun_job_creation_latency_seconds_count 1") !=
        std::string::npos);
}

TEST_CASE("reconciling again, even from a stale cache, never creates a second Job") {
  Harness h;
  h.add(flowRun());
  h.reconcile();
  // Stale cache: neither the Job nor the status write has reached the informers. The reconciler
  // decides on what its own status write returned (status.jobName is set), so it looks the Job
  // up on the API server instead of creating it again.
  h.reconcile();
  CHECK(h.client.count("create", "jobs") == 1);
  CHECK(h.client.count("get", "jobs") == 1);
  CHECK(h.client.objects[kube::resources::Jobs.qualifiedName()].size() == 1);
  h.sync();
  std::size_t writes = h.client.count("updateStatus", "flowruns");
  std::size_t creates = h.client.count("create", "jobs");
  h.reconcile();
  h.reconcile();
  CHECK(h.client.count("create", "jobs") == creates);
  CHECK(h.client.count("updateStatus", "flowruns") == writes);  // nothing changed: no write
  CHECK(h.eventsWithReason("JobCreated") == 1);
}

TEST_CASE("an event of our own Job or pod before the cache has our status write: no 409") {
  Harness h;
  h.add(flowRun());
  h.reconcile();  // the Job is created and Pending is written
  REQUIRE(h.status()["reason"] == "JobCreated");
  // The pod starts; the Job and pod informers have it, the FlowRun informer still holds the
  // FlowRun from before our status write.
  h.addPod("etl-abcde", runningPodStatus());
  h.jobs.put(jobTransform()(*h.job()));
  h.pods.put(podTransform()(*h.client.find(kube::resources::Pods, "data", "etl-abcde")));
  h.reconcile();
  CHECK(h.status()["phase"] == "Running");
  CHECK(h.client.count("updateStatus", "flowruns") == 2);  // no write lost to a 409 and redone
  CHECK(h.client.count("create", "jobs") == 1);
  // Once the cache catches up the overlay is dropped and nothing more is written.
  h.sync();
  h.reconcile();
  CHECK(h.client.count("updateStatus", "flowruns") == 2);
}

TEST_CASE("a status that changes only in its message is not written on its own") {
  Harness h;
  h.add(flowRun());
  h.reconcile();
  h.addPod("etl-abcde", {{"phase", "Pending"}});
  h.sync();
  h.reconcile();
  REQUIRE(h.status()["reason"] == "PodPending");
  const std::size_t writes = h.client.count("updateStatus", "flowruns");
  const std::string message = h.status()["message"];
  // The pod moves on within Pending (scheduled, its container being created): same phase and
  // reason, another message.
  json pod = *h.client.find(kube::resources::Pods, "data", "etl-abcde");
  pod["status"] = {
      {"phase", "Pending"},
      {"conditions", {{{"type", "PodScheduled"}, {"status", "True"}}}},
      {"containerStatuses",
       {{{"name", "prefect-job"}, {"state", {{"waiting", {{"reason", "ContainerCreating"}}}}}}}}};
  h.client.put(kube::resources::Pods, pod);
  h.sync();
  h.reconcile();
  CHECK(h.client.count("updateStatus", "flowruns") == writes);
  CHECK(h.status()["message"] == message);
  // The next transition carries the newest state.
  pod["status"] = runningPodStatus();
  h.client.put(kube::resources::Pods, pod);
  h.sync();
  h.reconcile();
  CHECK(h.status()["phase"] == "Running");
  CHECK(h.client.count("updateStatus", "flowruns") == writes + 1);
}

TEST_CASE("no identity yet: Pending WaitingForClusterIdentity and no Job") {
  Harness h;
  h.identity.uid.reset();
  h.add(flowRun());
  auto out = h.reconcile();
  CHECK(out.kind == ReconcileOutcome::Kind::RequeueAfter);
  CHECK(out.requeueAfter == 1s);
  CHECK(h.status()["reason"] == "WaitingForClusterIdentity");
  CHECK_FALSE(h.job());
  h.identity.uid = "cluster-uid-1";
  h.sync();
  h.reconcile();
  CHECK(h.job());
  CHECK(h.status()["infrastructurePid"] == "cluster-uid-1:data:etl");
}

TEST_CASE("an existing Job is adopted only when this FlowRun controls it") {
  Harness h;
  SECTION("ours (e.g. created before a restart): adopted") {
    h.client.put(kube::resources::Jobs, {{"metadata",
                                          {{"name", "etl"},
                                           {"namespace", "data"},
                                           {"creationTimestamp", "2026-01-01T00:00:00Z"},
                                           {"ownerReferences",
                                            {{{"kind", "FlowRun"},
                                              {"name", "etl"},
                                              {"uid", "fr-uid-etl"},
                                              {"controller", true}}}}}},
                                         {"status", json::object()}});
    h.add(flowRun());
    h.reconcile();
    CHECK(h.client.count("create", "jobs") == 0);  // the cache had it
    CHECK(h.status()["reason"] == "JobCreated");
    CHECK(h.status()["jobName"] == "etl");
  }
  SECTION("someone else's: JobNameConflict, and that Job is left alone") {
    h.client.put(kube::resources::Jobs, {{"metadata",
                                          {{"name", "etl"},
                                           {"namespace", "data"},
                                           {"ownerReferences",
                                            {{{"kind", "CronJob"},
                                              {"name", "nightly"},
                                              {"uid", "other"},
                                              {"controller", true}}}}}}});
    h.add(flowRun());
    auto out = h.reconcile();
    CHECK(out.kind == ReconcileOutcome::Kind::RequeueAfter);
    CHECK(h.status()["phase"] == "Pending");
    CHECK(h.status()["reason"] == "JobNameConflict");
    CHECK_THAT(h.status()["message"].get<std::string>(), Catch::Contains("CronJob/nightly"));
    CHECK(h.client.count("delete", "jobs") == 0);
    CHECK(h.events.events.back().type == "Warning");
    CHECK(h.status()["infrastructurePid"].is_null());
  }
  SECTION("someone else's, not yet in the cache: AlreadyExists then conflict") {
    h.add(flowRun());
    h.client.put(kube::resources::Jobs, {{"metadata", {{"name", "etl"}, {"namespace", "data"}}}});
    h.reconcile();
    CHECK(h.status()["reason"] == "JobNameConflict");
    CHECK_THAT(h.status()["message"].get<std::string>(), Catch::Contains("no controller"));
  }
  SECTION("being deleted: wait a little and try again") {
    h.client.put(kube::resources::Jobs, {{"metadata",
                                          {{"name", "etl"},
                                           {"namespace", "data"},
                                           {"deletionTimestamp", "2026-01-01T00:00:00Z"}}}});
    h.add(flowRun());
    auto out = h.reconcile();
    CHECK(out.requeueAfter == 2s);
    CHECK_THAT(h.status()["message"].get<std::string>(), Catch::Contains("being deleted"));
  }
}

TEST_CASE(
    "a status write conflict is retried from a fresh read, and the Job creation is told once") {
  Harness h;
  h.add(flowRun());
  h.client.failures["updateStatus flowruns"].push_back({409, "Conflict", "modified", {}, 0});
  auto out = h.reconcile();
  CHECK(out.kind == ReconcileOutcome::Kind::RequeueAfter);
  CHECK(out.requeueAfter == 200ms);
  // The Job exists although the status write lost the race: its Event is not lost with it.
  REQUIRE(h.events.events.size() == 1);
  CHECK(h.events.events[0].reason == "JobCreated");
  CHECK(h.status().empty());
  h.sync();
  h.reconcile();
  CHECK(h.status()["reason"] == "JobCreated");
  CHECK(h.client.objects[kube::resources::Jobs.qualifiedName()].size() == 1);
  CHECK(h.events.events.size() == 1);
}

TEST_CASE("Running, then Succeeded with exit code 0, terminal phases never change") {
  Harness h;
  h.add(flowRun());
  h.reconcile();
  h.addPod("etl-a", runningPodStatus());
  h.sync();
  h.reconcile();
  CHECK(h.status()["phase"] == "Running");
  CHECK(h.status()["podName"] == "etl-a");
  CHECK(h.status()["startTime"] == "2026-01-01T00:00:05Z");

  h.client.put(kube::resources::Pods, [&] {
    json p = *h.client.find(kube::resources::Pods, "data", "etl-a");
    p["status"] = terminatedPodStatus(0);
    return p;
  }());
  h.editJob([](json& j) { finishJob(j, "Complete", "CompletionsReached"); });
  h.sync();
  h.reconcile();
  json s = h.status();
  CHECK(s["phase"] == "Succeeded");
  CHECK(s["exitCode"] == 0);
  CHECK(s["completionTime"] == "2026-01-01T00:00:31Z");
  CHECK(s["conditions"][0]["status"] == "True");
  CHECK(h.eventsWithReason("Completed") == 1);

  // The Job goes away (TTL): still Succeeded, no write.
  h.client.objects[kube::resources::Jobs.qualifiedName()].clear();
  h.sync();
  std::size_t writes = h.client.count("updateStatus", "flowruns");
  h.reconcile();
  CHECK(h.status()["phase"] == "Succeeded");
  CHECK(h.client.count("updateStatus", "flowruns") == writes);
  std::string m = h.metrics.render();
  CHECK(m.find("flowrun_phase{phase=\"Succeeded\"} 1") != std::string::npos);
  CHECK(m.find("flowrun_phase{phase=\"Running\"} 0") != std::string::npos);
  CHECK(m.find("flowrun_transitions_total{from=\"Running\",to=\"Succeeded\"} 1") !=
        std::string::npos);
}

TEST_CASE("exit 3 with the Job failed: Failed with exitCode 3") {
  Harness h;
  h.add(flowRun());
  h.reconcile();
  h.addPod("etl-a", terminatedPodStatus(3));
  h.editJob([](json& j) { finishJob(j, "Failed", "BackoffLimitExceeded"); });
  h.sync();
  h.reconcile();
  CHECK(h.status()["phase"] == "Failed");
  CHECK(h.status()["reason"] == "BackoffLimitExceeded");
  CHECK(h.status()["exitCode"] == 3);
  CHECK(h.events.events.back().type == "Warning");
}

TEST_CASE("a pod that never starts is Crashed/Unschedulable from one targeted Event list") {
  Harness h;
  h.add(flowRun());
  h.reconcile();
  h.addPod("etl-a",
           {{"phase", "Pending"},
            {"conditions",
             {{{"type", "PodScheduled"}, {"status", "False"}, {"reason", "Unschedulable"}}}}});
  h.client.put(kube::resources::CoreEvents,
               {{"metadata", {{"name", "etl-a.1"}, {"namespace", "data"}}},
                {"type", "Warning"},
                {"reason", "FailedScheduling"},
                {"message", "0/3 nodes are available: 3 Insufficient memory."},
                {"lastTimestamp", "2026-01-01T00:00:03Z"},
                {"involvedObject", {{"kind", "Pod"}, {"name", "etl-a"}, {"uid", "etl-a-uid"}}}});
  h.sync();
  h.now = kT0 + 30s;
  h.reconcile();
  CHECK(h.status()["phase"] == "Pending");
  CHECK(h.client.count("list", "events") == 0);
  h.now = kT0 + 61s;
  h.sync();
  h.reconcile();
  json s = h.status();
  CHECK(s["phase"] == "Crashed");
  CHECK(s["reason"] == "Unschedulable");
  CHECK_THAT(s["message"].get<std::string>(),
             Catch::Contains("FailedScheduling: 0/3 nodes are available"));
  REQUIRE(h.client.count("list", "events") == 1);
  for (const Call& c : h.client.calls) {
    if (c.verb == "list") CHECK(c.listOptions.fieldSelector == "involvedObject.uid=etl-a-uid");
  }
  // The Job is stopped so that the pod cannot start later behind a Crashed status.
  CHECK(h.client.count("delete", "jobs") == 1);
  CHECK_FALSE(h.job());
}

TEST_CASE("a Job deleted by someone else is Crashed/JobDeleted, a lagging cache is not") {
  Harness h;
  h.add(flowRun());
  h.reconcile();
  h.sync();
  // The Job exists in the API server but the cache lost it: no verdict.
  h.jobs.clear();
  h.reconcile();
  CHECK(h.status()["phase"] == "Pending");
  h.client.objects[kube::resources::Jobs.qualifiedName()].clear();
  h.sync();
  h.reconcile();
  CHECK(h.status()["phase"] == "Crashed");
  CHECK(h.status()["reason"] == "JobDeleted");
  CHECK(h.client.count("create", "jobs") == 1);
}

TEST_CASE("cancel before the Job exists: Cancelled and no Job, ever") {
  Harness h;
  json f = flowRun();
  f["spec"]["cancel"] = true;
  h.identity.uid.reset();
  h.add(f);
  h.reconcile();
  json s = h.status();
  CHECK(s["phase"] == "Cancelled");
  CHECK(s["cancelRequestedAt"] == "2026-01-01T00:00:01Z");
  CHECK_THAT(s["message"].get<std::string>(), Catch::Contains("no Job"));
  h.identity.uid = "cluster-uid-1";
  h.setCancel(false);  // a revert
  h.sync();
  h.reconcile();
  CHECK(h.client.count("create", "jobs") == 0);
  CHECK(h.status()["phase"] == "Cancelled");
}

TEST_CASE(
    "cancel while running: latch, Foreground delete with the grace period, Cancelled when gone") {
  Harness h;
  json f = flowRun();
  f["spec"]["cancelGracePeriodSeconds"] = 7;
  h.add(f);
  h.reconcile();
  h.addPod("etl-a", runningPodStatus());
  h.sync();
  h.reconcile();
  REQUIRE(h.status()["phase"] == "Running");

  h.setCancel(true);
  h.sync();
  auto out = h.reconcile();
  CHECK(out.kind == ReconcileOutcome::Kind::RequeueAfter);
  CHECK(h.status()["phase"] == "Cancelling");
  CHECK(h.status()["cancelRequestedAt"] == "2026-01-01T00:00:01Z");
  bool sawJobDelete = false, sawPodDelete = false;
  for (const Call& c : h.client.calls) {
    if (c.verb == "delete" && c.resource == "jobs") {
      sawJobDelete = true;
      CHECK(c.deleteOptions.propagationPolicy == "Foreground");
      CHECK(c.deleteOptions.gracePeriodSeconds == 7);
    }
    if (c.verb == "delete" && c.resource == "pods") {
      sawPodDelete = true;
      CHECK(c.deleteOptions.gracePeriodSeconds == 7);
    }
  }
  CHECK(sawJobDelete);
  CHECK(sawPodDelete);

  // A revert of spec.cancel (an ArgoCD self-heal) while the pods terminate changes nothing.
  h.setCancel(false);
  h.client.objects[kube::resources::Jobs.qualifiedName()].clear();
  h.client.objects[kube::resources::Pods.qualifiedName()].clear();
  h.addPod("etl-a", runningPodStatus(), "etl");  // still terminating
  h.sync();
  h.reconcile();
  CHECK(h.status()["phase"] == "Cancelling");
  CHECK_THAT(h.status()["message"].get<std::string>(), Catch::Contains("1 pod(s)"));
  h.client.objects[kube::resources::Pods.qualifiedName()].clear();
  h.sync();
  h.reconcile();
  CHECK(h.status()["phase"] == "Cancelled");
  CHECK(h.client.count("create", "jobs") == 1);
  CHECK(h.eventsWithReason("Cancelled") == 1);
}

TEST_CASE("cancel after the run finished: nothing changes and the status says why") {
  Harness h;
  h.add(flowRun());
  h.reconcile();
  h.addPod("etl-a", terminatedPodStatus(0));
  h.editJob([](json& j) { finishJob(j, "Complete", "CompletionsReached"); });
  h.sync();
  h.reconcile();
  REQUIRE(h.status()["phase"] == "Succeeded");
  h.setCancel(true);
  h.sync();
  h.reconcile();
  json s = h.status();
  CHECK(s["phase"] == "Succeeded");
  CHECK(s["reason"] == "Completed");
  CHECK(s["cancelRequestedAt"] == "2026-01-01T00:00:01Z");
  bool found = false;
  for (const json& c : s["conditions"]) {
    if (c["type"] == "CancelRequested") {
      found = true;
      CHECK(c["status"] == "False");
      CHECK(c["reason"] == "AlreadyFinished");
      CHECK_THAT(c["message"].get<std::string>(), Catch::Contains("already finished"));
    }
  }
  CHECK(found);
  CHECK(h.eventsWithReason("CancelIgnored") == 1);
  CHECK(h.client.count("delete", "jobs") == 0);
  h.sync();
  h.reconcile();
  CHECK(h.eventsWithReason("CancelIgnored") == 1);
}

TEST_CASE("an invalid template is Failed/InvalidSpec naming the path, nothing is created") {
  Harness h;
  json f = flowRun();
  f["spec"]["template"] = json::parse(R"({
    "job_configuration": {"job_manifest": {"apiVersion": "batch/v1", "kind": "Job",
      "spec": {"template": {"spec": {"restartPolicy": "Always",
                                     "containers": [{"name": "c", "image": "x"}]}}}}},
    "variables": {"type": "object", "properties": {}}})");
  h.add(f);
  auto out = h.reconcile();
  CHECK(out.kind == ReconcileOutcome::Kind::Done);
  CHECK(h.status()["phase"] == "Failed");
  CHECK(h.status()["reason"] == "InvalidSpec");
  CHECK_THAT(h.status()["message"].get<std::string>(), Catch::Contains("restartPolicy"));
  CHECK(h.client.count("create", "jobs") == 0);
  h.sync();
  h.reconcile();
  CHECK(h.client.count("create", "jobs") == 0);
  CHECK(h.eventsWithReason("InvalidSpec") == 1);
}

TEST_CASE("a missing template ConfigMap waits (TemplateNotFound), then the Job uses it") {
  Harness h;
  json f = flowRun();
  f["spec"]["template"] = {{"configMapRef", {{"name", "pool"}}}};
  f["spec"]["variables"] = {{"memory", 512}};
  h.add(f);
  auto out = h.reconcile();
  CHECK(out.kind == ReconcileOutcome::Kind::RequeueAfter);
  CHECK(out.requeueAfter >= 2s);
  CHECK(h.status()["phase"] == "Pending");
  CHECK(h.status()["reason"] == "TemplateNotFound");
  CHECK_THAT(h.status()["message"].get<std::string>(), Catch::Contains("ConfigMap data/pool"));
  CHECK(h.events.events.back().type == "Warning");

  json tmpl = defaultBaseJobTemplate();
  tmpl["variables"]["properties"]["memory"] = {{"type", "integer"}, {"default", 128}};
  tmpl["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["containers"][0]
      ["resources"] = {{"limits", {{"memory", "{{ memory }}Mi"}}}};
  h.client.put(kube::resources::ConfigMaps,
               {{"metadata", {{"name", "pool"}, {"namespace", "data"}}},
                {"data", {{"baseJobTemplate.json", tmpl.dump()}}}});
  h.sync();
  h.reconcile();
  REQUIRE(h.job());
  CHECK((*h.job())["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] ==
        "512Mi");
  CHECK(h.status()["reason"] == "JobCreated");
}

TEST_CASE("with store-api-key-in-secret a literal key moves into an owned Secret") {
  FlowRunOptions opts;
  opts.storeApiKeyInSecret = true;
  Harness h(opts);
  json f = flowRun();
  f["spec"]["env"] = {{"PREFECT_API_KEY", "pnu_s3cr3t"}, {"PREFECT_API_URL", "http://x/api"}};
  h.add(f);
  h.reconcile();
  auto secret = h.client.find(kube::resources::Secrets, "data", "etl-api-key");
  REQUIRE(secret);
  CHECK((*secret)["metadata"]["ownerReferences"][0]["uid"] == "fr-uid-etl");
  CHECK((*secret)["data"]["key"] == kube::base64Encode("pnu_s3cr3t"));
  // The Secret was created before the Job.
  std::size_t secretAt = 0, jobAt = 0;
  for (std::size_t i = 0; i < h.client.calls.size(); ++i) {
    if (h.client.calls[i].verb == "create" && h.client.calls[i].resource == "secrets") secretAt = i;
    if (h.client.calls[i].verb == "create" && h.client.calls[i].resource == "jobs") jobAt = i;
  }
  CHECK(secretAt < jobAt);
  REQUIRE(h.job());
  std::string jobText = h.job()->dump();
  CHECK(jobText.find("pnu_s3cr3t") == std::string::npos);
  CHECK(jobText.find("etl-api-key") != std::string::npos);
  CHECK(h.status().dump().find("pnu_s3cr3t") == std::string::npos);
  for (const auto& e : h.events.events) CHECK(e.message.find("pnu_s3cr3t") == std::string::npos);
}

TEST_CASE("spec.apiKeySecret becomes a secretKeyRef without any Secret being created") {
  Harness h;
  json f = flowRun();
  f["spec"]["apiKeySecret"] = {{"name", "prefect-api-key"}, {"key", "key"}};
  h.add(f);
  h.reconcile();
  REQUIRE(h.job());
  CHECK(h.job()->dump().find("prefect-api-key") != std::string::npos);
  CHECK(h.client.count("create", "secrets") == 0);
}

TEST_CASE("a FlowRun that is gone leaves the phase gauge") {
  Harness h;
  h.add(flowRun());
  h.reconcile();
  CHECK(h.metrics.render().find("flowrun_phase{phase=\"Pending\"} 1") != std::string::npos);
  h.client.objects[kube::resources::FlowRuns.qualifiedName()].clear();
  h.sync();
  CHECK(h.reconcile().kind == ReconcileOutcome::Kind::Done);
  CHECK(h.metrics.render().find("flowrun_phase{phase=\"Pending\"} 0") != std::string::npos);
}

TEST_CASE("a Job creation that may pass is retried, said in the status and as FailedCreate") {
  Harness h;
  h.add(flowRun());
  h.client.failures["create jobs"].push_back(
      {503, "ServiceUnavailable", "the server is currently unable to handle the request", {}, 0});
  auto out = h.reconcile();
  CHECK(out.kind == ReconcileOutcome::Kind::Error);
  CHECK_THAT(out.error, Catch::Contains("creating Job etl"));
  REQUIRE_FALSE(h.events.events.empty());
  CHECK(h.events.events[0].type == "Warning");
  CHECK(h.events.events[0].reason == "FailedCreate");
  CHECK_THAT(h.events.events[0].message,
             Catch::StartsWith("Error creating Job etl: 503 ServiceUnavailable: "));
  CHECK(h.status()["phase"] == "Pending");
  CHECK(h.status()["reason"] == "CreateRetrying");
  CHECK_THAT(h.status()["message"].get<std::string>(),
             Catch::Contains("the server is currently unable to handle the request") &&
                 Catch::Contains("retrying"));
  CHECK_FALSE(h.job());
  // The next try succeeds: the Job is created once and said so.
  h.reconcile();
  REQUIRE(h.job());
  CHECK(h.events.events.back().reason == "JobCreated");
}

TEST_CASE("a refusal that will not change on retry ends the FlowRun with the server's words") {
  SECTION("400: the Job cannot be decoded") {
    Harness h;
    h.add(flowRun());
    const std::string why =
        "Job in version \"v1\" cannot be handled as a Job: quantities must match the regular "
        "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
    h.client.failures["create jobs"].push_back({400, "BadRequest", why, {}, 0});
    CHECK(h.reconcile().kind == ReconcileOutcome::Kind::Done);
    CHECK(h.status()["phase"] == "Failed");
    CHECK(h.status()["reason"] == "InvalidSpec");
    CHECK_THAT(h.status()["message"].get<std::string>(), Catch::Contains(why));
    CHECK_FALSE(h.job());
    h.sync();
    CHECK(h.reconcile().kind == ReconcileOutcome::Kind::Done);
    CHECK(h.client.count("create", "jobs") == 1);
  }
  SECTION("403 with a message: a quota") {
    Harness h;
    h.add(flowRun());
    h.client.failures["create jobs"].push_back(
        {403, "Forbidden", "jobs.batch \"etl\" is forbidden: exceeded quota: jobs", {}, 0});
    CHECK(h.reconcile().kind == ReconcileOutcome::Kind::Done);
    CHECK(h.status()["phase"] == "Failed");
    CHECK(h.status()["reason"] == "CreateForbidden");
    CHECK_THAT(h.status()["message"].get<std::string>(),
               Catch::Contains("jobs.batch \"etl\" is forbidden: exceeded quota: jobs"));
    REQUIRE_FALSE(h.events.events.empty());
    CHECK(h.events.events[0].reason == "FailedCreate");
    CHECK_FALSE(h.job());
  }
  SECTION("403 on the API-key Secret") {
    FlowRunOptions opts;
    opts.storeApiKeyInSecret = true;
    Harness h(opts);
    json f = flowRun();
    f["spec"]["env"] = {{"PREFECT_API_KEY", "pnu_s3cr3t"}};
    h.add(f);
    h.client.failures["create secrets"].push_back(
        {403, "Forbidden", "secrets is forbidden: User \"op\" cannot create resource", {}, 0});
    CHECK(h.reconcile().kind == ReconcileOutcome::Kind::Done);
    REQUIRE_FALSE(h.events.events.empty());
    CHECK(h.events.events[0].reason == "FailedCreate");
    CHECK_THAT(h.events.events[0].message,
               Catch::StartsWith("Error creating Secret etl-api-key: "));
    CHECK(h.events.events[0].message.find("pnu_s3cr3t") == std::string::npos);
    CHECK(h.status()["reason"] == "CreateForbidden");
    CHECK(h.status()["message"].get<std::string>().find("pnu_s3cr3t") == std::string::npos);
    CHECK_FALSE(h.job());  // no Job before its Secret
  }
}

TEST_CASE("a cancel seen only after the Job completed keeps the outcome and deletes nothing") {
  // The operator was away while the run finished; the cancel patched meanwhile must not turn a
  // Succeeded run into Cancelled nor delete its evidence.
  Harness h;
  h.add(flowRun());
  h.reconcile();
  h.addPod("etl-a", runningPodStatus());
  h.sync();
  h.reconcile();
  REQUIRE(h.status()["phase"] == "Running");
  h.client.objects[kube::resources::Pods.qualifiedName()].clear();
  h.addPod("etl-a", terminatedPodStatus(0));
  h.editJob([](json& j) { finishJob(j, "Complete", "CompletionsReached"); });
  h.setCancel(true);
  h.sync();
  h.reconcile();
  h.sync();
  h.reconcile();
  json s = h.status();
  CHECK(s["phase"] == "Succeeded");
  CHECK(s["exitCode"] == 0);
  CHECK(h.client.count("delete", "jobs") == 0);
  CHECK(h.client.count("delete", "pods") == 0);
  CHECK(h.eventsWithReason("CancelIgnored") == 1);
  CHECK(h.eventsWithReason("Cancelled") == 0);
}

TEST_CASE("a cancel between the Job create and its status write names the Job it deleted") {
  Harness h;
  h.add(flowRun());
  h.reconcile();
  REQUIRE(h.job());
  // The status write after the create was lost (the operator stopped in between).
  json f = h.fr();
  f.erase("status");
  h.client.objects[kube::resources::FlowRuns.qualifiedName()]["data/etl"] = f;
  h.setCancel(true);
  h.sync();
  h.reconcile();
  CHECK(h.status()["phase"] == "Cancelling");
  CHECK(h.status()["jobName"] == "etl");
  CHECK(h.client.count("delete", "jobs") == 1);
  h.client.objects[kube::resources::Jobs.qualifiedName()].clear();
  h.sync();
  h.reconcile();
  json s = h.status();
  CHECK(s["phase"] == "Cancelled");
  CHECK(s["message"] == "cancelled; Job etl and its pods were deleted");
}

TEST_CASE("a Job whose create lands after the run was Cancelled is deleted when it appears") {
  Harness h;
  h.add(flowRun());
  h.reconcile();
  json lateJob = *h.job();  // what a slow create will bring back
  h.client.objects[kube::resources::Jobs.qualifiedName()].clear();
  json f = h.fr();
  f.erase("status");
  h.client.objects[kube::resources::FlowRuns.qualifiedName()]["data/etl"] = f;
  h.setCancel(true);
  h.sync();
  h.reconcile();
  REQUIRE(h.status()["phase"] == "Cancelled");
  REQUIRE(h.status()["message"] == "cancelled before a Job was created; no Job will be created");
  // The create that outlived its request timeout lands now.
  h.client.put(kube::resources::Jobs, lateJob);
  h.sync();
  h.reconcile();
  CHECK(h.client.count("delete", "jobs") == 1);
  bool foreground = false;
  for (const Call& c : h.client.calls) {
    if (c.verb == "delete" && c.resource == "jobs") {
      foreground = c.deleteOptions.propagationPolicy == "Foreground";
    }
  }
  CHECK(foreground);
  CHECK(h.eventsWithReason("JobStopped") == 1);
  CHECK(h.status()["phase"] == "Cancelled");  // terminal phases never change
  // A Job that finished (or is going) is left alone.
  h.sync();
  h.reconcile();
  CHECK(h.client.count("delete", "jobs") == 1);
}

TEST_CASE("a Job that ended while the pod cache lags: the exit code is read from the API server") {
  // The pod watch lagged the Job watch: a pod that exited 3 ended Failed with no exit code, an
  // OOMKilled pod ended Failed instead of Crashed/OOMKilled.
  Harness h;
  h.add(flowRun());
  h.reconcile();
  h.addPod("etl-a", terminatedPodStatus(3));
  h.editJob([](json& j) { finishJob(j, "Failed", "BackoffLimitExceeded"); });
  h.sync();
  h.pods.clear();  // the pod's events have not reached the cache yet
  h.reconcile();
  json s = h.status();
  CHECK(s["phase"] == "Failed");
  CHECK(s["exitCode"] == 3);
  CHECK(s["podName"] == "etl-a");
  CHECK(h.client.count("list", "pods") == 1);

  Harness oom;
  oom.add(flowRun());
  oom.reconcile();
  json st = terminatedPodStatus(137);
  st["containerStatuses"][0]["state"]["terminated"]["reason"] = "OOMKilled";
  oom.addPod("etl-a", st);
  oom.editJob([](json& j) { finishJob(j, "Failed", "BackoffLimitExceeded"); });
  oom.sync();
  oom.pods.clear();
  oom.reconcile();
  CHECK(oom.status()["phase"] == "Crashed");
  CHECK(oom.status()["reason"] == "OOMKilled");
}

TEST_CASE("a Job that ended with its pods gone (TTL) is read from the Job alone, in one list") {
  Harness h;
  h.add(flowRun());
  h.reconcile();
  h.editJob([](json& j) { finishJob(j, "Complete", "CompletionsReached"); });
  h.sync();
  h.reconcile();
  CHECK(h.status()["phase"] == "Succeeded");
  CHECK(h.client.count("list", "pods") == 1);
  // A run whose pod the cache already has final needs no list at all.
  Harness quick;
  quick.add(flowRun());
  quick.reconcile();
  quick.addPod("etl-a", terminatedPodStatus(0));
  quick.editJob([](json& j) { finishJob(j, "Complete", "CompletionsReached"); });
  quick.sync();
  quick.reconcile();
  CHECK(quick.status()["exitCode"] == 0);
  CHECK(quick.client.count("list", "pods") == 0);
}

TEST_CASE("the outcome finalizer is on the created Job and comes off once the outcome is written") {
  Harness h;
  h.add(flowRun());
  h.reconcile();
  REQUIRE(h.job());
  CHECK((*h.job())["metadata"]["finalizers"] == json({"prefect.io/flowrun-outcome"}));
  CHECK((*h.job())["spec"]["template"]["metadata"]["finalizers"] ==
        json({"prefect.io/flowrun-outcome"}));
  h.addPod("etl-a", terminatedPodStatus(3));
  h.client.put(kube::resources::Pods, [&] {
    json p = *h.client.find(kube::resources::Pods, "data", "etl-a");
    p["metadata"]["finalizers"] = {"prefect.io/flowrun-outcome"};
    return p;
  }());
  h.editJob([](json& j) { finishJob(j, "Failed", "BackoffLimitExceeded"); });
  h.sync();
  h.reconcile();
  CHECK(h.status()["phase"] == "Failed");
  CHECK(h.status()["exitCode"] == 3);
  // Not before the status is written: the pass that wrote it patched nothing.
  CHECK(h.client.count("patch", "jobs") == 0);
  CHECK(h.client.count("patch", "pods") == 0);
  h.sync();
  CHECK(h.reconcile().kind == ReconcileOutcome::Kind::Done);
  CHECK((*h.job())["metadata"]["finalizers"].empty());
  CHECK((*h.client.find(kube::resources::Pods, "data", "etl-a"))["metadata"]["finalizers"].empty());
  // A reconcile before the caches have the removals (the Job's update event came first): the
  // removals are not sent again, so no 422 from their stale test.
  CHECK(h.reconcile().kind == ReconcileOutcome::Kind::Done);
  CHECK(h.client.count("patch", "jobs") == 1);
  CHECK(h.client.count("patch", "pods") == 1);
  h.sync();
  h.reconcile();  // nothing left to remove
  CHECK(h.client.count("patch", "jobs") == 1);
  CHECK(h.client.count("patch", "pods") == 1);
}
