// kubesim is no more forgiving than kube-apiserver: the real kubectl sees the real server's
// answers for the requests a real server refuses (issue 15).
#include <catch2/catch.hpp>

#include "test/kubesim/simulator.h"
#include "test/support/process.h"

using testsupport::kubectl;
using json = nlohmann::json;

namespace {

struct Strict {
  Strict() : sim(options()) {
    sim.start();
    kc = sim.writeKubeconfig(dir.file("kubeconfig"));
  }
  static kubesim::SimulatorOptions options() {
    kubesim::SimulatorOptions o;
    o.runCluster = false;
    return o;
  }
  testsupport::ProcessResult run(const std::vector<std::string>& args,
                                 const std::string& input = "") {
    auto r = kubectl(kc, args, input);
    INFO("kubectl " << args[0] << ": " << r.out << r.err);
    return r;
  }
  testsupport::TempDir dir;
  kubesim::Simulator sim;
  std::string kc;
};

std::string job(const std::string& container) {
  return "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n  template:\n    spec:\n"
         "      restartPolicy: Never\n      containers:\n      - name: c\n        image: "
         "busybox\n" +
         container;
}

}  // namespace

TEST_CASE_METHOD(Strict,
                 "an invalid quantity in a Job is 400 BadRequest with the decoder's message") {
  auto r = run({"create", "-f", "-"}, job("        resources:\n          limits:\n"
                                          "            memory: 512MB\n"));
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains(
                        "Error from server (BadRequest): error when creating \"STDIN\": Job in "
                        "version \"v1\" cannot be handled as a Job: quantities must match the "
                        "regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"));
  CHECK(run({"get", "jobs", "-o", "name"}).out.empty());
  // A suffix the regular expression lets through but no unit has.
  r = run({"create", "-f", "-"}, job("        resources:\n          requests:\n"
                                     "            cpu: 1mm\n"));
  CHECK_THAT(r.err, Catch::Contains("Job in version \"v1\" cannot be handled as a Job: unable to "
                                    "parse quantity's suffix"));
}

TEST_CASE_METHOD(Strict,
                 "a string where an integer belongs is 400 BadRequest naming the Go field") {
  auto r = run({"create", "-f", "-"}, job("        ports:\n        - containerPort: http\n"));
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains(
                        "Job in version \"v1\" cannot be handled as a Job: json: cannot unmarshal "
                        "string into Go struct field "
                        "ContainerPort.spec.template.spec.containers.ports.containerPort of type "
                        "int32"));
  // kubectl sends the object as written: the server decodes it.
  r = run({"create", "-f", "-"},
          R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":)"
          R"([{"name":"p","image":"busybox","env":[{"name":"N","value":3}]}]}})");
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err,
             Catch::Contains("Pod in version \"v1\" cannot be handled as a Pod: json: cannot "
                             "unmarshal number into Go struct field "
                             "EnvVar.spec.containers.env.value of type string"));
}

TEST_CASE_METHOD(Strict, "quantities are stored canonical") {
  auto r = run({"create", "-f", "-"}, job("        resources:\n          limits:\n"
                                          "            memory: 1024Mi\n            cpu: 0.5\n"
                                          "          requests:\n            memory: 1536Mi\n"
                                          "            cpu: 2000m\n"));
  REQUIRE(r.exitCode == 0);
  auto got = [&](const std::string& path) {
    return run({"get", "job", "j", "-o",
                "jsonpath={.spec.template.spec.containers[0].resources." + path + "}"})
        .out;
  };
  CHECK(got("limits.memory") == "1Gi");
  CHECK(got("limits.cpu") == "500m");
  CHECK(got("requests.memory") == "1536Mi");
  CHECK(got("requests.cpu") == "2");
}

TEST_CASE_METHOD(Strict, "an Event about a cluster-scoped object lives only in default") {
  auto event = [](const std::string& ns, const std::string& name) {
    return "apiVersion: v1\nkind: Event\nmetadata:\n  name: " + name + "\n  namespace: " + ns +
           "\ninvolvedObject:\n  apiVersion: prefect.io/v1alpha1\n  kind: ClusterIdentity\n"
           "  name: cluster\nreason: Test\nmessage: hello\ntype: Normal\n";
  };
  REQUIRE(run({"create", "namespace", "flowrun-operator"}).exitCode == 0);
  auto r = run({"create", "-f", "-"}, event("flowrun-operator", "e1"));
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err,
             Catch::Contains("The Event \"e1\" is invalid: involvedObject.namespace: Invalid "
                             "value: \"\": does not match event.namespace"));
  r = run({"create", "-f", "-"}, event("default", "e2"));
  CHECK(r.exitCode == 0);
  // A namespaced object's Event lives in that object's namespace.
  r = run({"create", "-f", "-"},
          "apiVersion: v1\nkind: Event\nmetadata:\n  name: e3\n  namespace: default\n"
          "involvedObject:\n  kind: Pod\n  name: p\n  namespace: flowrun-operator\n"
          "reason: Test\nmessage: hello\ntype: Normal\n");
  CHECK_THAT(r.err,
             Catch::Contains("The Event \"e3\" is invalid: involvedObject.namespace: Invalid "
                             "value: \"flowrun-operator\": does not match event.namespace"));
}

TEST_CASE_METHOD(Strict, "a ConfigMap over 1 MiB and annotations over 256 KiB are 422 Too long") {
  const std::string big(1048577, 'x');
  auto r =
      run({"create", "-f", "-"}, json{{"apiVersion", "v1"},
                                      {"kind", "ConfigMap"},
                                      {"metadata", {{"name", "big"}, {"namespace", "default"}}},
                                      {"data", {{"k", big}}}}
                                     .dump());
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("The ConfigMap \"big\" is invalid: []: Too long: may not be "
                                    "more than 1048576 bytes"));
  // Exactly 1 MiB is fine; kubectl apply's last-applied annotation then is too long.
  const std::string mib(1048576 - 1, 'x');
  json cm = {{"apiVersion", "v1"},
             {"kind", "ConfigMap"},
             {"metadata", {{"name", "mib"}, {"namespace", "default"}}},
             {"data", {{"k", mib}}}};
  CHECK(run({"create", "-f", "-"}, cm.dump()).exitCode == 0);
  cm["metadata"]["name"] = "applied";
  r = run({"apply", "-f", "-"}, cm.dump());
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("metadata.annotations: Too long: may not be more than 262144 "
                                    "bytes"));
}

TEST_CASE_METHOD(Strict,
                 "env names and serviceAccountName are validated with the real field paths") {
  auto r =
      run({"create", "-f", "-"},
          job("        env:\n        - name: A=B\n          value: one\n        - value: two\n") +
              "      serviceAccountName: Bad_Name\n");
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("The Job \"j\" is invalid: "));
  CHECK_THAT(r.err, Catch::Contains("spec.template.spec.containers[0].env[0].name: Invalid value: "
                                    "\"A=B\": a valid environment variable name must consist only "
                                    "of printable ASCII characters other than '='"));
  CHECK_THAT(r.err,
             Catch::Contains("spec.template.spec.containers[0].env[1].name: Required value"));
  CHECK_THAT(r.err,
             Catch::Contains("spec.template.spec.serviceAccountName: Invalid value: "
                             "\"Bad_Name\": a lowercase RFC 1123 subdomain must consist of"));
}
