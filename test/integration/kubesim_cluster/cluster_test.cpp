// The simulated cluster seen through kubectl: Jobs and their pods play each scenario, the garbage
// collector follows ownerReferences, RBAC allows and denies per rules, faults reach clients.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <mutex>
#include <thread>

#include "test/kubesim/cluster.h"
#include "test/kubesim/simulator.h"
#include "test/support/process.h"

using nlohmann::json;
using testsupport::waitFor;

namespace {

constexpr double kTimeScale = 0.05;

struct Cluster {
  explicit Cluster(bool rbac = false)
      : sim([&] {
          kubesim::SimulatorOptions o;
          o.timeScale = kTimeScale;
          o.rbac = rbac;
          return o;
        }()) {
    sim.start();
    kubeconfig = sim.writeKubeconfig(dir.file("kubeconfig"));
  }
  testsupport::ProcessResult kubectl(const std::vector<std::string>& args,
                                     const std::string& input = "") {
    return testsupport::kubectl(kubeconfig, args, input);
  }
  testsupport::ProcessResult as(const std::string& user, const std::vector<std::string>& args) {
    auto path = dir.file(std::to_string(std::hash<std::string>{}(user)) + ".kubeconfig");
    sim.writeKubeconfig(path, user);
    return testsupport::kubectl(path, args);
  }
  void apply(const std::string& yaml) {
    auto r = kubectl({"apply", "-f", "-"}, yaml);
    INFO(r.err);
    REQUIRE(r.exitCode == 0);
  }
  json get(const std::vector<std::string>& args) {
    std::vector<std::string> a = {"get"};
    a.insert(a.end(), args.begin(), args.end());
    a.push_back("-o");
    a.push_back("json");
    auto r = kubectl(a);
    if (r.exitCode != 0) return json();
    return json::parse(r.out, nullptr, false);
  }
  // Events about one object, oldest first, as "Reason: message".
  std::vector<std::string> events(const std::string& ns, const std::string& name) {
    auto list = get({"events", "-n", ns, "--field-selector", "involvedObject.name=" + name});
    std::vector<json> items;
    if (list.is_object()) {
      for (auto& e : list["items"]) {
        if (e["involvedObject"].value("name", "") == name) items.push_back(e);
      }
    }
    auto rv = [](const json& e) {
      return std::stoll(e["metadata"].value("resourceVersion", std::string("0")));
    };
    std::stable_sort(items.begin(), items.end(),
                     [&](const json& a, const json& b) { return rv(a) < rv(b); });
    std::vector<std::string> out;
    for (auto& e : items) out.push_back(e.value("reason", "") + ": " + e.value("message", ""));
    return out;
  }
  bool hasEvent(const std::string& ns, const std::string& name, const std::string& prefix) {
    for (const auto& e : events(ns, name)) {
      if (e.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }
  json jobPod(const std::string& ns, const std::string& job) {
    auto pods = get({"pods", "-n", ns, "-l", "job-name=" + job});
    if (!pods.is_object() || pods["items"].empty()) return json();
    return pods["items"].back();
  }

  testsupport::TempDir dir;
  kubesim::Simulator sim;
  std::string kubeconfig;
};

std::string jobYaml(const std::string& name, const std::string& scenario,
                    const std::string& extraSpec = "", const std::string& image = "busybox") {
  std::string y = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: " + name +
                  "\n  namespace: default\nspec:\n  backoffLimit: 0\n" + extraSpec +
                  "  template:\n    metadata:\n";
  if (!scenario.empty()) {
    y += "      annotations:\n        kubesim.io/scenario: '" + scenario + "'\n";
  } else {
    y += "      labels: {app: x}\n";
  }
  y += "    spec:\n      restartPolicy: Never\n      containers:\n      - name: main\n        "
       "image: " +
       image + "\n";
  return y;
}

const json* condition(const json& obj, const std::string& type) {
  if (!obj.is_object() || !obj.contains("status") || !obj["status"].is_object()) return nullptr;
  const json& status = obj["status"];
  if (!status.contains("conditions") || !status["conditions"].is_array()) return nullptr;
  for (const auto& c : status["conditions"]) {
    if (c.value("type", "") == type) return &c;
  }
  return nullptr;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool conditionIs(const json& obj, const std::string& type, const std::string& status = "True") {
  const json* c = condition(obj, type);
  return c && c->value("status", "") == status;
}

}  // namespace

TEST_CASE("cluster: a Job's pod runs to success with the status and Events of a real cluster") {
  Cluster c;
  c.apply(jobYaml("ok", "run 2s; log \"hello from kubesim\""));
  json job;
  REQUIRE(waitFor([&] {
    job = c.get({"job", "ok"});
    return conditionIs(job, "Complete");
  }));
  const auto& st = job["status"];
  CHECK(st["succeeded"] == 1);
  CHECK_FALSE(st.contains("active"));
  CHECK(st.contains("startTime"));
  CHECK(st.contains("completionTime"));
  CHECK(conditionIs(job, "SuccessCriteriaMet"));
  CHECK((*condition(job, "Complete"))["reason"] == "CompletionsReached");

  json pod = c.jobPod("default", "ok");
  REQUIRE(pod.is_object());
  const std::string podName = pod["metadata"]["name"];
  CHECK(podName.rfind("ok-", 0) == 0);
  CHECK(podName.size() == 8);
  CHECK(pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "ok");
  CHECK(pod["metadata"]["labels"]["controller-uid"] == job["metadata"]["uid"]);
  CHECK(pod["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]);
  CHECK(pod["spec"]["nodeName"] == "kubesim-node");
  CHECK(pod["status"]["phase"] == "Succeeded");
  const auto& term = pod["status"]["containerStatuses"][0]["state"]["terminated"];
  CHECK(term["exitCode"] == 0);
  CHECK(term["reason"] == "Completed");

  auto podEvents = c.events("default", podName);
  std::vector<std::string> reasons;
  for (const auto& e : podEvents) reasons.push_back(e.substr(0, e.find(':')));
  CHECK(reasons ==
        std::vector<std::string>{"Scheduled", "Pulling", "Pulled", "Created", "Started"});
  CHECK(c.hasEvent("default", "ok", "SuccessfulCreate: Created pod: " + podName));
  CHECK(c.hasEvent("default", "ok", "Completed: Job completed"));

  auto logs = c.kubectl({"logs", "job/ok"});
  CHECK(logs.exitCode == 0);
  CHECK(logs.out == "hello from kubesim\n");
}

TEST_CASE("cluster: exit codes chosen by image, backoffLimit retries, then BackoffLimitExceeded") {
  Cluster c;
  c.apply(jobYaml("fails", "", "  backoffLimit: 1\n", "kubesim/exit:3"));
  json job;
  REQUIRE(waitFor([&] {
    job = c.get({"job", "fails"});
    return conditionIs(job, "Failed");
  }));
  CHECK(job["status"]["failed"] == 2);
  CHECK(conditionIs(job, "FailureTarget"));
  CHECK((*condition(job, "Failed"))["reason"] == "BackoffLimitExceeded");
  CHECK((*condition(job, "Failed"))["message"] == "Job has reached the specified backoff limit");
  auto pods = c.get({"pods", "-l", "job-name=fails"});
  REQUIRE(pods["items"].size() == 2);
  for (const auto& p : pods["items"]) {
    CHECK(p["status"]["phase"] == "Failed");
    CHECK(p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3);
    CHECK(p["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Error");
  }
  CHECK(c.hasEvent("default", "fails",
                   "BackoffLimitExceeded: Job has reached the specified backoff limit"));
}

TEST_CASE("cluster: an unschedulable pod never runs, activeDeadlineSeconds ends the Job") {
  Cluster c;
  c.apply(jobYaml("stuck", "unschedulable", "  activeDeadlineSeconds: 40\n"));
  json pod;
  REQUIRE(waitFor([&] {
    pod = c.jobPod("default", "stuck");
    return conditionIs(pod, "PodScheduled", "False");
  }));
  CHECK((*condition(pod, "PodScheduled"))["reason"] == "Unschedulable");
  CHECK(pod["status"]["phase"] == "Pending");
  const std::string podName = pod["metadata"]["name"];
  REQUIRE(waitFor(
      [&] { return c.hasEvent("default", podName, "FailedScheduling: 0/1 nodes are available"); }));

  json job;
  REQUIRE(waitFor([&] {
    job = c.get({"job", "stuck"});
    return conditionIs(job, "Failed");
  }));
  CHECK((*condition(job, "Failed"))["reason"] == "DeadlineExceeded");
  CHECK(c.hasEvent("default", "stuck", "SuccessfulDelete: Deleted pod: " + podName));
  CHECK(c.hasEvent("default", "stuck",
                   "DeadlineExceeded: Job was active longer than specified deadline"));
  CHECK(waitFor([&] { return c.jobPod("default", "stuck").is_null(); }));
}

TEST_CASE("cluster: image pull failure, OOM and eviction show as a real kubelet shows them") {
  Cluster c;
  c.apply(jobYaml("pull", "", "", "kubesim/image-pull-fail"));
  c.apply(jobYaml("oom", "run 1s; oom"));
  c.apply(jobYaml("evicted", "run 1h; evict after 1s"));
  json pod;
  REQUIRE(waitFor([&] {
    pod = c.jobPod("default", "pull");
    return pod.is_object() && pod["status"].contains("containerStatuses") &&
           pod["status"]["containerStatuses"][0]["state"]
                   .value("waiting", json::object())
                   .value("reason", "") == "ImagePullBackOff";
  }));
  const std::string pullPod = pod["metadata"]["name"];
  CHECK(c.hasEvent("default", pullPod, "Failed: Failed to pull image \"kubesim/image-pull-fail\""));
  CHECK(c.hasEvent("default", pullPod, "Failed: Error: ErrImagePull"));
  CHECK(c.hasEvent("default", pullPod,
                   "BackOff: Back-off pulling image \"kubesim/image-pull-fail\""));
  CHECK(c.hasEvent("default", pullPod, "Failed: Error: ImagePullBackOff"));

  REQUIRE(waitFor([&] { return conditionIs(c.get({"job", "oom"}), "Failed"); }));
  pod = c.jobPod("default", "oom");
  CHECK(pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled");
  CHECK(pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 137);

  REQUIRE(waitFor([&] { return conditionIs(c.get({"job", "evicted"}), "Failed"); }));
  pod = c.jobPod("default", "evicted");
  CHECK(pod["status"]["phase"] == "Failed");
  CHECK(pod["status"]["reason"] == "Evicted");
  CHECK_FALSE(pod["status"]["containerStatuses"][0]["state"].contains("terminated"));
  CHECK(c.hasEvent("default", pod["metadata"]["name"],
                   "Evicted: The node was low on resource: memory."));
}

TEST_CASE("cluster: deleting a pod honours the grace period and SIGTERM handling") {
  Cluster c;
  std::mutex mu;
  std::vector<json> seen;
  int sub = c.sim.store().subscribe([&](const kubesim::StoreEvent& e) {
    if (e.resource != "pods") return;
    std::lock_guard lock(mu);
    seen.push_back(e.object);
  });
  // Ignores SIGTERM for 5s (0.25s real) within a 60s grace period (3s real): exits 143 on its own.
  c.apply(jobYaml("term", "ignore-sigterm 5s; run 1h"));
  json pod;
  REQUIRE(waitFor([&] {
    pod = c.jobPod("default", "term");
    return pod.is_object() && pod["status"].value("phase", "") == "Running";
  }));
  const std::string name = pod["metadata"]["name"];
  auto del = c.kubectl({"delete", "pod", name, "--grace-period=60", "--wait=false"});
  REQUIRE(del.exitCode == 0);
  json terminating = c.get({"pod", name});
  if (terminating.is_object()) CHECK(terminating["metadata"].contains("deletionTimestamp"));
  REQUIRE(waitFor([&] { return c.get({"pod", name}).is_null(); }));
  CHECK(c.hasEvent("default", name, "Killing: Stopping container main"));
  c.sim.store().unsubscribe(sub);
  std::lock_guard lock(mu);
  bool exited143 = false;
  for (const auto& p : seen) {
    if (p["metadata"].value("name", "") != name || !p.contains("status")) continue;
    for (const auto& cs : p["status"].value("containerStatuses", json::array())) {
      if (cs["state"].contains("terminated") && cs["state"]["terminated"]["exitCode"] == 143)
        exited143 = true;
    }
  }
  CHECK(exited143);
}

namespace {

const char* kWidgetCrd = R"(apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
)";

// A Widget owning a long-running Job; returns the widget's uid.
std::string ownedJob(Cluster& c, const std::string& name) {
  c.apply("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: " + name +
          "\n  namespace: default\n");
  std::string uid = c.get({"widget", name})["metadata"]["uid"];
  std::string job = jobYaml(name, "run 1h");
  job.replace(
      job.find("  namespace: default\n"), 21,
      "  namespace: default\n  ownerReferences:\n  - apiVersion: example.com/v1\n    kind: Widget\n"
      "    name: " +
          name + "\n    uid: " + uid + "\n    controller: true\n    blockOwnerDeletion: true\n");
  c.apply(job);
  REQUIRE(waitFor([&] {
    auto p = c.jobPod("default", name);
    return p.is_object() && p["status"].value("phase", "") == "Running";
  }));
  return uid;
}

}  // namespace

TEST_CASE(
    "cluster: garbage collection of a Job owned by a custom resource, per propagation policy") {
  Cluster c;
  c.apply(kWidgetCrd);
  REQUIRE(waitFor([&] { return c.kubectl({"get", "widgets"}).exitCode == 0; }));

  SECTION("Background") {
    ownedJob(c, "bg");
    REQUIRE(c.kubectl({"delete", "widget", "bg", "--cascade=background"}).exitCode == 0);
    CHECK(waitFor([&] { return c.get({"job", "bg"}).is_null(); }));
    CHECK(waitFor([&] { return c.jobPod("default", "bg").is_null(); }));
  }
  SECTION("Foreground: the owner goes last") {
    std::mutex mu;
    std::vector<std::string> deleted;
    int sub = c.sim.store().subscribe([&](const kubesim::StoreEvent& e) {
      if (e.type != kubesim::StoreEvent::Type::Deleted || e.resource == "events") return;
      std::lock_guard lock(mu);
      deleted.push_back(e.resource);
    });
    ownedJob(c, "fg");
    REQUIRE(
        c.kubectl({"delete", "widget", "fg", "--cascade=foreground", "--wait=false"}).exitCode ==
        0);
    json w = c.get({"widget", "fg"});
    if (w.is_object()) {
      auto f = w["metadata"].value("finalizers", json::array());
      CHECK(std::find(f.begin(), f.end(), "foregroundDeletion") != f.end());
    }
    REQUIRE(waitFor([&] { return c.get({"widget", "fg"}).is_null(); }));
    CHECK(c.get({"job", "fg"}).is_null());
    CHECK(c.jobPod("default", "fg").is_null());
    c.sim.store().unsubscribe(sub);
    std::lock_guard lock(mu);
    CHECK(deleted == std::vector<std::string>{"pods", "jobs.batch", "widgets.example.com"});
  }
  SECTION("Orphan") {
    ownedJob(c, "orph");
    REQUIRE(c.kubectl({"delete", "widget", "orph", "--cascade=orphan"}).exitCode == 0);
    REQUIRE(waitFor([&] { return c.get({"widget", "orph"}).is_null(); }));
    json job = c.get({"job", "orph"});
    REQUIRE(job.is_object());
    CHECK(job["metadata"].value("ownerReferences", json::array()).empty());
    CHECK(c.jobPod("default", "orph").is_object());
  }
  SECTION("a dependent whose owner never existed is collected") {
    std::string job = jobYaml("dangling", "run 1h");
    job.replace(job.find("  namespace: default\n"), 21,
                "  namespace: default\n  ownerReferences:\n  - apiVersion: example.com/v1\n    "
                "kind: Widget\n"
                "    name: ghost\n    uid: 00000000-0000-0000-0000-000000000000\n");
    c.apply(job);
    CHECK(waitFor([&] { return c.get({"job", "dangling"}).is_null(); }));
  }
}

TEST_CASE("cluster: ttlSecondsAfterFinished removes the Job and its pod") {
  Cluster c;
  c.apply(jobYaml("ttl", "run 1s", "  ttlSecondsAfterFinished: 20\n"));
  REQUIRE(waitFor([&] { return conditionIs(c.get({"job", "ttl"}), "Complete"); }));
  CHECK(waitFor([&] { return c.get({"job", "ttl"}).is_null(); }));
  CHECK(waitFor([&] { return c.jobPod("default", "ttl").is_null(); }));
}

TEST_CASE("cluster: RBAC allows and denies exactly per Roles and bindings") {
  Cluster c(true);
  c.apply(R"(apiVersion: v1
kind: Namespace
metadata: {name: data}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: runner, namespace: data}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: jobs, namespace: data}
rules:
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, create]
- apiGroups: [batch]
  resources: [jobs/status]
  verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: jobs, namespace: data}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: jobs}
subjects:
- {kind: ServiceAccount, name: runner, namespace: data}
)");
  const std::string sa = "system:serviceaccount:data:runner";
  auto ok = c.as(sa, {"get", "jobs", "-n", "data"});
  INFO(ok.err);
  CHECK(ok.exitCode == 0);

