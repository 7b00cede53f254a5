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
                                          "            memory: 1536Mi\n            cpu: 2000m\n"
                                          "          requests:\n            memory: 1024Mi\n"
                                          "            cpu: 0.5\n"));
  REQUIRE(r.exitCode == 0);
  auto got = [&](const std::string& path) {
    return run({"get", "job", "j", "-o",
                "jsonpath={.spec.template.spec.containers[0].resources." + path + "}"})
        .out;
  };
  CHECK(got("limits.memory") == "1536Mi");
  CHECK(got("limits.cpu") == "2");
  CHECK(got("requests.memory") == "1Gi");
  CHECK(got("requests.cpu") == "500m");
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

TEST_CASE_METHOD(Strict, "container and port names are validated with the real field paths") {
  auto r = run({"create", "-f", "-"},
               "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n  template:\n"
               "    spec:\n      restartPolicy: Never\n      containers:\n"
               "      - name: Main_C\n        image: busybox\n"
               "      - name: side\n        image: busybox\n        ports:\n"
               "        - name: prefect-metrics1\n          containerPort: 8080\n"
               "        - name: a--b\n          containerPort: 8081\n"
               "        - name: \"8082\"\n          containerPort: 8082\n"
               "        - name: http\n          containerPort: 0\n"
               "        - name: http\n          containerPort: 70000\n"
               "      - name: side\n        image: busybox\n");
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("The Job \"j\" is invalid: \n* "));
  CHECK_THAT(r.err, Catch::Contains("spec.template.spec.containers[0].name: Invalid value: "
                                    "\"Main_C\": a lowercase RFC 1123 label must consist of"));
  CHECK_THAT(r.err, Catch::Contains("spec.template.spec.containers[1].ports[0].name: Invalid "
                                    "value: \"prefect-metrics1\": must be no more than 15 "
                                    "characters"));
  CHECK_THAT(r.err, Catch::Contains("spec.template.spec.containers[1].ports[1].name: Invalid "
                                    "value: \"a--b\": must not contain consecutive hyphens"));
  CHECK_THAT(r.err, Catch::Contains("spec.template.spec.containers[1].ports[2].name: Invalid "
                                    "value: \"8082\": must contain at least one letter (a-z)"));
  CHECK_THAT(r.err, Catch::Contains("spec.template.spec.containers[1].ports[3].containerPort: "
                                    "Required value"));
  CHECK_THAT(r.err, Catch::Contains("spec.template.spec.containers[1].ports[4].name: Duplicate "
                                    "value: \"http\""));
  CHECK_THAT(r.err,
             Catch::Contains("spec.template.spec.containers[1].ports[4].containerPort: "
                             "Invalid value: 70000: must be between 1 and 65535, inclusive"));
  CHECK_THAT(r.err,
             Catch::Contains("spec.template.spec.containers[2].name: Duplicate value: \"side\""));
  CHECK(run({"get", "jobs", "-o", "name"}).out.empty());
  // Two containers may not claim one host port.
  r = run({"create", "-f", "-"}, job("        ports:\n        - containerPort: 80\n"
                                     "          hostPort: 8080\n"
                                     "      - name: d\n        image: busybox\n        ports:\n"
                                     "        - containerPort: 81\n          hostPort: 8080\n"));
  CHECK_THAT(r.err, Catch::Contains("spec.template.spec.containers[1].ports[0].hostPort: "
                                    "Duplicate value: \"/TCP/8080\""));
}

TEST_CASE_METHOD(Strict, "resource requests above their limits are refused") {
  auto r = run({"create", "-f", "-"}, job("        resources:\n          limits:\n"
                                          "            memory: 1Gi\n            cpu: 500m\n"
                                          "          requests:\n            memory: 2048Mi\n"
                                          "            cpu: 250m\n            gpu: 1\n"));
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("spec.template.spec.containers[0].resources.requests: Invalid "
                                    "value: \"2Gi\": must be less than or equal to memory limit "
                                    "of 1Gi"));
  CHECK_THAT(r.err, Catch::Contains("spec.template.spec.containers[0].resources.requests[gpu]: "
                                    "Invalid value: \"gpu\": must be a standard resource for "
                                    "containers"));
  CHECK_THAT(r.err, !Catch::Contains("cpu limit"));
  // Extended resources may not be overcommitted: requests equal limits.
  r = run({"create", "-f", "-"}, job("        resources:\n          limits:\n"
                                     "            nvidia.com/gpu: 2\n          requests:\n"
                                     "            nvidia.com/gpu: 1\n"));
  CHECK_THAT(r.err, Catch::Contains("resources.requests: Invalid value: \"1\": must be equal to "
                                    "nvidia.com/gpu limit of 2"));
  // Equal requests and limits are fine.
  r = run({"create", "-f", "-"}, job("        resources:\n          limits:\n"
                                     "            memory: 1Gi\n          requests:\n"
                                     "            memory: 1024Mi\n"));
  CHECK(r.exitCode == 0);
}

