// The WorkPool CRD as a user meets it through kubectl: accepted with the other CRDs, documented
// by kubectl explain, defaulted and validated by the server, listed with its printer columns, in
// the prefect category, with a status subresource.
#include <catch2/catch.hpp>

#include "test/integration/clusteridentity/kubesim_env.h"

using identitytest::KubesimEnv;

namespace {
const char* kPool = R"(apiVersion: prefect.io/v1alpha1
kind: WorkPool
metadata: {name: k8s-pool, namespace: prefect}
spec:
  apiUrl: http://prefect-server.prefect:4200/api
  apiKeySecret: {name: prefect-api-key}
  baseJobTemplate: {configMapRef: {name: k8s-pool-template}}
)";
}

TEST_CASE("kubectl explain describes the WorkPool", "[workpool][crd]") {
  KubesimEnv env;
  auto spec = env.kubectl({"explain", "workpool.spec"});
  INFO(spec.err);
  REQUIRE(spec.exitCode == 0);
  for (const char* field :
       {"apiUrl", "cloud", "apiKeySecret", "poolName", "workQueues", "limit", "prefetchSeconds",
        "queryIntervalSeconds", "heartbeatIntervalSeconds", "workerName", "baseJobTemplate"}) {
    CHECK_THAT(spec.out, Catch::Contains(field));
  }
  auto policy = env.kubectl({"explain", "wp.spec.baseJobTemplate.policy"});
  REQUIRE(policy.exitCode == 0);
  CHECK_THAT(policy.out, Catch::Contains("FillIfEmpty"));
  auto conditions = env.kubectl({"explain", "workpool.status.conditions"});
  REQUIRE(conditions.exitCode == 0);
  CHECK_THAT(conditions.out, Catch::Contains("Unauthorized"));
}

TEST_CASE("the server defaults and validates WorkPools", "[workpool][crd]") {
  KubesimEnv env;
  auto created = env.kubectl({"apply", "-f", "-"}, kPool);
  INFO(created.out << created.err);
  REQUIRE(created.exitCode == 0);
  auto get = [&](const std::string& expr) {
    return env.jsonpath({"wp", "k8s-pool", "-n", "prefect"}, expr);
  };
  CHECK(get("{.spec.apiKeySecret.key}") == "key");
  CHECK(get("{.spec.prefetchSeconds}") == "10");
  CHECK(get("{.spec.queryIntervalSeconds}") == "10");
  CHECK(get("{.spec.heartbeatIntervalSeconds}") == "30");
  CHECK(get("{.spec.limit}") == "0");
  CHECK(get("{.spec.baseJobTemplate.configMapRef.key}") == "baseJobTemplate.json");
  CHECK(get("{.spec.baseJobTemplate.policy}") == "FillIfEmpty");

  auto bad = env.kubectl({"apply", "-f", "-"}, R"(apiVersion: prefect.io/v1alpha1
kind: WorkPool
metadata: {name: bad, namespace: prefect}
spec: {apiUrl: "http://x/api", queryIntervalSeconds: 0, baseJobTemplate: {policy: Always}}
)");
  CHECK(bad.exitCode != 0);
  CHECK_THAT(bad.err, Catch::Contains("spec.baseJobTemplate.policy"));
  CHECK_THAT(bad.err, Catch::Contains("spec.queryIntervalSeconds"));
  auto cloud = env.kubectl({"apply", "-f", "-"}, R"(apiVersion: prefect.io/v1alpha1
kind: WorkPool
metadata: {name: cloud, namespace: prefect}
spec: {cloud: {accountId: acc}}
)");
  CHECK(cloud.exitCode != 0);
  CHECK_THAT(cloud.err, Catch::Contains("workspaceId"));
}

TEST_CASE("WorkPool printer columns show the status, and wp is in the prefect category",
          "[workpool][crd]") {
  KubesimEnv env;
  REQUIRE(env.kubectl({"apply", "-f", "-"}, kPool).exitCode == 0);
  auto patched = env.kubectl({"patch", "wp", "k8s-pool", "-n", "prefect", "--subresource=status",
                              "--type=merge", "-p",
                              R"({"status": {"poolName": "k8s-pool", "submitted": 7, "active": 2,
           "conditions": [{"type": "Ready", "status": "False", "reason": "Unreachable",
                           "message": "m", "lastTransitionTime": "2026-12-01T00:00:00Z"},
                          {"type": "Connected", "status": "False", "reason": "Unreachable",
                           "message": "m", "lastTransitionTime": "2026-12-01T00:00:00Z"}]}})"});
  INFO(patched.out << patched.err);
  REQUIRE(patched.exitCode == 0);
  auto table = env.kubectl({"get", "wp", "-n", "prefect"});
  REQUIRE(table.exitCode == 0);
  CHECK_THAT(table.out, Catch::Contains("POOL") && Catch::Contains("SUBMITTED"));
  CHECK_THAT(table.out,
             Catch::Matches("(.|\n)*k8s-pool +k8s-pool +False +Unreachable +7 +2(.|\n)*"));
  auto all = env.kubectl({"get", "prefect", "-n", "prefect"});
  CHECK_THAT(all.out, Catch::Contains("workpool.prefect.io/k8s-pool"));
  // spec is not writable through the status subresource
  CHECK(env.jsonpath({"wp", "k8s-pool", "-n", "prefect"}, "{.spec.limit}") == "0");
}
