// The kubectl plugin (scripts/kubectl-flowrun) driven the way a user runs it, `kubectl flowrun
// ...`, against an in-process kubesim with the CRDs applied. No operator: each test writes the
// FlowRun's status itself with `kubectl patch --subresource status`, so what is checked is the
// plugin.
#include <catch2/catch.hpp>

#include <cctype>
#include <cstdlib>
#include <future>
#include <map>
#include <string>
#include <vector>

#include "test/kubesim/simulator.h"
#include "test/support/process.h"

namespace {

using testsupport::ProcessResult;

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::string describe(const ProcessResult& r) {
  return "exit " + std::to_string(r.exitCode) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

// A simulated cluster with the CRDs and the namespace `data`, and a way to run the plugin.
class PluginCluster {
 public:
  PluginCluster() : sim_(options()) {
    sim_.start();
    kubeconfig_ = sim_.writeKubeconfig(dir_.file("kubeconfig"));
    mustKubectl({"apply", "-f", testsupport::sourceDir() + "/crds/flowrun.yaml", "-f",
                 testsupport::sourceDir() + "/crds/clusteridentity.yaml"});
    mustKubectl(
        {"wait", "--for=condition=Established", "--timeout=20s", "crd/flowruns.prefect.io"});
    mustKubectl({"apply", "-f", "-"}, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: data\n");
  }

  // kubectl as a test helper (not the plugin); fails the test when it fails.
  ProcessResult mustKubectl(const std::vector<std::string>& args, const std::string& input = "") {
    auto r = testsupport::kubectl(kubeconfig_, args, input);
    INFO("kubectl " << join(args) << "\n" << describe(r));
    REQUIRE(r.exitCode == 0);
    return r;
  }

  // `kubectl flowrun ARGS...` with the plugin on PATH, as a user would have it.
  ProcessResult plugin(const std::vector<std::string>& args,
                       std::chrono::milliseconds deadline = std::chrono::seconds(30)) {
    std::vector<std::string> argv = {"kubectl", "flowrun"};
    argv.insert(argv.end(), args.begin(), args.end());
    const char* path = std::getenv("PATH");
    std::map<std::string, std::string> env = {
        {"PATH", testsupport::sourceDir() + "/scripts:" + (path ? path : "/usr/bin:/bin")},
        {"KUBECONFIG", kubeconfig_},
        {"KUBECACHEDIR", dir_.file("kubectl-cache")},
    };
    return testsupport::runProcess(argv, env, "", deadline);
  }

  void createFlowRun(const std::string& ns, const std::string& name, bool cancel = false) {
    mustKubectl({"apply", "-n", ns, "-f", "-"},
                "apiVersion: prefect.io/v1alpha1\nkind: FlowRun\nmetadata:\n  name: " + name +
                    "\nspec:\n  image: kubesim/run:1h\n  cancel: " + (cancel ? "true" : "false") +
                    "\n");
  }

  void setStatus(const std::string& ns, const std::string& name, const std::string& statusJson) {
    mustKubectl({"patch", "flowrun", name, "-n", ns, "--subresource=status", "--type=merge", "-p",
                 "{\"status\":" + statusJson + "}"});
  }

  // A core/v1 Event about `kind/name`, as the operator, scheduler or kubelet would write it.
  void createEvent(const std::string& ns, const std::string& eventName, const std::string& kind,
                   const std::string& apiVersion, const std::string& name, const std::string& type,
                   const std::string& reason, const std::string& message, const std::string& time) {
    mustKubectl({"create", "-n", ns, "-f", "-"},
                "apiVersion: v1\nkind: Event\nmetadata:\n  name: " + eventName +
                    "\ninvolvedObject:\n  kind: " + kind + "\n  apiVersion: " + apiVersion +
                    "\n  name: " + name + "\n  namespace: " + ns + "\ntype: " + type +
                    "\nreason: " + reason + "\nmessage: \"" + message + "\"\nfirstTimestamp: \"" +
                    time + "\"\nlastTimestamp: \"" + time +
                    "\"\ncount: 1\nsource:\n  component: test\n");
  }

  const std::string& kubeconfig() const { return kubeconfig_; }

 private:
  static kubesim::SimulatorOptions options() {
    kubesim::SimulatorOptions o;
    o.timeScale = 0.1;
    return o;
  }
  static std::string join(const std::vector<std::string>& args) {
    std::string s;
    for (const auto& a : args) s += (s.empty() ? "" : " ") + a;
    return s;
  }

  testsupport::TempDir dir_;
  kubesim::Simulator sim_;
  std::string kubeconfig_;
};

// One "Label:   value" line of `kubectl flowrun status` (labels padded to 18 columns).
std::string field(const std::string& label, const std::string& value) {
  std::string text = label + ":";
  if (text.size() < 18) text.resize(18, ' ');
  return text + " " + value + "\n";
}

const std::string kPid = "6f0c6f9e-0d4b-4c1e-9f55-2b8f3d1f8a31:data:etl";

}  // namespace

TEST_CASE("kubectl flowrun status shows phase, reason, message, PID and the run's recent Events") {
  PluginCluster c;
  c.createFlowRun("data", "etl");
  c.setStatus(
      "data", "etl",
      R"({"phase":"Crashed","reason":"Unschedulable","message":"The pod did not start within 60s: 0/3 nodes are available","jobName":"etl","podName":"etl-x7k2p","infrastructurePid":")" +
          kPid + R"(","observedGeneration":1})");
  c.createEvent("data", "etl.1", "FlowRun", "prefect.io/v1alpha1", "etl", "Normal", "JobCreated",
                "Created Job etl", "2026-11-23T18:00:01Z");
  c.createEvent("data", "etl-x7k2p.1", "Pod", "v1", "etl-x7k2p", "Warning", "FailedScheduling",
                "0/3 nodes are available: 3 Insufficient memory.", "2026-11-23T18:00:02Z");
  c.createEvent("data", "etl.2", "FlowRun", "prefect.io/v1alpha1", "etl", "Warning", "Crashed",
                "The pod did not start within 60s", "2026-11-23T18:01:01Z");
  // Events of other objects must not show up.
  c.createEvent("data", "other.1", "Pod", "v1", "other-pod", "Warning", "BackOff",
                "unrelated pod event", "2026-11-23T18:00:03Z");
  c.createEvent("data", "other.2", "FlowRun", "prefect.io/v1alpha1", "etl-2", "Normal",
                "JobCreated", "unrelated flowrun event", "2026-11-23T18:00:04Z");

