// Label keys and values made valid, and the GitOps keys that are never copied.
#include <catch2/catch.hpp>

#include <vector>

#include "controllers/flowrun/job_renderer.h"
#include "controllers/flowrun/labels.h"

using namespace controllers::flowrun;

TEST_CASE("toLabelValue: valid values stay as they are") {
  for (std::string v : {"data", "Team_A.1", "0b8c1b5e-1111-2222-3333-444455556666", ""}) {
    CHECK(toLabelValue(v) == v);
    CHECK(isValidLabelValue(toLabelValue(v)));
  }
}

TEST_CASE("toLabelValue: invalid characters become '-', ends trimmed, at most 63 chars") {
  CHECK(toLabelValue("test label") == "test-label");
  CHECK(toLabelValue("a  /  b") == "a-b");
  CHECK(toLabelValue("--hello--") == "hello");
  CHECK(toLabelValue("_.x._") == "x");
  CHECK(toLabelValue("café au lait") == "caf-au-lait");
  CHECK(toLabelValue("!!!") == "");
  const std::string longValue(70, 'a');
  CHECK(toLabelValue(longValue) == std::string(63, 'a'));
  // Truncation that would end on a separator trims it.
  const std::string cut = std::string(62, 'b') + "-c";
  CHECK(toLabelValue(cut) == std::string(62, 'b'));
  for (const std::string& v :
       std::vector<std::string>{"test label", "a  /  b", "x y z!", std::string(100, '-') + "q"}) {
    CHECK(isValidLabelValue(toLabelValue(v)));
  }
}

TEST_CASE("toLabelKey: prefix is a lowercase DNS subdomain, name like a value") {
  CHECK(toLabelKey("team") == "team");
  CHECK(toLabelKey("TEST_LABEL") == "TEST_LABEL");
  CHECK(toLabelKey("prefect.io/flow-run-id") == "prefect.io/flow-run-id");
  CHECK(toLabelKey("My Company.COM/cost center") == "my-company.com/cost-center");
  CHECK(toLabelKey("-a-.b./x") == "a.b/x");
  CHECK(toLabelKey("a/b/c") == "a/b-c");
  CHECK(toLabelKey("///") == "");
  CHECK(toLabelKey("example.com/!!!") == "");
  CHECK(toLabelKey("!!!/name") == "name");
  // The prefix is at most 253 characters of DNS labels of at most 63 each.
  const std::string longPrefix = std::string(300, 'p') + "/n";
  CHECK(toLabelKey(longPrefix) == std::string(63, 'p') + "/n");
  std::string manyParts;
  for (int i = 0; i < 10; ++i) manyParts += std::string(40, static_cast<char>('a' + i)) + ".";
  const std::string many = toLabelKey(manyParts + "io/n");
  CHECK(many.size() <= 253 + 2);
  CHECK(isValidLabelKey(many));
  CHECK(toLabelKey(std::string(80, 'n')) == std::string(63, 'n'));
  for (const std::string& key : std::vector<std::string>{
           "My Company.COM/cost center", "a/b/c", "weird key!", longPrefix, manyParts + "/x"}) {
    CHECK(isValidLabelKey(toLabelKey(key)));
  }
  CHECK_FALSE(isValidLabelKey(""));
  CHECK_FALSE(isValidLabelKey("UPPER.io/x"));
}

TEST_CASE("isGitOpsTrackingKey: ArgoCD and Flux tracking keys") {
  CHECK(isGitOpsTrackingKey("app.kubernetes.io/instance"));
  CHECK(isGitOpsTrackingKey("argocd.argoproj.io/tracking-id"));
  CHECK(isGitOpsTrackingKey("argocd.argoproj.io/sync-options"));
  CHECK(isGitOpsTrackingKey("kustomize.toolkit.fluxcd.io/name"));
  CHECK_FALSE(isGitOpsTrackingKey("app.kubernetes.io/name"));
  CHECK_FALSE(isGitOpsTrackingKey("team"));
}

TEST_CASE("jobNameFor: the FlowRun name when it is a DNS label, else prefix and stable hash") {
  CHECK(jobNameFor("etl-nightly-42") == "etl-nightly-42");
  const std::string long1 = std::string(100, 'x') + "-1";
  const std::string long2 = std::string(100, 'x') + "-2";
  const std::string a = jobNameFor(long1);
  CHECK(a.size() <= 63);
  CHECK(a == jobNameFor(long1));  // deterministic
  CHECK(a != jobNameFor(long2));  // the hash covers the whole name, not the kept prefix
  CHECK(a.rfind(std::string(52, 'x') + "-", 0) == 0);
  // A name of exactly 63 characters is kept; 64 is shortened.
  CHECK(jobNameFor(std::string(63, 'y')) == std::string(63, 'y'));
  CHECK(jobNameFor(std::string(64, 'y')).size() == 63);
  // Dots are valid in FlowRun names but not in a DNS label: replaced, and a hash keeps
  // "a.b" and "a-b" apart.
  CHECK(jobNameFor("a.b").rfind("a-b-", 0) == 0);
  CHECK(jobNameFor("a.b") != jobNameFor("a-b"));
  CHECK(jobNameFor("a.b").size() == 3 + 1 + 10);
  CHECK(jobNameFor("...").rfind("flowrun-", 0) == 0);
  // Known value (sha256 of the name): pins the hash so that a change that would rename live
  // Jobs, and so orphan them across an operator upgrade, fails here.
  CHECK(jobNameFor("a.b") == "a-b-2e7336dc8e");
}

TEST_CASE("flowRunLabelValue: the name when it fits in a label value, else the Job name") {
  CHECK(flowRunLabelValue("etl.nightly") == "etl.nightly");
  const std::string longName(200, 'z');
  CHECK(flowRunLabelValue(longName) == jobNameFor(longName));
  CHECK(isValidLabelValue(flowRunLabelValue(longName)));
}