  auto pods = c.as(sa, {"get", "pods", "-n", "data"});
  CHECK(pods.exitCode != 0);
  CHECK(pods.err.find("pods is forbidden: User \"system:serviceaccount:data:runner\" cannot list "
                      "resource \"pods\" in API group \"\" in the namespace \"data\"") !=
        std::string::npos);

  auto other = c.as(sa, {"get", "job", "x", "-n", "default"});
  CHECK(other.err.find("jobs.batch \"x\" is forbidden: User \"system:serviceaccount:data:runner\" "
                       "cannot get resource \"jobs\" in API group \"batch\" in the namespace "
                       "\"default\"") != std::string::npos);

  auto ns = c.as(sa, {"get", "namespace", "kube-system"});
  CHECK(ns.err.find("namespaces \"kube-system\" is forbidden: User "
                    "\"system:serviceaccount:data:runner\" cannot get resource \"namespaces\" in "
                    "API group \"\" at the cluster scope") != std::string::npos);

  auto del = c.as(sa, {"delete", "job", "x", "-n", "data"});
  CHECK(del.err.find("cannot delete resource \"jobs\"") != std::string::npos);

  // The admin endpoint's review agrees, and an added ClusterRoleBinding widens access at once.
  auto review = c.sim.cluster()->reviewAccess(
      {{"user", sa},
       {"groups",
        {"system:serviceaccounts", "system:serviceaccounts:data", "system:authenticated"}},
       {"resourceAttributes",
        {{"verb", "get"},
         {"group", "batch"},
         {"resource", "jobs"},
         {"subresource", "status"},
         {"namespace", "data"},
         {"name", "x"}}}});
  CHECK(review["allowed"] == true);
  c.apply(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: view-pods}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: pod-reader}
subjects:
- {kind: Group, name: "system:serviceaccounts:data"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: pod-reader}
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [list]
)");
  CHECK(c.as(sa, {"get", "pods", "-n", "data"}).exitCode == 0);
  CHECK(c.as(sa, {"get", "pods", "-A"}).exitCode == 0);
}

