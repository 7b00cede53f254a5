// The real kubectl against an in-process kubesim: the commands users run on our CRDs.
#include <catch2/catch.hpp>

#include <set>

#include "test/kubesim/simulator.h"
#include "test/kubesim/util.h"
#include "test/support/process.h"

using testsupport::kubectl;

namespace {

struct Fixture {
  Fixture() : sim(options()) {
    sim.start();
    kc = sim.writeKubeconfig(dir.file("kubeconfig"));
  }
  static kubesim::SimulatorOptions options() {
    kubesim::SimulatorOptions o;
    o.runCluster = false;  // the API server alone: nothing else writes
    return o;
  }
  testsupport::ProcessResult run(const std::vector<std::string>& args,
                                 const std::string& input = "") {
    auto r = kubectl(kc, args, input);
    INFO("kubectl " << args[0] << ": " << r.out << r.err);
    return r;
  }
  void applyCrds() {
    auto r = run({"apply", "-f", testsupport::sourceDir() + "/crds/"});
    REQUIRE(r.exitCode == 0);
  }
  std::string data(const std::string& name) {
    return testsupport::sourceDir() + "/test/integration/kubesim_api/testdata/" + name;
  }
  testsupport::TempDir dir;
  kubesim::Simulator sim;
  std::string kc;
};

}  // namespace

TEST_CASE_METHOD(Fixture,
                 "kubectl applies the CRDs and a FlowRun and gets it with printer columns") {
  applyCrds();
  auto r = run({"apply", "-f", data("flowrun.yaml")});
  REQUIRE(r.exitCode == 0);
  CHECK(r.out.find("flowrun.prefect.io/demo created") != std::string::npos);
  r = run({"get", "flowruns"});
  REQUIRE(r.exitCode == 0);
  CHECK(r.out.find("NAME   PHASE   REASON   JOB   EXIT   AGE") != std::string::npos);
  CHECK(r.out.find("demo") != std::string::npos);
  // Short name and category.
  CHECK(run({"get", "fr", "demo"}).exitCode == 0);
  r = run({"get", "prefect"});
  CHECK(r.out.find("flowrun.prefect.io/demo") != std::string::npos);
  // -o yaml shows server-set metadata and schema defaults.
  r = run({"get", "fr", "demo", "-o", "yaml"});
  REQUIRE(r.exitCode == 0);
  CHECK(r.out.find("uid: ") != std::string::npos);
  CHECK(r.out.find("generation: 1") != std::string::npos);
  CHECK(r.out.find("cancelGracePeriodSeconds: 30") != std::string::npos);
  CHECK(r.out.find("creationTimestamp: \"") != std::string::npos);
  // Applying again is a no-op: same resourceVersion.
  auto rv1 = run({"get", "fr", "demo", "-o", "jsonpath={.metadata.resourceVersion}"}).out;
  r = run({"apply", "-f", data("flowrun.yaml")});
  CHECK(r.out.find("unchanged") != std::string::npos);
  CHECK(run({"get", "fr", "demo", "-o", "jsonpath={.metadata.resourceVersion}"}).out == rv1);
}

TEST_CASE_METHOD(Fixture, "kubectl explain describes the FlowRun schema") {
  applyCrds();
  auto r = run({"explain", "flowrun.spec"});
  REQUIRE(r.exitCode == 0);
  CHECK(r.out.find("KIND:       FlowRun") != std::string::npos);
  CHECK(r.out.find("FIELD: spec <Object>") != std::string::npos);
  CHECK(r.out.find("image\t<string>") != std::string::npos);
  r = run({"explain", "flowrun.spec.imagePullPolicy"});
  CHECK(r.exitCode == 0);
}

