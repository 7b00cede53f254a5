// The operator does not depend on a prompt garbage collector (issue 15): a real one learns a new
// CRD only at its discovery refresh (up to 30 s), so a FlowRun deleted and re-created under the
// same name meets the old FlowRun's Job for a while. The operator says so and waits, then runs.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "test/kubesim/simulator.h"
#include "test/support/operator_process.h"
#include "test/support/process.h"

using nlohmann::json;
using testsupport::waitFor;
using namespace std::chrono_literals;

namespace {

struct LateGc {
  static kubesim::SimulatorOptions options() {
    kubesim::SimulatorOptions o;
    o.timeScale = 0.05;
    o.gcDiscoveryDelaySeconds = 300;  // 15 s: FlowRuns stay unknown to the collector that long
    return o;
  }
  LateGc() : sim(options()) {
    sim.start();
    kubeconfig = sim.writeKubeconfig(dir.file("kubeconfig"));
    must({"apply", "-f", testsupport::sourceDir() + "/crds/"});
    for (const char* ns : {"flowrun-operator", "data"}) must({"create", "namespace", ns});
    REQUIRE(waitFor([&] { return kubectl({"get", "flowruns", "-A"}).exitCode == 0; }, 20s, 50ms));
    op = std::make_unique<testsupport::OperatorProcess>(kubeconfig, dir.file("operator.log"),
                                                        std::vector<std::string>{});
  }
  ~LateGc() {
    if (op) op->stop(5s);
  }
  testsupport::ProcessResult kubectl(const std::vector<std::string>& args,
                                     const std::string& input = "") {
    return testsupport::kubectl(kubeconfig, args, input);
  }
  void must(const std::vector<std::string>& args, const std::string& input = "") {
    auto r = kubectl(args, input);
    INFO("kubectl " << args[0] << ": " << r.out << r.err);
    REQUIRE(r.exitCode == 0);
  }
  json get(const std::string& kind, const std::string& name) {
    auto r = kubectl({"get", kind, name, "-n", "data", "-o", "json"});
    return r.exitCode == 0 ? json::parse(r.out, nullptr, false) : json();
  }
  json status(const std::string& name) {
    json fr = get("flowrun", name);
    return fr.is_object() ? fr.value("status", json::object()) : json::object();
  }
  testsupport::TempDir dir;
  kubesim::Simulator sim;
  std::string kubeconfig;
  std::unique_ptr<testsupport::OperatorProcess> op;
};

std::string flowRun(const std::string& id) {
  return "apiVersion: prefect.io/v1alpha1\nkind: FlowRun\nmetadata:\n  name: again\n"
         "  namespace: data\nspec:\n  flowRunId: 0b8c1b5e-0000-4000-8000-00000000000" +
         id + "\n  image: kubesim/exit:0\n";
}

}  // namespace

TEST_CASE("a FlowRun re-created while the old Job awaits collection waits, then runs") {
  LateGc env;
  env.must({"apply", "-f", "-"}, flowRun("1"));
  REQUIRE(
      waitFor([&] { return env.status("again").value("phase", "") == "Succeeded"; }, 40s, 100ms));
  const std::string oldJobUid = env.get("job", "again")["metadata"]["uid"];
  env.must({"delete", "flowrun", "again", "-n", "data"});
  env.must({"apply", "-f", "-"}, flowRun("2"));
  const std::string newUid = env.get("flowrun", "again")["metadata"]["uid"];
  // The old Job is still there (the collector does not know FlowRuns yet): the operator says why
  // it waits instead of failing or adopting it.
  json s;
  bool said = waitFor(
      [&] {
        s = env.status("again");
        return s.value("reason", "") == "JobNameConflict";
      },
      20s, 100ms);
  INFO("status: " << s.dump() << "\noperator log:\n" << env.op->log());
  REQUIRE(said);
  CHECK(s["phase"] == "Pending");
  CHECK_THAT(s["message"].get<std::string>(),
             Catch::Contains("owned by an earlier FlowRun of the same name; waiting for it to go"));
  CHECK(env.get("job", "again")["metadata"]["uid"] == oldJobUid);
  // Once the collector learns FlowRuns it deletes the orphaned Job; the new FlowRun gets its own.
  bool done = waitFor(
      [&] {
        s = env.status("again");
        return s.value("phase", "") == "Succeeded";
      },
      60s, 200ms);
  INFO("status: " << s.dump() << "\noperator log:\n" << env.op->log());
  REQUIRE(done);
  json job = env.get("job", "again");
  CHECK(job["metadata"]["uid"] != oldJobUid);
  CHECK(job["metadata"]["ownerReferences"][0]["uid"] == newUid);
}