TEST_CASE("cluster: faults injected through the admin endpoint reach kubectl") {
  Cluster c;
  auto admin = [&](const std::string& path, const std::string& body) {
    std::ofstream(c.dir.file("body.json")) << body;
    return c.kubectl({"create", "--raw", path, "-f", c.dir.file("body.json")});
  };

  SECTION("500 on a resource") {
    REQUIRE(admin("/kubesim/faults", R"({"verb":"list","resource":"jobs","code":500,"count":1})")
                .exitCode == 0);
    auto r = c.kubectl({"get", "jobs"});
    CHECK(r.exitCode != 0);
    CHECK(r.err.find("InternalError") != std::string::npos);
    CHECK(c.kubectl({"get", "jobs"}).exitCode == 0);  // count 1: used up
  }
  SECTION("429 with Retry-After: kubectl retries and succeeds") {
    REQUIRE(
        admin(
            "/kubesim/faults",
            R"({"verb":"list","resource":"configmaps","code":429,"count":2,"retryAfterSeconds":1})")
            .exitCode == 0);
    auto r = c.kubectl({"get", "configmaps"});
    CHECK(r.exitCode == 0);
    CHECK(c.sim.requestLog().count("list", "configmaps", 429) == 2);
  }
  SECTION("503 on a fraction, then cleared") {
    REQUIRE(
        admin("/kubesim/faults", R"({"resource":"secrets","code":503,"fraction":1.0})").exitCode ==
        0);
    auto r = c.kubectl({"get", "secrets"});
    CHECK(r.exitCode != 0);
    CHECK(r.err.find("ServiceUnavailable") != std::string::npos);
    CHECK(c.kubectl({"delete", "--raw", "/kubesim/faults"}).exitCode == 0);
    CHECK(c.kubectl({"get", "secrets"}).exitCode == 0);
  }
  SECTION("the next watch gets 410 Expired") {
    REQUIRE(admin("/kubesim/watches/expire-next", "{}").exitCode == 0);
    // As kube-apiserver does for a too old resourceVersion: the watch answers with an ERROR event
    // carrying a 410 Expired Status, then ends.
    auto r =
        c.kubectl({"get", "--raw", "/api/v1/namespaces/default/pods?watch=1&resourceVersion=1"});
    auto line = json::parse(r.out.substr(0, r.out.find('\n')), nullptr, false);
    REQUIRE(line.is_object());
    CHECK(line["type"] == "ERROR");
    CHECK(line["object"]["code"] == 410);
    CHECK(line["object"]["reason"] == "Expired");
    // Only the next one.
    auto faults = json::parse(c.kubectl({"get", "--raw", "/kubesim/faults"}).out, nullptr, false);
    CHECK(faults["expireNextWatches"] == 0);
  }
  SECTION("closing every watch ends an open kubectl watch") {
    testsupport::ProcessResult watch;
    std::atomic<bool> done{false};
    std::thread t([&] {
      watch = testsupport::runProcess(
          {"kubectl", "--kubeconfig", c.kubeconfig, "get", "pods", "--watch"}, {}, "",
          std::chrono::seconds(30));
      done = true;
    });
    // The watch may not be open yet when the first close arrives: close until kubectl returns.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (!done && std::chrono::steady_clock::now() < deadline) {
      admin("/kubesim/watches/close", "{}");
      waitFor([&] { return done.load(); }, std::chrono::milliseconds(500));
    }
    t.join();
    CHECK(done);
    CHECK_FALSE(watch.timedOut);
  }
  SECTION("an outage: requests hang until it ends") {
    REQUIRE(admin("/kubesim/outage", R"({"seconds":5})").exitCode == 0);
    auto r = c.kubectl({"get", "pods", "--request-timeout=500ms"});
    CHECK(r.exitCode != 0);
    CHECK(waitFor(
        [&] {
          return c.kubectl({"get", "pods", "--request-timeout=5s"}).exitCode == 0;
        },
        std::chrono::seconds(10)));
  }
}