TEST_CASE_METHOD(Fixture,
                 "patch on spec bumps generation, the status subresource does not, wait sees it") {
  applyCrds();
  REQUIRE(run({"apply", "-f", data("flowrun.yaml")}).exitCode == 0);
  REQUIRE(run({"patch", "flowrun", "demo", "--type", "merge", "-p", R"({"spec":{"cancel":true}})"})
              .exitCode == 0);
  CHECK(run({"get", "fr", "demo", "-o", "jsonpath={.metadata.generation}"}).out == "2");
  // The main endpoint ignores status.
  REQUIRE(run({"patch", "flowrun", "demo", "--type", "merge", "-p",
               R"({"status":{"phase":"Running"}})"})
              .exitCode == 0);
  CHECK(run({"get", "fr", "demo", "-o", "jsonpath={.status.phase}"}).out.empty());
  auto r = run({"patch", "flowrun", "demo", "--subresource", "status", "--type", "merge", "-p",
                R"({"status":{"phase":"Running","reason":"PodRunning","exitCode":0}})"});
  REQUIRE(r.exitCode == 0);
  CHECK(run({"get", "fr", "demo", "-o", "jsonpath={.metadata.generation}"}).out == "2");
  r = run({"wait", "flowrun/demo", "--for=jsonpath={.status.phase}=Running", "--timeout=10s"});
  CHECK(r.exitCode == 0);
  CHECK(r.out.find("condition met") != std::string::npos);
  r = run({"get", "fr"});
  CHECK(r.out.find("Running   PodRunning") != std::string::npos);
  // Status is validated against the schema too.
  r = run({"patch", "flowrun", "demo", "--subresource", "status", "--type", "merge", "-p",
           R"({"status":{"phase":"Sideways"}})"});
  CHECK(r.exitCode != 0);
  CHECK(r.err.find("Unsupported value: \"Sideways\"") != std::string::npos);
  // JSON patch works as well.
  r = run({"patch", "flowrun", "demo", "--type", "json", "-p",
           R"([{"op":"replace","path":"/spec/image","value":"busybox:1"}])"});
  CHECK(r.exitCode == 0);
  CHECK(run({"get", "fr", "demo", "-o", "jsonpath={.spec.image}"}).out == "busybox:1");
}

TEST_CASE_METHOD(Fixture, "delete removes the FlowRun, and finalizers hold it until removed") {
  applyCrds();
  REQUIRE(run({"apply", "-f", data("flowrun.yaml")}).exitCode == 0);
  REQUIRE(run({"patch", "fr", "demo", "--type", "merge", "-p",
               R"({"metadata":{"finalizers":["test/hold"]}})"})
              .exitCode == 0);
  auto r = run({"delete", "fr", "demo", "--wait=false"});
  REQUIRE(r.exitCode == 0);
  CHECK(r.out.find("flowrun.prefect.io \"demo\" deleted") != std::string::npos);
  CHECK_FALSE(
      run({"get", "fr", "demo", "-o", "jsonpath={.metadata.deletionTimestamp}"}).out.empty());
  REQUIRE(
      run({"patch", "fr", "demo", "--type", "merge", "-p", R"({"metadata":{"finalizers":null}})"})
          .exitCode == 0);
  r = run({"get", "fr", "demo"});
  CHECK(r.exitCode != 0);
  CHECK(r.err.find("flowruns.prefect.io \"demo\" not found") != std::string::npos);
}

TEST_CASE_METHOD(Fixture, "apply --server-side records the field manager and reports conflicts") {
  applyCrds();
  auto r = run({"apply", "--server-side", "-f", data("flowrun.yaml")});
  REQUIRE(r.exitCode == 0);
  CHECK(r.out.find("serverside-applied") != std::string::npos);
  r = run({"get", "fr", "demo", "-o", "yaml", "--show-managed-fields"});
  CHECK(r.out.find("manager: kubectl") != std::string::npos);
  CHECK(r.out.find("operation: Apply") != std::string::npos);
  // Another manager takes spec.image; applying the old value again conflicts.
  REQUIRE(run({"patch", "fr", "demo", "--type", "merge", "-p", R"({"spec":{"image":"other:2"}})"})
              .exitCode == 0);
  r = run({"apply", "--server-side", "-f", data("flowrun.yaml")});
  CHECK(r.exitCode != 0);
  CHECK(r.err.find("conflict with \"kubectl-patch\"") != std::string::npos);
  CHECK(r.err.find(".spec.image") != std::string::npos);
  r = run({"apply", "--server-side", "--force-conflicts", "-f", data("flowrun.yaml")});
  CHECK(r.exitCode == 0);
  CHECK(run({"get", "fr", "demo", "-o", "jsonpath={.spec.image}"}).out ==
        "prefecthq/prefect:3-latest");
}

