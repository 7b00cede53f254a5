// The flowrun-operator binary, driven the way users and Kubernetes drive it.
#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "test/kubesim/simulator.h"
#include "test/support/operator_process.h"
#include "test/support/process.h"

using namespace std::chrono_literals;
using testsupport::BackgroundProcess;
using testsupport::kubectl;
using testsupport::waitFor;

namespace {

using testsupport::operatorBinary;

struct Cluster {
  testsupport::TempDir dir;
  kubesim::Simulator sim{[] {
    kubesim::SimulatorOptions o;
    o.timeScale = 0.2;
    return o;
  }()};
  std::string kubeconfig;

  Cluster() {
    sim.start();
    kubeconfig = sim.writeKubeconfig(dir.file("kubeconfig"));
    auto crds = kubectl(kubeconfig, {"apply", "-f", testsupport::sourceDir() + "/crds/"});
    REQUIRE(crds.exitCode == 0);
    auto ns = kubectl(kubeconfig, {"create", "namespace", "flowrun-operator"});
    REQUIRE(ns.exitCode == 0);
  }

  std::vector<std::string> operatorArgs(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {
        operatorBinary(),   "--kubeconfig",           kubeconfig,    "--operator-namespace",
        "flowrun-operator", "--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address",
        "127.0.0.1:0",      "--log-format",           "console"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  std::string get(const std::vector<std::string>& args) const {
    auto r = kubectl(kubeconfig, args);
    return r.exitCode == 0 ? r.out : "";
  }

  std::string leaseHolder() const {
    return get({"get", "lease", "-n", "flowrun-operator", "flowrun-operator", "-o",
                "jsonpath={.spec.holderIdentity}"});
  }

  void applyFlowRun(const std::string& name) const {
    std::string manifest =
        "apiVersion: prefect.io/v1alpha1\nkind: FlowRun\nmetadata:\n  name: " + name +
        "\nspec:\n  image: kubesim/run:1s\n";
    auto r = kubectl(kubeconfig, {"apply", "-f", "-"}, manifest);
    REQUIRE(r.exitCode == 0);
  }

  std::string phaseOf(const std::string& name) const {
    return get({"get", "flowrun", name, "-o", "jsonpath={.status.phase}"});
  }
};

const std::vector<std::string> kFastLease = {
    "--leader-elect", "--lease-duration", "3s", "--renew-deadline", "2s", "--retry-period",
    "250ms"};

}  // namespace

TEST_CASE("help and version print and exit 0 and an unknown flag exits 2 naming it") {
  auto help = testsupport::runProcess({operatorBinary(), "--help"});
  CHECK(help.exitCode == 0);
  CHECK(help.out.find("--leader-elect") != std::string::npos);
  CHECK(help.out.find("(default \"cluster\")") != std::string::npos);

  auto version = testsupport::runProcess({operatorBinary(), "--version"});
  CHECK(version.exitCode == 0);
  CHECK(version.out.rfind("flowrun-operator ", 0) == 0);

  auto bad = testsupport::runProcess({operatorBinary(), "--no-such-flag"});
  CHECK(bad.exitCode == 2);
  CHECK(bad.err == "flowrun-operator: unknown flag --no-such-flag (see --help)\n");
}

TEST_CASE("a malformed kubeconfig is one error naming the file, and exit 1") {
  testsupport::TempDir dir;
  std::string path = dir.file("broken-kubeconfig");
  std::ofstream(path) << "apiVersion: v1\nclusters: [\n  - name: x\n";
  auto r =
      testsupport::runProcess({operatorBinary(), "--kubeconfig", path, "--metrics-bind-address",
                               "0", "--health-probe-bind-address", "0"},
                              {}, "", 20s);
  CHECK(r.exitCode == 1);
  CHECK(r.err.find(path) != std::string::npos);
  CHECK(r.err.find("flowrun-operator: ") == 0);
}

TEST_CASE("a kubeconfig naming a missing context is refused with the context's name") {
  Cluster c;
  auto r =
      testsupport::runProcess({operatorBinary(), "--kubeconfig", c.kubeconfig, "--context", "nope",
                               "--metrics-bind-address", "0", "--health-probe-bind-address", "0"},
                              {}, "", 20s);
  CHECK(r.exitCode == 1);
  CHECK(r.err.find("nope") != std::string::npos);
}

TEST_CASE("the operator runs a FlowRun, and SIGTERM exits 0 and releases the Lease") {
  Cluster c;
  BackgroundProcess op(c.operatorArgs(kFastLease), c.dir.file("operator.log"));
  REQUIRE(waitFor([&] { return !c.leaseHolder().empty(); }, 20s));
  c.applyFlowRun("sigterm-run");
  CHECK(waitFor([&] { return c.phaseOf("sigterm-run") == "Succeeded"; }, 30s));

  op.signal(SIGTERM);
  int code = op.wait(20s);
  INFO(op.log());
  CHECK(code == 0);
  // Released: no holder, so a standby would not wait for the lease to expire.
  CHECK(c.leaseHolder().empty());
  CHECK(op.log().find("stopped") != std::string::npos);
}

TEST_CASE("two replicas: only the leader reconciles and the standby takes over when it dies") {
  Cluster c;
  BackgroundProcess a(c.operatorArgs(kFastLease), c.dir.file("a.log"));
  REQUIRE(waitFor([&] { return a.log().find("controllers started") != std::string::npos; }, 20s));
  std::string holderA = c.leaseHolder();
  REQUIRE_FALSE(holderA.empty());

  BackgroundProcess b(c.operatorArgs(kFastLease), c.dir.file("b.log"));
  c.applyFlowRun("run-under-a");
  CHECK(waitFor([&] { return c.phaseOf("run-under-a") == "Succeeded"; }, 30s));
  // B has been campaigning for as long as the run took, and more than a lease duration: it must
  // not have started its controllers while A held the Lease.
  CHECK_FALSE(
      waitFor([&] { return b.log().find("controllers started") != std::string::npos; }, 4s));
  CHECK(c.leaseHolder() == holderA);

  a.signal(SIGKILL);  // no release: B must wait for the lease to expire, then take over
  REQUIRE(a.wait(10s) == 128 + SIGKILL);
  REQUIRE(waitFor([&] { return b.log().find("controllers started") != std::string::npos; }, 20s));
  CHECK(c.leaseHolder() != holderA);
  c.applyFlowRun("run-under-b");
  CHECK(waitFor([&] { return c.phaseOf("run-under-b") == "Succeeded"; }, 30s));
  // Exactly one Job per FlowRun, whoever ran it.
  auto jobs = c.get({"get", "jobs", "-o", "jsonpath={.items[*].metadata.name}"});
  CHECK(jobs == "run-under-a run-under-b");
}

TEST_CASE("a pinned cluster uid with create-cluster-identity=false never touches ClusterIdentity") {
  Cluster c;
  c.sim.requestLog().clear();
  BackgroundProcess op(c.operatorArgs({"--create-cluster-identity=false", "--cluster-uid",
                                       "old-kube-system-uid-1234"}),
                       c.dir.file("operator.log"));
  c.applyFlowRun("pinned-run");
  REQUIRE(waitFor([&] { return c.phaseOf("pinned-run") == "Succeeded"; }, 30s));
  CHECK(c.get({"get", "flowrun", "pinned-run", "-o", "jsonpath={.status.infrastructurePid}"}) ==
        "old-kube-system-uid-1234:default:pinned-run");
  CHECK(c.sim.requestLog().count("", "clusteridentities") == 0);
  CHECK(c.get({"get", "clusteridentities", "-o", "name"}).empty());
}

TEST_CASE("an invalid pinned cluster uid is refused at startup with the reason") {
  auto r = testsupport::runProcess(
      {operatorBinary(), "--cluster-uid", "a:b", "--kubeconfig", "/nonexistent",
       "--metrics-bind-address", "0", "--health-probe-bind-address", "0"},
      {}, "", 20s);
  CHECK(r.exitCode == 2);
  CHECK(r.err.find("--cluster-uid") != std::string::npos);
  CHECK(r.err.find("':'") != std::string::npos);
}