TEST_CASE(
    "cluster: after a restart with the same data a running pod runs on and its Job completes") {
  testsupport::TempDir dir;
  kubesim::SimulatorOptions o;
  o.timeScale = kTimeScale;
  o.dataDir = dir.file("data");
  std::string kubeconfig;
  {
    kubesim::Simulator first(o);
    first.start();
    kubeconfig = first.writeKubeconfig(dir.file("kubeconfig"));
    auto r = testsupport::kubectl(kubeconfig, {"apply", "-f", "-"}, jobYaml("long", "run 60s"));
    REQUIRE(r.exitCode == 0);
    REQUIRE(waitFor([&] {
      for (const auto& p : first.store().list("pods", "default")) {
        if (p["status"].value("phase", "") == "Running") return true;
      }
      return false;
    }));
    first.stop();
  }
  kubesim::Simulator second(o);
  second.start();
  kubeconfig = second.writeKubeconfig(dir.file("kubeconfig"));
  auto pods = second.store().list("pods", "default");
  REQUIRE(pods.size() == 1);
  CHECK(pods[0]["status"]["phase"] == "Running");
  CHECK(waitFor(
      [&] {
        auto r = testsupport::kubectl(kubeconfig, {"get", "job", "long", "-o", "json"});
        auto job = json::parse(r.out, nullptr, false);
        return conditionIs(job, "Complete");
      },
      std::chrono::seconds(30)));
}