TEST_CASE_METHOD(Fixture, "api-resources lists built-in kinds and the CRDs") {
  applyCrds();
  auto r = run({"api-resources"});
  REQUIRE(r.exitCode == 0);
  for (const char* want : {"flowruns", "clusteridentities", "pods", "jobs", "leases", "events",
                           "customresourcedefinitions", "rolebindings"}) {
    CHECK(r.out.find(want) != std::string::npos);
  }
  CHECK(r.out.find("prefect.io/v1alpha1") != std::string::npos);
}

TEST_CASE_METHOD(Fixture, "kubectl get events shows events written with either API") {
  sim.store().create(
      "events", "default",
      {{"metadata", {{"name", "demo.1"}}},
       {"involvedObject", {{"kind", "FlowRun"}, {"name", "demo"}, {"namespace", "default"}}},
       {"reason", "JobCreated"},
       {"message", "created Job demo"},
       {"type", "Normal"}});
  sim.store().create(
      "events.events.k8s.io", "default",
      {{"metadata", {{"name", "demo.2"}}},
       {"regarding", {{"kind", "FlowRun"}, {"name", "demo"}, {"namespace", "default"}}},
       {"reason", "Cancelled"},
       {"note", "run cancelled"},
       {"type", "Warning"},
       {"eventTime", "2024-01-01T00:00:00.000000Z"},
       {"action", "Cancel"},
       {"reportingController", "flowrun-operator"},
       {"reportingInstance", "x"}});
  auto r = run({"get", "events"});
  REQUIRE(r.exitCode == 0);
  CHECK(r.out.find("LAST SEEN") != std::string::npos);
  CHECK(r.out.find("JobCreated") != std::string::npos);
  CHECK(r.out.find("flowrun/demo") != std::string::npos);
  CHECK(r.out.find("run cancelled") != std::string::npos);
  r = run({"get", "events", "--field-selector", "reason=Cancelled", "-o", "name"});
  CHECK(r.out == "event/demo.2\n");
}

TEST_CASE_METHOD(Fixture, "an invalid FlowRun is rejected with the API server's messages") {
  applyCrds();
  auto r = run({"apply", "-f", data("invalid-flowrun.yaml")});
  CHECK(r.exitCode != 0);
  CHECK(r.err.find("The FlowRun \"bad\" is invalid") != std::string::npos);
  CHECK(r.err.find("spec.imagePullPolicy: Unsupported value: \"Sometimes\": supported values: "
                   "\"IfNotPresent\", "
                   "\"Always\", \"Never\"") != std::string::npos);
  CHECK(r.err.find("spec.backoffLimit: Invalid value: -1: spec.backoffLimit in body should be "
                   "greater than or "
                   "equal to 0") != std::string::npos);
  CHECK(
      r.err.find(
          "spec.image: Invalid value: \"\": spec.image in body should be at least 1 chars long") !=
      std::string::npos);
  // Unknown fields: strict field validation, as kubectl asks for by default.
  r = run({"apply", "-f", data("unknown-field-flowrun.yaml")});
  CHECK(r.exitCode != 0);
  CHECK(r.err.find("strict decoding error: unknown field \"spec.imagePullPolicyy\"") !=
        std::string::npos);
  // A bad name.
  r = run({"create", "-f", "-"},
          "apiVersion: prefect.io/v1alpha1\nkind: FlowRun\nmetadata: {name: Bad_Name}\nspec: {}\n");
  CHECK(r.exitCode != 0);
  CHECK(r.err.find("metadata.name: Invalid value: \"Bad_Name\": a lowercase RFC 1123 subdomain") !=
        std::string::npos);
}

