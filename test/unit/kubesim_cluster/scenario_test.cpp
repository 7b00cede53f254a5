#include <catch2/catch.hpp>

#include "test/kubesim/scenario.h"

using kubesim::parseScenario;
using kubesim::scenarioForPod;
using kubesim::scenarioFromImage;
using nlohmann::json;

TEST_CASE("scenario: statements set run time, exit code and logs") {
  auto p = parseScenario("run 2s; exit 3\nlog \"hello; world\"; log \"second \\\"line\\\"\"");
  REQUIRE(p.scenario);
  CHECK(p.scenario->runSeconds == Approx(2.0));
  CHECK(p.scenario->exitCode == 3);
  REQUIRE(p.scenario->logs.size() == 2);
  CHECK(p.scenario->logs[0] == "hello; world");
  CHECK(p.scenario->logs[1] == "second \"line\"");
}

TEST_CASE("scenario: durations in ms, s, m and bare seconds") {
  CHECK(*kubesim::parseDuration("500ms") == Approx(0.5));
  CHECK(*kubesim::parseDuration("1.5m") == Approx(90));
  CHECK(*kubesim::parseDuration("3") == Approx(3));
  CHECK_FALSE(kubesim::parseDuration("3 days"));
  CHECK_FALSE(kubesim::parseDuration("-1s"));
}

TEST_CASE("scenario: outcome keywords") {
  CHECK(parseScenario("unschedulable").scenario->unschedulable);
  CHECK(parseScenario("image-pull-fail").scenario->imagePullFail);
  auto oom = parseScenario("run 1s; oom").scenario;
  CHECK(oom->oomKilled);
  CHECK(oom->exitCode == 137);
  auto crash = parseScenario("crash-loop").scenario;
  CHECK(crash->exitCode == 1);
  CHECK(crash->runSeconds == Approx(0.5));
  CHECK(*parseScenario("evict after 1s").scenario->evictAfter == Approx(1));
  auto sig = parseScenario("ignore-sigterm 5s; run 60s").scenario;
  CHECK(sig->ignoreSigtermSeconds == Approx(5));
  CHECK(sig->runSeconds == Approx(60));
}

TEST_CASE("scenario: errors name the statement and what was expected") {
  auto p = parseScenario("run 2s; explode");
  CHECK_FALSE(p.scenario);
  CHECK(p.error.find("\"explode\"") != std::string::npos);
  CHECK(p.error.find("expected one of") != std::string::npos);
  auto e = parseScenario("exit 300");
  CHECK_FALSE(e.scenario);
  CHECK(e.error.find("0 to 255") != std::string::npos);
  CHECK_FALSE(parseScenario("log hello").scenario);
}

TEST_CASE("scenario: image names choose the outcome") {
  CHECK(scenarioFromImage("kubesim/exit:3")->exitCode == 3);
  CHECK(scenarioFromImage("docker.io/kubesim/exit:7")->exitCode == 7);
  CHECK(scenarioFromImage("kubesim/unschedulable")->unschedulable);
  CHECK(scenarioFromImage("kubesim/image-pull-fail:latest")->imagePullFail);
  CHECK(scenarioFromImage("kubesim/oom")->oomKilled);
  CHECK(scenarioFromImage("kubesim/run:30s")->runSeconds == Approx(30));
  CHECK(scenarioFromImage("kubesim/fail")->exitCode == 1);
  CHECK(*scenarioFromImage("kubesim/evict:2s")->evictAfter == Approx(2));
  CHECK(scenarioFromImage("kubesim/ignore-sigterm:5s")->ignoreSigtermSeconds == Approx(5));
  CHECK_FALSE(scenarioFromImage("prefecthq/prefect:3-latest"));
  CHECK_FALSE(scenarioFromImage("notkubesim/exit:3"));
  CHECK_FALSE(scenarioFromImage("kubesim/unknown-thing"));
}

TEST_CASE("scenario: the annotation wins over the image, the default runs 1s and exits 0") {
  json pod = {{"metadata", {{"annotations", {{"kubesim.io/scenario", "run 2s; exit 4"}}}}},
              {"spec", {{"containers", {{{"name", "c"}, {"image", "kubesim/exit:3"}}}}}}};
  auto p = scenarioForPod(pod);
  REQUIRE(p.scenario);
  CHECK(p.scenario->exitCode == 4);
  CHECK(p.scenario->source == "annotation");
  pod["metadata"].erase("annotations");
  CHECK(scenarioForPod(pod).scenario->exitCode == 3);
  pod["spec"]["containers"][0]["image"] = "busybox";
  auto d = scenarioForPod(pod).scenario;
  CHECK(d->exitCode == 0);
  CHECK(d->runSeconds == Approx(1));
  CHECK(d->source == "default");
  CHECK(scenarioForPod(json::object()).scenario);
}