TEST_CASE("cluster: kubectl auth can-i --as answers per rules, and impersonating is authorized") {
  Cluster c(true);
  c.apply(R"(apiVersion: v1
kind: Namespace
metadata: {name: team}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: runner, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: runner, namespace: team}
rules:
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [""]
  resources: [configmaps]
  resourceNames: [cluster-identity]
  verbs: [get]
- apiGroups: [prefect.io]
  resources: ["*"]
  verbs: ["*"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: runner, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: runner}
subjects:
- {kind: ServiceAccount, name: runner, namespace: team}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: lease-user}
rules:
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: devs-leases, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: lease-user}
subjects:
- {kind: Group, name: devs}
)");
  REQUIRE(c.kubectl({"apply", "-f", testsupport::sourceDir() + "/crds/flowrun.yaml"}).exitCode ==
          0);
  const std::string sa = "system:serviceaccount:team:runner";
  // kubectl auth can-i exits 0 for yes and 1 for no; each case is one rule's edge.
  struct Case {
    std::vector<std::string> args;
    std::string as;
    std::vector<std::string> groups;
    bool allowed;
  };
  const std::vector<Case> cases = {
      {{"get", "jobs"}, sa, {}, true},
      {{"create", "jobs.batch"}, sa, {}, true},
      {{"delete", "jobs"}, sa, {}, false},
      {{"get", "jobs", "--subresource=status"}, sa, {}, false},  // jobs does not cover jobs/status
      {{"get", "pods", "--subresource=log"}, sa, {}, true},
      {{"get", "pods"}, sa, {}, false},  // pods/log does not cover pods
      {{"get", "configmaps/cluster-identity"}, sa, {}, true},
      {{"get", "configmaps/other"}, sa, {}, false},
      {{"list", "configmaps"}, sa, {}, false},  // resourceNames never allow list
      {{"patch", "flowruns.prefect.io/x"}, sa, {}, true},
      {{"update", "flowruns", "--subresource=status"}, sa, {}, true},  // "*" covers subresources
      {{"get", "jobs", "-n", "default"}, sa, {}, false},               // a Role stays in its ns
      {{"get", "leases"}, "bob", {"devs"}, true},
      {{"get", "leases"}, "bob", {}, false},
      {{"get", "leases", "-n", "default"}, "bob", {"devs"}, false},
  };
  for (const auto& k : cases) {
    std::vector<std::string> args = {"auth", "can-i"};
    args.insert(args.end(), k.args.begin(), k.args.end());
    if (std::find(k.args.begin(), k.args.end(), "-n") == k.args.end()) {
      args.insert(args.end(), {"-n", "team"});
    }
    args.push_back("--as=" + k.as);
    for (const auto& g : k.groups) args.push_back("--as-group=" + g);
    auto r = c.kubectl(args);
    std::string shown;
    for (const auto& a : args) shown += a + " ";
    INFO(shown << "-> " << r.out << r.err);
    CHECK(r.exitCode == (k.allowed ? 0 : 1));
    CHECK(trimmed(r.out) == (k.allowed ? "yes" : "no"));
  }

  // The impersonated user is who the server sees: whoami, and a real request's denial.
  auto who = c.kubectl({"auth", "whoami", "--as=" + sa, "-o", "json"});
  REQUIRE(who.exitCode == 0);
  auto info = json::parse(who.out)["status"]["userInfo"];
  CHECK(info["username"] == sa);
  CHECK(info["groups"] ==
        json{"system:serviceaccounts", "system:serviceaccounts:team", "system:authenticated"});
  auto pods = c.kubectl({"get", "pods", "-n", "team", "--as=" + sa});
  CHECK(pods.exitCode != 0);
  CHECK(pods.err.find("pods is forbidden: User \"system:serviceaccount:team:runner\" cannot list "
                      "resource \"pods\" in API group \"\" in the namespace \"team\"") !=
        std::string::npos);
  CHECK(c.sim.requestLog().count("list", "pods", 403, "team") == 1);

  // can-i --list shows the Role's rules in its namespace, and not elsewhere.
  auto list = c.kubectl({"auth", "can-i", "--list", "-n", "team", "--as=" + sa});
  REQUIRE(list.exitCode == 0);
  CHECK(list.out.find("jobs.batch") != std::string::npos);
  CHECK(list.out.find("[cluster-identity]") != std::string::npos);
  auto elsewhere = c.kubectl({"auth", "can-i", "--list", "-n", "default", "--as=" + sa});
  CHECK(elsewhere.out.find("jobs.batch") == std::string::npos);

  // Impersonating needs the impersonate verb: the service account has none.
  auto denied = c.as(sa, {"get", "jobs", "-n", "team", "--as=bob"});
  CHECK(denied.exitCode != 0);
  CHECK(denied.err.find("users \"bob\" is forbidden: User \"system:serviceaccount:team:runner\" "
                        "cannot impersonate resource \"users\" in API group \"\" at the cluster "
                        "scope") != std::string::npos);
  // Granted for one user, it works for that user only.
  c.apply(R"(apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: impersonate-bob}
rules:
- apiGroups: [""]
  resources: [users]
  resourceNames: [bob]
  verbs: [impersonate]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: runner-impersonates-bob}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: impersonate-bob}