TEST_CASE_METHOD(Fixture, "imperative kubectl create commands and namespace lifecycle") {
  // kubectl's typed clients send protobuf bodies.
  REQUIRE(run({"create", "namespace", "team"}).exitCode == 0);
  REQUIRE(run({"create", "configmap", "settings", "-n", "team", "--from-literal=a=b"}).exitCode ==
          0);
  REQUIRE(run({"create", "secret", "generic", "key", "-n", "team", "--from-literal=key=s3cret"})
              .exitCode == 0);
  REQUIRE(run({"create", "job", "once", "-n", "team", "--image=busybox"}).exitCode == 0);
  CHECK(run({"get", "cm", "settings", "-n", "team", "-o", "jsonpath={.data.a}"}).out == "b");
  CHECK(run({"get", "secret", "key", "-n", "team", "-o", "jsonpath={.data.key}"}).out ==
        "czNjcmV0");
  auto r = run({"get", "jobs", "-n", "team"});
  for (const char* col : {"STATUS", "COMPLETIONS", "DURATION", "Running", "0/1"}) {
    CHECK(r.out.find(col) != std::string::npos);
  }
  CHECK(run({"get", "sa", "default", "-n", "team"}).exitCode == 0);
  // Objects need an existing namespace.
  r = run({"create", "configmap", "x", "-n", "nowhere"});
  CHECK(r.exitCode != 0);
  CHECK(r.err.find("namespaces \"nowhere\" not found") != std::string::npos);
  // Deleting a namespace removes what is inside.
  REQUIRE(run({"delete", "namespace", "team"}).exitCode == 0);
  CHECK(run({"get", "namespace", "team"}).exitCode != 0);
  CHECK(run({"get", "cm", "-A", "-o", "name"}).out.find("settings") == std::string::npos);
  r = run({"delete", "namespace", "kube-system"});
  CHECK(r.err.find("this namespace may not be deleted") != std::string::npos);
}

TEST_CASE_METHOD(Fixture, "an unknown token gets 401") {
  auto bad = dir.file("bad-kubeconfig");
  {
    auto r =
        testsupport::runProcess({"sh", "-c", "sed 's/token: .*/token: nope/' " + kc + " > " + bad});
    REQUIRE(r.exitCode == 0);
  }
  auto r = kubectl(bad, {"get", "pods"});
  CHECK(r.exitCode != 0);
  CHECK(r.err.find("You must be logged in to the server") != std::string::npos);
}

namespace {
// The claims of a JWT (its middle part, base64url without padding).
nlohmann::json jwtClaims(const std::string& token) {
  auto a = token.find('.'), b = token.rfind('.');
  std::string p = token.substr(a + 1, b - a - 1);
  for (auto& c : p) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (p.size() % 4) p += '=';
  return nlohmann::json::parse(kubesim::base64Decode(p), nullptr, false);
}
}  // namespace

