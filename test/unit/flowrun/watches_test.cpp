// Informer transforms and the object -> FlowRun key mapping.
#include <catch2/catch.hpp>

#include "operator/kube/base64.h"

#include "controllers/flowrun/api_key_secret.h"
#include "controllers/flowrun/diagnosis.h"
#include "controllers/flowrun/status.h"
#include "controllers/flowrun/watches.h"
#include "operator/kube/json_decode.h"

using namespace controllers::flowrun;
using json = nlohmann::json;

TEST_CASE("Jobs and pods map to their FlowRun: owner, annotation, then label") {
  json job = {{"metadata",
               {{"name", "etl"},
                {"namespace", "data"},
                {"ownerReferences",
                 {{{"apiVersion", "prefect.io/v1alpha1"},
                   {"kind", "FlowRun"},
                   {"name", "etl-long-name"},
                   {"uid", "u"},
                   {"controller", true}}}}}}};
  auto k = flowRunKeyFor(job);
  REQUIRE(k);
  CHECK(k->ns == "data");
  CHECK(k->name == "etl-long-name");

  json pod = {
      {"metadata",
       {{"name", "etl-abc"},
        {"namespace", "data"},
        {"annotations", {{"prefect.io/flowrun-name", "exact-name"}}},
        {"labels", {{"prefect.io/flowrun", "shortened"}}},
        {"ownerReferences",
         {{{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"name", "etl"}, {"controller", true}}}}}}};
  CHECK(flowRunKeyFor(pod)->name == "exact-name");
  pod["metadata"].erase("annotations");
  CHECK(flowRunKeyFor(pod)->name == "shortened");
  pod["metadata"].erase("labels");
  CHECK_FALSE(flowRunKeyFor(pod));
  CHECK_FALSE(flowRunKeyFor(json::array()));
}

TEST_CASE("transforms keep what the reconciler reads and drop the rest") {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", "p"},
                {"namespace", "data"},
                {"uid", "u"},
                {"managedFields", json::array({json::object()})},
                {"annotations", {{"prefect.io/flowrun-name", "etl"}, {"other", "x"}}}}},
              {"spec",
               {{"containers",
                 {{{"name", "prefect-job"},
                   {"env", {{{"name", "PREFECT_API_KEY"}, {"value", "s3cret"}}}}}}}}},
              {"status", {{"phase", "Running"}, {"hostIP", "10.0.0.1"}}}};
  json t = podTransform()(pod);
  CHECK_FALSE(t["metadata"].contains("managedFields"));
  CHECK(t["metadata"]["annotations"] == json{{"prefect.io/flowrun-name", "etl"}});
  CHECK(t["spec"] == json{{"containers", {{{"name", "prefect-job"}}}}});
  CHECK(t["status"] == json{{"phase", "Running"}});
  CHECK(t.dump().find("s3cret") == std::string::npos);

  json fr = {{"apiVersion", "prefect.io/v1alpha1"},
             {"kind", "FlowRun"},
             {"metadata",
              {{"name", "etl"},
               {"annotations",
                {{"kubectl.kubernetes.io/last-applied-configuration",
                  "{\"PREFECT_API_KEY\":\"s3cret\"}"}}}}},
             {"spec", {{"image", "x"}}},
             {"status", {{"phase", "Pending"}}}};
  json ft = flowRunTransform()(fr);
  CHECK(ft["spec"] == json::object());  // the image is read live, when the Job is rendered
  CHECK(ft["status"] == fr["status"]);
  CHECK(ft.dump().find("s3cret") == std::string::npos);

  json job = {{"metadata", {{"name", "etl"}}},
              {"spec", {{"backoffLimit", 2}, {"template", {{"spec", json::object()}}}}},
              {"status", {{"failed", 1}}}};
  json jt = jobTransform()(job);
  CHECK(jt["spec"] == json{{"backoffLimit", 2}});
  CHECK(jt["status"] == job["status"]);
}

