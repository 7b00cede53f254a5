// Informer transforms and the object -> FlowRun key mapping.
#include <catch2/catch.hpp>

#include "operator/kube/base64.h"

#include "controllers/flowrun/api_key_secret.h"
#include "controllers/flowrun/diagnosis.h"
#include "controllers/flowrun/status.h"
#include "controllers/flowrun/watches.h"

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
                  {"image", "img"},
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