TEST_CASE("kubectl create token issues a token kubesim authenticates with RBAC applying") {
  kubesim::SimulatorOptions o;
  o.runCluster = false;
  o.rbac = true;
  kubesim::Simulator sim(o);
  sim.start();
  testsupport::TempDir dir;
  auto kc = sim.writeKubeconfig(dir.file("kubeconfig"));
  auto run = [&](const std::vector<std::string>& args, const std::string& in = "") {
    auto r = kubectl(kc, args, in);
    INFO("kubectl " << args[0] << ": " << r.out << r.err);
    return r;
  };
  REQUIRE(run({"create", "serviceaccount", "runner"}).exitCode == 0);
  REQUIRE(
      run({"create", "role", "cm-reader", "--verb=list,get", "--resource=configmaps"}).exitCode ==
      0);
  REQUIRE(run({"create", "rolebinding", "runner-cm", "--role=cm-reader",
               "--serviceaccount=default:runner"})
              .exitCode == 0);
  auto t = run({"create", "token", "runner", "--duration=20m"});
  REQUIRE(t.exitCode == 0);
  const std::string token = kubesim::trim(t.out);
  auto claims = jwtClaims(token);
  REQUIRE(claims.is_object());
  CHECK(claims["sub"] == "system:serviceaccount:default:runner");
  CHECK(claims["exp"].get<long long>() - claims["iat"].get<long long>() == 1200);
  CHECK(claims["aud"] == nlohmann::json::array({"https://kubernetes.default.svc.cluster.local"}));
  // The token is the service account, with its RBAC: configmaps yes, secrets no.
  auto r = run({"--token", token, "get", "configmaps"});
  CHECK(r.exitCode == 0);
  r = run({"--token", token, "get", "secrets"});
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("secrets is forbidden: User "
                                    "\"system:serviceaccount:default:runner\" cannot list "
                                    "resource \"secrets\" in API group \"\" in the namespace "
                                    "\"default\""));
  // Durations under ten minutes are refused by the API server.
  r = run({"create", "token", "runner", "--duration=5m"});
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("error: failed to create token: "
                                    "TokenRequest.authentication.k8s.io \"\" is invalid: "
                                    "spec.expirationSeconds: Invalid value: 300: may not "
                                    "specify a duration less than 10 minutes"));
  r = run({"create", "token", "nobody"});
  CHECK_THAT(r.err, Catch::Contains("serviceaccounts \"nobody\" not found"));
  // A token for another audience does not authenticate to the API server.
  auto other = run({"create", "token", "runner", "--audience=vault"});
  REQUIRE(other.exitCode == 0);
  r = run({"--token", kubesim::trim(other.out), "get", "configmaps"});
  CHECK_THAT(r.err, Catch::Contains("You must be logged in to the server"));
  // A bound token dies with its ServiceAccount.
  REQUIRE(run({"delete", "serviceaccount", "runner"}).exitCode == 0);
  r = run({"--token", token, "get", "configmaps"});
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("You must be logged in to the server"));
}

TEST_CASE_METHOD(Fixture, "kubectl apply then apply --server-side upgrades the field manager") {
  const std::string cm1 =
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: one\n  b: two\n";
  auto r = run({"apply", "-f", "-"}, cm1);
  REQUIRE(r.exitCode == 0);
  r = run({"get", "configmap", "settings", "-o", "json", "--show-managed-fields"});
  auto before = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(before.is_object());
  CHECK(before["metadata"]["managedFields"][0]["manager"] == "kubectl-client-side-apply");
  // Server-side apply of a changed value: the API server lets the "kubectl" manager take over
  // what the last-applied annotation lists (no conflict with kubectl-client-side-apply).
  const std::string cm2 =
      "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: uno\n";
  r = run({"apply", "--server-side", "-f", "-"}, cm2);
  INFO(r.out << r.err);
  REQUIRE(r.exitCode == 0);
  CHECK_THAT(r.out, Catch::Contains("serverside-applied"));
  r = run({"get", "configmap", "settings", "-o", "json", "--show-managed-fields"});
  auto after = nlohmann::json::parse(r.out, nullptr, false);
  REQUIRE(after.is_object());
  // kubectl moves the client-side manager's fields (b too) to its Apply manager, then applies
  // again: b, applied before and not now, goes, as a client-side apply would have removed it.
  CHECK(after["data"] == nlohmann::json{{"a", "uno"}});
  std::set<std::string> managers;
  for (const auto& e : after["metadata"]["managedFields"])
    managers.insert(e["manager"].get<std::string>() + "/" + e["operation"].get<std::string>());
  CHECK(managers.count("kubectl/Apply") == 1);
  CHECK(managers.count("kubectl-client-side-apply/Update") == 0);
  // The annotation is kept current by the API server for a later client-side apply.
  const std::string last =
      after["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"];
  CHECK_THAT(last, Catch::Contains("\"a\":\"uno\""));
  CHECK(managers.count("kubectl-last-applied/Apply") == 1);
  // Applying the same again changes nothing and conflicts with nobody.
  r = run({"apply", "--server-side", "-f", "-"}, cm2);
  REQUIRE(r.exitCode == 0);
  CHECK(run({"get", "configmap", "settings", "-o", "jsonpath={.data}"}).out == R"({"a":"uno"})");
}