subjects:
- {kind: ServiceAccount, name: runner, namespace: team}
)");
  auto asBob = c.as(sa, {"auth", "whoami", "--as=bob", "-o", "json"});
  INFO(asBob.err);
  REQUIRE(asBob.exitCode == 0);
  CHECK(json::parse(asBob.out)["status"]["userInfo"]["username"] == "bob");
  CHECK(c.as(sa, {"auth", "whoami", "--as=carol"}).exitCode != 0);
  // The admin can fetch a kubeconfig with the ServiceAccount's own token; the SA cannot.
  auto fetched = c.kubectl({"get", "--raw", "/kubesim/kubeconfig?user=" + sa});
  REQUIRE(fetched.exitCode == 0);
  std::ofstream(c.dir.file("runner.kubeconfig")) << fetched.out;
  auto self = testsupport::kubectl(c.dir.file("runner.kubeconfig"), {"auth", "whoami"});
  CHECK(self.out.find(sa) != std::string::npos);
  auto notAdmin = testsupport::kubectl(c.dir.file("runner.kubeconfig"),
                                       {"get", "--raw", "/kubesim/kubeconfig?user=admin"});
  CHECK(notAdmin.exitCode != 0);
  CHECK(notAdmin.err.find("cannot get path \"/kubesim/kubeconfig\"") != std::string::npos);
  // Each asked-for group needs its own grant: no escalation to system:masters.
  auto escalate = c.as(sa, {"get", "pods", "-n", "team", "--as=bob", "--as-group=system:masters"});
  CHECK(escalate.exitCode != 0);
  CHECK(escalate.err.find("groups \"system:masters\" is forbidden: User "
                          "\"system:serviceaccount:team:runner\" cannot impersonate resource "
                          "\"groups\" in API group \"\" at the cluster scope") !=
        std::string::npos);
}