TEST_CASE("the cached FlowRun keeps only the spec fields read on every reconcile") {
  json fr = {{"apiVersion", "prefect.io/v1alpha1"},
             {"kind", "FlowRun"},
             {"metadata",
              {{"name", "etl"},
               {"namespace", "data"},
               {"uid", "u1"},
               {"resourceVersion", "7"},
               {"generation", 2},
               {"labels", {{"prefect.io/workpool", "pool"}, {"team", "data"}}},
               {"annotations", {{"prefect.io/reported-pid", "x"}, {"note", "long text"}}}}},
             {"spec",
              {{"flowRunId", "id-1"},
               {"image", "img"},
               {"cancel", true},
               {"cancelGracePeriodSeconds", 5},
               {"podWatchTimeoutSeconds", 90},
               {"env", {{"A", std::string(5000, 'a')}}},
               {"template", {{"job_configuration", {{"job_manifest", json::object()}}}}},
               {"variables", {{"pod_watch_timeout_seconds", 30}, {"image", "other"}}}}},
             {"status", {{"phase", "Running"}, {"jobName", "etl"}}}};
  json t = flowRunTransform()(fr);
  CHECK(t["spec"] == json{{"flowRunId", "id-1"},
                          {"cancel", true},
                          {"cancelGracePeriodSeconds", 5},
                          {"podWatchTimeoutSeconds", 90},
                          {"variables", {{"pod_watch_timeout_seconds", 30}}}});
  CHECK(t["metadata"]["labels"] == json{{"prefect.io/workpool", "pool"}});
  CHECK(t["metadata"]["annotations"] == json{{"prefect.io/reported-pid", "x"}});
  CHECK(t["metadata"]["generation"] == 2);
  CHECK(t["status"] == fr["status"]);
  // Its size no longer grows with the spec.
  CHECK(t.dump().size() < 600);
}

TEST_CASE("cached Jobs and pods keep the fields the diagnosis reads, not the noise") {
  json pod = json::parse(R"({
    "metadata": {"name": "p", "namespace": "data",
      "labels": {"prefect.io/flowrun": "etl", "controller-uid": "j1"},
      "ownerReferences": [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "etl", "uid": "j1",
         "controller": true, "blockOwnerDeletion": true},
        {"apiVersion": "v1", "kind": "Other", "name": "o", "uid": "o1"}]},
    "spec": {"containers": [{"name": "prefect-job"}, {"name": "sidecar"}]},
    "status": {"phase": "Failed", "reason": "Evicted",
      "message": "The node was low on resource: memory.", "hostIP": "10.0.0.1",
      "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": null},
                     {"type": "Ready", "status": "False", "reason": "PodCompleted"}],
      "containerStatuses": [{"name": "prefect-job", "image": "img",
        "imageID": "docker.io/img@sha256:abc", "containerID": "containerd://1",
        "restartCount": 0, "started": false,
        "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled",
          "containerID": "containerd://1", "startedAt": "t1", "finishedAt": "t2"}}}]}})");
  json t = podTransform()(pod);
  CHECK(t["metadata"]["labels"] == json{{"prefect.io/flowrun", "etl"}});
  CHECK(t["metadata"]["ownerReferences"] == json::array({{{"apiVersion", "batch/v1"},
                                                          {"kind", "Job"},
                                                          {"name", "etl"},
                                                          {"uid", "j1"},
                                                          {"controller", true}}}));
  CHECK(t["spec"] == json{{"containers", {{{"name", "prefect-job"}}}}});
  CHECK(t["status"]["conditions"] == json::array({{{"type", "PodScheduled"}, {"status", "True"}}}));
  const json& c = t["status"]["containerStatuses"][0];
  CHECK(c == json{{"name", "prefect-job"},
                  {"restartCount", 0},
                  {"started", false},
                  {"state",
                   {{"terminated",
                     {{"exitCode", 137},
                      {"reason", "OOMKilled"},
                      {"startedAt", "t1"},
                      {"finishedAt", "t2"}}}}}});
  CHECK(t["status"]["reason"] == "Evicted");
  CHECK_FALSE(t["status"].contains("hostIP"));
  CHECK(firstContainerExitCode(t) == 137);
  CHECK(diagnoseEndedPod(t) == diagnoseEndedPod(pod));

  json job = {{"metadata", {{"name", "etl"}}},
              {"status",
               {{"failed", 1},
                {"ready", 0},
                {"uncountedTerminatedPods", json::object()},
                {"conditions",
                 {{{"type", "FailureTarget"}, {"status", "False"}},
                  {{"type", "Failed"},
                   {"status", "True"},
                   {"reason", "DeadlineExceeded"},
                   {"message", "Job was active longer than specified deadline"},
                   {"lastProbeTime", "t"},
                   {"lastTransitionTime", "t3"}}}}}}};
  json jt = jobTransform()(job);
  CHECK(jt["status"] == json{{"failed", 1},
                             {"conditions",
                              {{{"type", "Failed"},
                                {"status", "True"},
                                {"reason", "DeadlineExceeded"},
                                {"message", "Job was active longer than specified deadline"},
                                {"lastTransitionTime", "t3"}}}}});
  CHECK(trueJobCondition(jt, "Failed"));
}