TEST_CASE_METHOD(Strict, "a Job's selector must match its template, generated or manual") {
  const std::string head = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: j\nspec:\n";
  const std::string tmpl =
      "  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n"
      "      restartPolicy: Never\n      containers:\n      - name: c\n        image: busybox\n";
  // manualSelector without a selector.
  auto r = run({"create", "-f", "-"}, head + "  manualSelector: true\n" + tmpl);
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("The Job \"j\" is invalid: spec.selector: Required value"));
  // manualSelector with a selector the template does not carry.
  r = run({"create", "-f", "-"},
          head + "  manualSelector: true\n  selector:\n    matchLabels:\n      app: api\n" + tmpl);
  CHECK_THAT(r.err, Catch::Contains("The Job \"j\" is invalid: spec.template.metadata.labels: "
                                    "Invalid value: map[string]string{\"app\":\"web\"}: "
                                    "`selector` does not match template `labels`"));
  // manualSelector with a matching selector is accepted and kept as given.
  r = run({"create", "-f", "-"},
          head + "  manualSelector: true\n  selector:\n    matchLabels:\n      app: web\n" + tmpl);
  REQUIRE(r.exitCode == 0);
  CHECK(run({"get", "job", "j", "-o", "jsonpath={.spec.selector.matchLabels}"}).out ==
        R"({"app":"web"})");
  REQUIRE(run({"delete", "job", "j"}).exitCode == 0);
  // A selector given without manualSelector is not the generated one.
  r = run({"create", "-f", "-"}, head + "  selector:\n    matchLabels:\n      app: web\n" + tmpl);
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("spec.selector: Invalid value: "
                                    "v1.LabelSelector{MatchLabels:map[string]string{\"app\":"
                                    "\"web\", \"batch.kubernetes.io/controller-uid\":"));
  CHECK_THAT(r.err, Catch::Contains(": `selector` not auto-generated"));
  // A template label that conflicts with the generated job-name label.
  r = run({"create", "-f", "-"},
          head +
              "  template:\n    metadata:\n      labels:\n        job-name: other\n"
              "    spec:\n      restartPolicy: Never\n      containers:\n      - name: c\n"
              "        image: busybox\n");
  CHECK_THAT(r.err, Catch::Contains("spec.template.metadata.labels[job-name]: Invalid value: "
                                    "map[string]string{"));
  CHECK_THAT(r.err, Catch::Contains(": must be 'j'"));
}

TEST_CASE_METHOD(Strict, "names, generateName and template labels are validated") {
  // A Job name longer than 63 characters is a valid name but not a valid job-name label.
  const std::string longName(64, 'a');
  auto r = run({"create", "-f", "-"},
               "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: " + longName +
                   "\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n"
                   "      containers:\n      - name: c\n        image: busybox\n");
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("spec.template.labels: Invalid value: \"" + longName +
                                    "\": must be no more than 63 characters"));
  r = run({"create", "-f", "-"},
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: Bad_\ndata:\n  a: b\n");
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("metadata.generateName: Invalid value: \"Bad_\": a lowercase "
                                    "RFC 1123 subdomain must consist of"));
  CHECK_THAT(r.err, Catch::Contains("metadata.name: Invalid value: \"Bad_"));
  // A trailing dash is fine in a prefix.
  r = run({"create", "-f", "-"},
          "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: good-\ndata:\n  a: b\n");
  CHECK(r.exitCode == 0);
  r = run({"create", "configmap", "Upper"});
  CHECK_THAT(r.err, Catch::Contains("metadata.name: Invalid value: \"Upper\": a lowercase RFC "
                                    "1123 subdomain must consist of"));
  r = run({"create", "-f", "-"}, job("") + "    metadata:\n      labels:\n        tier: \"-x\"\n");
  CHECK_THAT(r.err, Catch::Contains("spec.template.labels: Invalid value: \"-x\": a valid label "
                                    "must be an empty string or consist of"));
}

TEST_CASE_METHOD(Strict, "a body over 3 MiB is 413 and an object over etcd's 1.5 MiB is refused") {
  auto configMap = [](const std::string& name, std::size_t bytes) {
    return json{{"apiVersion", "v1"},
                {"kind", "ConfigMap"},
                {"metadata", {{"name", name}, {"namespace", "default"}}},
                {"data", {{"k", std::string(bytes, 'x')}}}}
        .dump();
  };
  auto r = run({"create", "-f", "-"}, configMap("huge", 3 * 1024 * 1024 + 1));
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("Error from server (RequestEntityTooLarge): error when "
                                    "creating \"STDIN\": Request entity too large: limit is "
                                    "3145728"));
  // Under 3 MiB but over 1.5 MiB once stored: etcd's own error, passed on as a 500.
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "p"}, {"namespace", "default"}}},
              {"spec",
               {{"containers",
                 {{{"name", "c"},
                   {"image", "busybox"},
                   {"env", {{{"name", "BIG"}, {"value", std::string(1600 * 1024, 'x')}}}}}}}}}};
  r = run({"create", "-f", "-"}, pod.dump());
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("Error from server: error when creating \"STDIN\": "
                                    "etcdserver: request is too large"));
  CHECK(run({"get", "pods", "-o", "name"}).out.empty());
  // A smaller pod is stored, and may grow while it stays under the limit.
  pod["spec"]["containers"][0]["env"][0]["value"] = std::string(1000 * 1024, 'x');
  REQUIRE(run({"create", "-f", "-"}, pod.dump()).exitCode == 0);
  CHECK(run({"annotate", "pod", "p", "big=" + std::string(100 * 1024, 'y')}).exitCode == 0);
}