TEST_CASE(
    "cluster: a container's env reads ConfigMaps and Secrets and a missing one holds the pod") {
  Cluster c;
  c.apply(R"y(apiVersion: v1
kind: Secret
metadata: {name: api, namespace: default}
stringData: {key: s3cret}
---
apiVersion: v1
kind: Pod
metadata:
  name: reader
  namespace: default
  annotations:
    kubesim.io/scenario: 'log "cluster=$(CLUSTER_UID) key=$(API_KEY) pod=$(POD)"; run 1s'
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    env:
    - name: CLUSTER_UID
      valueFrom:
        configMapKeyRef: {name: identity, key: uid}
    - name: API_KEY
      valueFrom:
        secretKeyRef: {name: api, key: key}
    - name: POD
      valueFrom:
        fieldRef: {fieldPath: metadata.name}
)y");
  auto field = [&](const json::json_pointer& at) {
    auto pod = c.get({"pod", "reader"});
    try {
      return pod.at(at).get<std::string>();
    } catch (const json::exception&) {
      return std::string();
    }
  };
  // Until the ConfigMap exists the container is not created, as a kubelet reports it.
  REQUIRE(waitFor([&] {
    return field("/status/containerStatuses/0/state/waiting/reason"_json_pointer) ==
           "CreateContainerConfigError";
  }));
  CHECK(field("/status/phase"_json_pointer) == "Pending");
  CHECK(field("/status/containerStatuses/0/state/waiting/message"_json_pointer) ==
        "configmap \"identity\" not found");
  CHECK(c.hasEvent("default", "reader", "Failed: Error: configmap \"identity\" not found"));
  auto table = c.kubectl({"get", "pod", "reader"});
  CHECK(table.out.find("CreateContainerConfigError") != std::string::npos);

  // Publishing the ConfigMap lets it start; its log line shows what the env held.
  c.apply(R"(apiVersion: v1
kind: ConfigMap
metadata: {name: identity, namespace: default}
data: {uid: 6f1c2a8e-0000-4000-8000-000000000001}
)");
  REQUIRE(waitFor([&] { return field("/status/phase"_json_pointer) == "Succeeded"; }));
  auto logs = c.kubectl({"logs", "reader"});
  CHECK(trimmed(logs.out) == "cluster=6f1c2a8e-0000-4000-8000-000000000001 key=s3cret pod=reader");
  CHECK(c.hasEvent("default", "reader", "Started: Started container main"));
  // Every attempt said Pulled before Failed, as a kubelet does; after the first, the image is
  // already there.
  CHECK(c.hasEvent("default", "reader",
                   "Pulled: Container image \"busybox\" already present on machine"));
  CHECK(c.hasEvent("default", "reader", "Pulled: Successfully pulled image \"busybox\""));
}

TEST_CASE("cluster: kubesim --fault flags fail and delay requests from the start") {
  testsupport::TempDir dir;
  const std::string kubesim = testsupport::binaryDir() + "/test/kubesim/kubesim";
  const std::string kubeconfig = dir.file("kubeconfig");
  testsupport::BackgroundProcess sim(
      {kubesim, "--port", "0", "--kubeconfig-out", kubeconfig, "--fault",
       "verb=create,resource=configmaps,code=409,count=1", "--fault",
       R"({"verbs":["list"],"resource":"secrets","delayMs":800})", "--fault",
       "verb=list,resource=jobs.batch,code=429,count=1,retryAfterSeconds=1"},
      dir.file("kubesim.log"));
  REQUIRE(waitFor([&] { return sim.log().find("kubesim listening on") != std::string::npos; }));

  // 409 once, then the rule is used up.
  auto first = testsupport::kubectl(kubeconfig, {"create", "configmap", "x"});
  CHECK(first.exitCode != 0);
  CHECK(first.err.find("Operation cannot be fulfilled") != std::string::npos);
  CHECK(testsupport::kubectl(kubeconfig, {"create", "configmap", "x"}).exitCode == 0);

  // A delay is seen as time: the answer comes no sooner than 800 ms.
  auto start = std::chrono::steady_clock::now();
  CHECK(testsupport::kubectl(kubeconfig, {"get", "secrets"}).exitCode == 0);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(800));

  // 429 with Retry-After: kubectl waits and retries by itself.
  CHECK(testsupport::kubectl(kubeconfig, {"get", "jobs"}).exitCode == 0);
  // The counted rules are used up and gone; the request log shows each injected answer.
  auto faults = json::parse(
      testsupport::kubectl(kubeconfig, {"get", "--raw", "/kubesim/faults"}).out, nullptr, false);
  REQUIRE(faults.is_object());
  REQUIRE(faults["rules"].size() == 1);
  CHECK(faults["rules"][0]["delayMs"] == 800);
  CHECK(faults["rules"][0]["injected"] == 1);
  auto log = json::parse(
      testsupport::kubectl(kubeconfig, {"get", "--raw", "/kubesim/requests"}).out, nullptr, false);
  REQUIRE(log.is_object());
  int conflicts = 0, throttled = 0;
  for (const auto& r : log["requests"]) {
    if (r["verb"] == "create" && r["resource"] == "configmaps" && r["code"] == 409) ++conflicts;
    if (r["verb"] == "list" && r["resource"] == "jobs" && r["code"] == 429) ++throttled;
  }
  CHECK(conflicts == 1);
  CHECK(throttled == 1);

  sim.signal(SIGTERM);
  CHECK(sim.wait() == 0);

  // A bad rule stops kubesim before it listens, saying what is wrong.
  auto bad = testsupport::runProcess({kubesim, "--fault", "verb=get,code=418"});
  CHECK(bad.exitCode == 2);
  CHECK(bad.err.find("kubesim: --fault verb=get,code=418: fault rule: code: unsupported status "
                     "code 418") != std::string::npos);
}