TEST_CASE("pods are indexed by the name of their FlowRun") {
  auto idx = podIndexers().at(kIndexFlowRun);
  json byOwner = {{"metadata",
                   {{"namespace", "data"},
                    {"ownerReferences",
                     {{{"kind", "FlowRun"},
                       {"apiVersion", "prefect.io/v1alpha1"},
                       {"name", "etl"},
                       {"controller", true}}}}}}};
  json byAnnotation = {
      {"metadata", {{"namespace", "data"}, {"annotations", {{"prefect.io/flowrun-name", "etl"}}}}}};
  CHECK(idx(byOwner) == std::vector<std::string>{"etl"});
  CHECK(idx(byAnnotation) == std::vector<std::string>{"etl"});
  CHECK(idx(json{{"metadata", {{"namespace", "data"}}}}).empty());
}

TEST_CASE("base64 of the API key Secret") {
  CHECK(kube::base64Encode("") == "");
  CHECK(kube::base64Encode("f") == "Zg==");
  CHECK(kube::base64Encode("fo") == "Zm8=");
  CHECK(kube::base64Encode("foo") == "Zm9v");
  CHECK(kube::base64Encode("foobar") == "Zm9vYmFy");
  json fr = {{"apiVersion", "prefect.io/v1alpha1"},
             {"metadata", {{"name", "etl"}, {"namespace", "data"}, {"uid", "fr-uid"}}}};
  json s = apiKeySecretFor(fr, "etl-api-key", "pnu_123");
  CHECK(s["metadata"]["ownerReferences"][0]["uid"] == "fr-uid");
  CHECK(s["metadata"]["ownerReferences"][0]["controller"] == true);
  CHECK(apiKeySecretHolds(s, "pnu_123"));
  CHECK_FALSE(apiKeySecretHolds(s, "other"));
}

