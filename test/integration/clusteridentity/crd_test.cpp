// The CRDs as a user meets them: accepted by the API server through `kubectl apply -f crds/`,
// documented by `kubectl explain`, defaulted and validated by the server, listed with their
// printer columns and under the `prefect` category.
#include <catch2/catch.hpp>

#include "test/integration/clusteridentity/kubesim_env.h"

using identitytest::KubesimEnv;

TEST_CASE("kubectl apply -f crds/ is accepted and kubectl explain describes every field", "[crd]") {
  KubesimEnv env;
  auto crds = env.jsonpath({"crd"}, "{.items[*].metadata.name}");
  CHECK_THAT(crds, Catch::Contains("flowruns.prefect.io"));
  CHECK_THAT(crds, Catch::Contains("clusteridentities.prefect.io"));

  auto spec = env.kubectl({"explain", "flowrun.spec"});
  INFO(spec.err);
  REQUIRE(spec.exitCode == 0);
  for (const char* field :
       {"flowRunId", "image", "command", "env", "imagePullPolicy", "finishedJobTTL",
        "podWatchTimeoutSeconds", "jobWatchTimeoutSeconds", "backoffLimit", "template", "variables",
        "apiKeySecret", "cancel", "cancelGracePeriodSeconds", "serviceAccountName", "labels"}) {
    CHECK_THAT(spec.out, Catch::Contains(field));
  }
  CHECK_THAT(spec.out, Catch::Contains("Prefect flow run id"));

  auto uid = env.kubectl({"explain", "clusteridentity.spec.uid"});
  REQUIRE(uid.exitCode == 0);
  CHECK_THAT(uid.out, Catch::Contains("1 to 128"));
  auto phase = env.kubectl({"explain", "flowrun.status.phase"});
  REQUIRE(phase.exitCode == 0);
  CHECK_THAT(phase.out, Catch::Contains("Crashed"));
  auto source = env.kubectl({"explain", "cid.status.source"});
  REQUIRE(source.exitCode == 0);
  CHECK_THAT(source.out, Catch::Contains("Restored"));
}

TEST_CASE("the server defaults and validates FlowRuns and ClusterIdentities", "[crd]") {
  KubesimEnv env;
  auto created = env.kubectl({"apply", "-f", "-"}, R"(apiVersion: prefect.io/v1alpha1
kind: FlowRun
metadata:
  name: etl
  namespace: data
spec:
  image: prefecthq/prefect:3-latest
  command: "prefect flow-run execute"
  env: {PREFECT_API_URL: "http://prefect:4200/api"}
  template:
    configMapRef: {name: k8s-pool-template}
  variables: {memory: 512, nested: {a: [1, "b"]}}
  apiKeySecret: {name: prefect-api-key}
)");
  INFO(created.out << created.err);
  REQUIRE(created.exitCode == 0);
  CHECK(env.jsonpath({"fr", "etl", "-n", "data"}, "{.spec.cancel}") == "false");
  CHECK(env.jsonpath({"fr", "etl", "-n", "data"}, "{.spec.cancelGracePeriodSeconds}") == "30");
  CHECK(env.jsonpath({"fr", "etl", "-n", "data"}, "{.spec.template.configMapRef.key}") ==
        "baseJobTemplate.json");
  CHECK(env.jsonpath({"fr", "etl", "-n", "data"}, "{.spec.apiKeySecret.key}") == "key");
  // Free-form fields keep their content and type.
  CHECK(env.jsonpath({"fr", "etl", "-n", "data"}, "{.spec.variables.nested.a[1]}") == "b");
  CHECK(env.jsonpath({"fr", "etl", "-n", "data"}, "{.spec.command}") == "prefect flow-run execute");

  auto list = env.kubectl({"apply", "-f", "-"}, R"(apiVersion: prefect.io/v1alpha1
kind: FlowRun
metadata: {name: listed, namespace: data}
spec: {command: ["prefect", "flow-run", "execute"]}
)");
  INFO(list.err);
  CHECK(list.exitCode == 0);

  auto badPolicy = env.kubectl({"apply", "-f", "-"}, R"(apiVersion: prefect.io/v1alpha1
kind: FlowRun
metadata: {name: bad, namespace: data}
spec: {imagePullPolicy: Sometimes}
)");
  CHECK(badPolicy.exitCode != 0);
  CHECK_THAT(badPolicy.err, Catch::Contains("imagePullPolicy"));

  auto negative = env.kubectl({"apply", "-f", "-"}, R"(apiVersion: prefect.io/v1alpha1
kind: FlowRun
metadata: {name: bad2, namespace: data}
spec: {backoffLimit: -1}
)");
  CHECK(negative.exitCode != 0);
  CHECK_THAT(negative.err, Catch::Contains("backoffLimit"));

  // A ClusterIdentity's publish name is defaulted; a bad spec.uid is accepted by the schema on
  // purpose (the controller reports it in the Ready condition).
  auto cid = env.kubectl({"apply", "-f", "-"}, R"(apiVersion: prefect.io/v1alpha1
kind: ClusterIdentity
metadata: {name: cluster}
spec:
  uid: "has:colon"
  publish: {namespaces: [prefect]}
)");
  INFO(cid.err);
  REQUIRE(cid.exitCode == 0);
  CHECK(env.jsonpath({"cid", "cluster"}, "{.spec.publish.configMapName}") ==
        "prefect-cluster-identity");

  // Status is a subresource: a spec write cannot set it.
  env.kubectl(
      {"patch", "cid", "cluster", "--type", "merge", "-p", R"({"status":{"uid":"forged"}})"});
  CHECK(env.uid().empty());
}

TEST_CASE("printer columns, short names and the prefect category", "[crd]") {
  KubesimEnv env;
  REQUIRE(env.kubectl({"apply", "-f", "-"}, R"(apiVersion: prefect.io/v1alpha1
kind: ClusterIdentity
metadata: {name: cluster}
spec: {}
---
apiVersion: prefect.io/v1alpha1
kind: FlowRun
metadata: {name: etl, namespace: data}
spec: {image: busybox}
)")
              .exitCode == 0);
  auto cid = env.kubectl({"get", "cid"});
  INFO(cid.err);
  REQUIRE(cid.exitCode == 0);
  for (const char* column : {"NAME", "UID", "SOURCE", "READY", "AGE"}) {
    CHECK_THAT(cid.out, Catch::Contains(column));
  }
  auto fr = env.kubectl({"get", "fr", "-n", "data"});
  REQUIRE(fr.exitCode == 0);
  for (const char* column : {"NAME", "PHASE", "REASON", "JOB", "EXIT", "AGE"}) {
    CHECK_THAT(fr.out, Catch::Contains(column));
  }
  auto all = env.kubectl({"get", "prefect", "-A"});
  INFO(all.err);
  REQUIRE(all.exitCode == 0);
  CHECK_THAT(all.out, Catch::Contains("clusteridentity.prefect.io/cluster"));
  CHECK_THAT(all.out, Catch::Contains("flowrun.prefect.io/etl"));
}