  auto r = c.plugin({"status", "etl", "-n", "data"});
  INFO(describe(r));
  REQUIRE(r.exitCode == 0);
  CHECK(contains(r.out, field("Phase", "Crashed")));
  CHECK(contains(r.out, field("Reason", "Unschedulable")));
  CHECK(contains(r.out,
                 field("Message", "The pod did not start within 60s: 0/3 nodes are available")));
  CHECK(contains(r.out, field("Pod", "etl-x7k2p")));
  CHECK(contains(r.out, field("Infrastructure PID", kPid)));
  CHECK(contains(r.out, "FailedScheduling"));
  CHECK(contains(r.out, "Pod/etl-x7k2p"));
  CHECK(contains(r.out, "0/3 nodes are available: 3 Insufficient memory."));
  CHECK(contains(r.out, "FlowRun/etl"));
  CHECK_FALSE(contains(r.out, "unrelated"));
  // Oldest first, newest last.
  auto created = r.out.find("JobCreated");
  auto scheduling = r.out.find("FailedScheduling");
  auto crashed = r.out.find("Crashed ", r.out.find("Events:"));
  REQUIRE(created != std::string::npos);
  REQUIRE(scheduling != std::string::npos);
  REQUIRE(crashed != std::string::npos);
  CHECK(created < scheduling);
  CHECK(scheduling < crashed);

  SECTION("--events limits the list to the most recent ones") {
    auto few = c.plugin({"status", "etl", "--namespace=data", "--events", "1"});
    INFO(describe(few));
    REQUIRE(few.exitCode == 0);
    CHECK_FALSE(contains(few.out, "JobCreated"));
    CHECK_FALSE(contains(few.out, "FailedScheduling"));
    CHECK(contains(few.out, "The pod did not start within 60s\n"));
  }
}