TEST_CASE("cluster: the scheduler writes events.k8s.io/v1 Events, read as core/v1 too") {
  Cluster c;
  c.apply(jobYaml("pending", "unschedulable"));
  json pod;
  REQUIRE(waitFor([&] {
    pod = c.jobPod("default", "pending");
    return conditionIs(pod, "PodScheduled", "False");
  }));
  const std::string podName = pod["metadata"]["name"];
  json v1;
  REQUIRE(waitFor([&] {
    auto list = c.get({"events.v1.events.k8s.io", "-n", "default", "--field-selector",
                       "regarding.name=" + podName});
    if (!list.is_object() || list["items"].empty()) return false;
    v1 = list["items"][0];
    return true;
  }));
  CHECK(v1["apiVersion"] == "events.k8s.io/v1");
  CHECK(v1["reportingController"] == "default-scheduler");
  CHECK(v1["action"] == "Scheduling");
  CHECK(v1["reason"] == "FailedScheduling");
  CHECK(v1["type"] == "Warning");
  CHECK_THAT(v1["note"].get<std::string>(), Catch::StartsWith("0/1 nodes are available"));
  CHECK(v1["regarding"]["kind"] == "Pod");
  CHECK(v1["regarding"]["uid"] == pod["metadata"]["uid"]);
  CHECK(v1["eventTime"].is_string());
  CHECK_FALSE(v1.contains("deprecatedSource"));
  CHECK_FALSE(v1.contains("deprecatedCount"));
  // The core/v1 view, as the API server converts it: message, reportingComponent, no source.
  auto core = c.get({"event", "-n", "default", v1["metadata"]["name"].get<std::string>()});
  REQUIRE(core.is_object());
  CHECK(core["involvedObject"]["name"] == podName);
  CHECK(core["message"] == v1["note"]);
  CHECK(core["reportingComponent"] == "default-scheduler");
  CHECK(core["action"] == "Scheduling");
  CHECK(core.value("count", 0) == 0);
  CHECK(core.value("lastTimestamp", json()).is_null());
  CHECK(c.hasEvent("default", podName, "FailedScheduling: 0/1 nodes are available"));
}

TEST_CASE("cluster: with a discovery delay the garbage collector learns a new CRD late") {
  testsupport::TempDir dir;
  kubesim::SimulatorOptions o;
  o.timeScale = kTimeScale;
  o.gcDiscoveryDelaySeconds = 40;  // 2 s at this time scale
  kubesim::Simulator sim(o);
  sim.start();
  const auto kc = sim.writeKubeconfig(dir.file("kubeconfig"));
  auto run = [&](const std::vector<std::string>& args, const std::string& in = "") {
    auto r = testsupport::kubectl(kc, args, in);
    INFO("kubectl " << args[0] << ": " << r.out << r.err);
    REQUIRE(r.exitCode == 0);
    return r;
  };
  const auto crdAt = std::chrono::steady_clock::now();
  run({"apply", "-f", "-"},
      "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
      "  name: widgets.example.io\nspec:\n  group: example.io\n  scope: Namespaced\n"
      "  names:\n    plural: widgets\n    kind: Widget\n  versions:\n  - name: v1\n"
      "    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n"
      "        type: object\n        x-kubernetes-preserve-unknown-fields: true\n");
  run({"apply", "-f", "-"}, "apiVersion: example.io/v1\nkind: Widget\nmetadata:\n  name: w\n");
  run({"create", "configmap", "owner"});
  const std::string widgetUid = run({"get", "widget", "w", "-o", "jsonpath={.metadata.uid}"}).out;
  const std::string ownerUid =
      run({"get", "configmap", "owner", "-o", "jsonpath={.metadata.uid}"}).out;
  auto dependent = [](const std::string& name, const std::string& apiVersion,
                      const std::string& kind, const std::string& owner, const std::string& uid) {
    return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + name +
           "\n  ownerReferences:\n  - apiVersion: " + apiVersion + "\n    kind: " + kind +
           "\n    name: " + owner + "\n    uid: " + uid + "\n";
  };
  run({"apply", "-f", "-"}, dependent("of-widget", "example.io/v1", "Widget", "w", widgetUid));
  run({"apply", "-f", "-"}, dependent("of-configmap", "v1", "ConfigMap", "owner", ownerUid));
  run({"delete", "widget", "w"});
  run({"delete", "configmap", "owner"});
  auto exists = [&](const std::string& name) {
    return testsupport::kubectl(kc, {"get", "configmap", name}).exitCode == 0;
  };
  // The built-in owner's dependent goes at once; the Widget's waits for the discovery refresh.
  REQUIRE(waitFor([&] { return !exists("of-configmap"); }));
  if (std::chrono::steady_clock::now() - crdAt < std::chrono::milliseconds(1500))
    CHECK(exists("of-widget"));
  REQUIRE(waitFor([&] { return !exists("of-widget"); }));
  CHECK(std::chrono::steady_clock::now() - crdAt >= std::chrono::milliseconds(1900));
}