TEST_CASE("the decode schemas keep everything the transforms read") {
  // Whole objects as a kubesim or a real API server sends them, managedFields included.
  const json pod = json::parse(R"({"apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "fr-1-5j92g", "namespace": "data", "uid": "47e8", "resourceVersion": "47",
      "generateName": "fr-1-", "creationTimestamp": "2026-12-02T03:33:19Z",
      "deletionTimestamp": "2026-12-02T03:34:19Z", "deletionGracePeriodSeconds": 30,
      "finalizers": ["prefect.io/flowrun-outcome"],
      "annotations": {"prefect.io/flowrun-name": "fr-1", "other": "x"},
      "labels": {"prefect.io/flowrun": "fr-1", "job-name": "fr-1"},
      "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "fr-1", "uid": "75a8",
                           "controller": true, "blockOwnerDeletion": true}],
      "managedFields": [{"manager": "kube-controller-manager", "operation": "Update",
                         "fieldsV1": {"f:metadata": {"f:labels": {}}}}]},
    "spec": {"containers": [{"name": "prefect-job", "image": "kubesim/ok",
                             "env": [{"name": "PREFECT__FLOW_RUN_ID", "value": "0b8c"}]}],
             "nodeName": "kubesim-node", "restartPolicy": "Never"},
    "status": {"phase": "Failed", "reason": "Evicted", "message": "low on memory",
      "startTime": "2026-12-02T03:33:19Z", "hostIP": "10.0.0.10",
      "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                      "message": "0/1 nodes are available", "lastProbeTime": null}],
      "containerStatuses": [{"name": "prefect-job", "image": "kubesim/ok", "imageID": "sha",
        "containerID": "containerd://06", "ready": false, "restartCount": 2, "started": false,
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": "t0"}},
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}}]}})");
  const json job = json::parse(R"({"apiVersion": "batch/v1", "kind": "Job",
    "metadata": {"name": "fr-1", "namespace": "data", "uid": "75a8", "resourceVersion": "46",
      "generation": 1, "creationTimestamp": "2026-12-02T03:33:19Z", "finalizers": [],
      "annotations": {"prefect.io/flowrun-name": "fr-1", "prefect.io/pod-watch-timeout-seconds": "60"},
      "labels": {"prefect.io/flowrun": "fr-1", "prefect.io/cluster-uid": "844f"},
      "ownerReferences": [{"apiVersion": "prefect.io/v1alpha1", "kind": "FlowRun", "name": "fr-1",
                           "uid": "8da4", "controller": true, "blockOwnerDeletion": true}],
      "managedFields": [{"manager": "flowrun-operator", "fieldsV1": {"f:spec": {}}}]},
    "spec": {"backoffLimit": 0, "activeDeadlineSeconds": 600, "completions": 1,
             "template": {"spec": {"containers": [{"name": "prefect-job"}]}}},
    "status": {"active": 1, "failed": 1, "succeeded": 0, "ready": 0, "startTime": "t1",
      "completionTime": "t2", "uncountedTerminatedPods": {},
      "conditions": [{"type": "SuccessCriteriaMet", "status": "True", "message": "m"},
                     {"type": "Failed", "status": "True", "reason": "DeadlineExceeded",
                      "message": "active too long", "lastTransitionTime": "t2",
                      "lastProbeTime": "t2"}]}})");
  const json fr = json::parse(R"({"apiVersion": "prefect.io/v1alpha1", "kind": "FlowRun",
    "metadata": {"name": "fr-1", "namespace": "data", "uid": "8da4", "resourceVersion": "44",
      "generation": 3, "creationTimestamp": "t0", "deletionTimestamp": "t9",
      "finalizers": ["x"], "labels": {"prefect.io/workpool": "pool", "team": "t"},
      "annotations": {"prefect.io/reported-pid": "p", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
      "managedFields": [{"manager": "kubectl"}]},
    "spec": {"flowRunId": "0b8c", "image": "kubesim/ok", "cancel": true,
             "cancelGracePeriodSeconds": 5, "podWatchTimeoutSeconds": 90,
             "variables": {"pod_watch_timeout_seconds": 30, "env": {"A": "B"}},
             "template": {"job_configuration": {}}},
    "status": {"phase": "Running", "jobName": "fr-1", "conditions": [{"type": "Running",
               "status": "True", "message": "m", "lastTransitionTime": "t"}], "exitCode": 0}})");
  struct Kind {
    const json& object;
    kube::Transform transform;
    std::shared_ptr<const json> keep;
  };
  for (const Kind& k :
       {Kind{pod, podTransform(), podFields()}, Kind{job, jobTransform(), jobFields()},
        Kind{fr, flowRunTransform(), flowRunFields()}}) {
    INFO(k.object["kind"]);
    auto decoded = kube::decodeJson(k.object.dump(), k.keep.get());
    REQUIRE(decoded);
    CHECK(k.transform(*decoded) == k.transform(k.object));
    CHECK_FALSE((*decoded)["metadata"].contains("managedFields"));  // never built
  }
}