TEST_CASE("kubectl flowrun status of a new FlowRun and of a missing one") {
  PluginCluster c;
  c.createFlowRun("default", "fresh");

  // No -n: the context's namespace (default), as kubectl does.
  auto fresh = c.plugin({"status", "fresh"});
  INFO(describe(fresh));
  REQUIRE(fresh.exitCode == 0);
  CHECK(contains(fresh.out, "no status yet"));
  CHECK(contains(fresh.out, "(none)"));

  auto missing = c.plugin({"status", "nope", "-n", "data"});
  INFO(describe(missing));
  CHECK(missing.exitCode == 2);
  CHECK(contains(missing.err, "\"nope\" not found"));
}

TEST_CASE("kubectl flowrun cancel sets spec.cancel, and status shows the pending request") {
  PluginCluster c;
  c.createFlowRun("data", "long");
  c.setStatus("data", "long",
              R"({"phase":"Running","reason":"PodRunning","observedGeneration":1})");

  auto r = c.plugin({"cancel", "long", "-n", "data"});
  INFO(describe(r));
  REQUIRE(r.exitCode == 0);
  CHECK(contains(r.out, "flowrun.prefect.io/long: cancel requested"));
  auto spec =
      c.mustKubectl({"get", "flowrun", "long", "-n", "data", "-o", "jsonpath={.spec.cancel}"});
  CHECK(spec.out == "true");

  auto status = c.plugin({"status", "long", "-n", "data"});
  CHECK(contains(status.out, field("Cancel requested", "yes (not yet seen by the operator)")));
  c.setStatus(
      "data", "long",
      R"({"phase":"Cancelling","reason":"CancelRequested","cancelRequestedAt":"2026-11-23T18:00:30Z"})");
  status = c.plugin({"status", "long", "-n", "data"});
  CHECK(contains(status.out, field("Cancel requested", "2026-11-23T18:00:30Z")));

  auto missing = c.plugin({"cancel", "nope", "-n", "data"});
  CHECK(missing.exitCode == 2);
  CHECK(contains(missing.err, "not found"));
}

TEST_CASE("kubectl flowrun wait exits 0 only for Succeeded") {
  PluginCluster c;
  struct Case {
    std::string phase;
    int exitCode;
  };
  for (const auto& [phase, code] :
       std::vector<Case>{{"Succeeded", 0}, {"Failed", 1}, {"Crashed", 1}, {"Cancelled", 1}}) {
    std::string name = "done-" + phase;
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    c.createFlowRun("data", name);
    c.setStatus("data", name,
                R"({"phase":")" + phase + R"(","reason":"R)" + phase + R"(","message":"m"})");
    auto r = c.plugin({"wait", name, "-n", "data", "--timeout", "20s"});
    INFO(phase << "\n" << describe(r));
    CHECK(r.exitCode == code);
    CHECK(contains(r.out, "flowrun.prefect.io/" + name + " " + phase + " (R" + phase + "): m"));
  }
}

TEST_CASE("kubectl flowrun wait follows a run until it ends, and times out while it runs") {
  PluginCluster c;
  c.createFlowRun("data", "live");
  c.setStatus("data", "live", R"({"phase":"Running","reason":"PodRunning"})");

  SECTION("times out with exit 3 while the run is not terminal") {
    auto r = c.plugin({"wait", "live", "-n", "data", "--timeout=500ms", "--interval=100ms"});
    INFO(describe(r));
    CHECK(r.exitCode == 3);
    CHECK(contains(r.err, "timed out waiting for FlowRun live (phase Running, PodRunning)"));
  }

  SECTION("returns when the run reaches a terminal phase") {
    auto waiting = std::async(std::launch::async, [&] {
      return c.plugin({"wait", "live", "-n", "data", "--timeout", "30s", "--interval", "100ms"});
    });
    // Still running: the wait must not have returned on a non-terminal phase.
    CHECK(waiting.wait_for(std::chrono::milliseconds(300)) == std::future_status::timeout);
    c.setStatus(
        "data", "live",
        R"({"phase":"Failed","reason":"ExitCode","message":"The flow container exited with code 3","exitCode":3})");
    auto r = waiting.get();
    INFO(describe(r));
    CHECK(r.exitCode == 1);
    CHECK(contains(r.out, "Failed (ExitCode): The flow container exited with code 3"));
  }

  SECTION("a missing FlowRun is an error, not a wait") {
    auto r = c.plugin({"wait", "nope", "-n", "data", "--timeout", "10s"});
    CHECK(r.exitCode == 2);
  }
}

TEST_CASE("kubectl flowrun logs prints the logs of the pod named in status.podName") {
  PluginCluster c;
  // The flow's pod, as the Job controller would create it; kubesim's kubelet runs the scenario
  // in the annotation and serves what it prints on pods/log.
  c.mustKubectl({"apply", "-n", "data", "-f", "-"}, R"(apiVersion: v1
kind: Pod
metadata:
  name: etl-x7k2p
  annotations:
    kubesim.io/scenario: 'log "hello from the flow"; log "second line"; run 1h'
spec:
  restartPolicy: Never
  containers:
    - name: prefect-job
      image: prefecthq/prefect:3-latest
)");
  REQUIRE(testsupport::waitFor(
      [&] {
        auto r = testsupport::kubectl(c.kubeconfig(), {"logs", "-n", "data", "etl-x7k2p"});
        return r.exitCode == 0 && contains(r.out, "second line");
      },
      std::chrono::seconds(20), std::chrono::milliseconds(50)));

  c.createFlowRun("data", "etl");
  SECTION("before the pod exists the plugin says so") {
    c.setStatus("data", "etl", R"({"phase":"Pending","reason":"JobCreated"})");
    auto r = c.plugin({"logs", "etl", "-n", "data"});
    INFO(describe(r));
    CHECK(r.exitCode == 2);
    CHECK(contains(r.err, "FlowRun etl has no pod yet (phase Pending, reason JobCreated)"));
  }
  SECTION("with status.podName it prints the pod's logs") {
    c.setStatus("data", "etl",
                R"({"phase":"Running","reason":"PodRunning","podName":"etl-x7k2p"})");
    auto r = c.plugin({"logs", "etl", "-n", "data"});
    INFO(describe(r));
    REQUIRE(r.exitCode == 0);
    CHECK(contains(r.out, "hello from the flow\n"));
    CHECK(contains(r.out, "second line"));
    // Arguments after -- go to kubectl logs.
    auto tail = c.plugin({"logs", "etl", "-n", "data", "--", "--tail=1"});
    INFO(describe(tail));
    REQUIRE(tail.exitCode == 0);
    CHECK_FALSE(contains(tail.out, "hello from the flow"));
    CHECK(contains(tail.out, "second line"));
  }
}

TEST_CASE("kubectl flowrun --help, and usage errors exit 2") {
  // No cluster needed: these never reach the API server.
  testsupport::TempDir dir;
  auto plugin = [&](const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"kubectl", "flowrun"};
    argv.insert(argv.end(), args.begin(), args.end());
    const char* path = std::getenv("PATH");
    return testsupport::runProcess(
        argv, {{"PATH", testsupport::sourceDir() + "/scripts:" + (path ? path : "/usr/bin:/bin")},
               {"KUBECONFIG", dir.file("no-such-kubeconfig")}});
  };
  auto help = plugin({"--help"});
  CHECK(help.exitCode == 0);
  CHECK(contains(help.out, "kubectl flowrun status NAME"));
  CHECK(contains(help.out, "kubectl flowrun wait NAME"));

  auto unknown = plugin({"explode", "x"});
  CHECK(unknown.exitCode == 2);
  CHECK(contains(unknown.err, "unknown command \"explode\""));

  auto noName = plugin({"cancel"});
  CHECK(noName.exitCode == 2);
  CHECK(contains(noName.err, "cancel needs the name of a FlowRun"));

  auto badTimeout = plugin({"wait", "x", "--timeout", "soon"});
  CHECK(badTimeout.exitCode == 2);
  CHECK(contains(badTimeout.err, "invalid duration \"soon\""));

  auto badFlag = plugin({"status", "x", "--frobnicate"});
  CHECK(badFlag.exitCode == 2);
  CHECK(contains(badFlag.err, "unknown flag --frobnicate"));
}
