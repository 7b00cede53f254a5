// The outcome finalizer (controllers/flowrun/outcome_finalizer.h): put on the Job and its pod
// template once, removed by a JSON patch that tests the entry it removes.
#include <catch2/catch.hpp>

#include "controllers/flowrun/outcome_finalizer.h"

using controllers::flowrun::addOutcomeFinalizer;
using controllers::flowrun::hasOutcomeFinalizer;
using controllers::flowrun::kOutcomeFinalizer;
using controllers::flowrun::outcomeFinalizerRemoval;
using nlohmann::json;

TEST_CASE("the outcome finalizer goes on the Job and its pod template, once") {
  json job = {{"metadata", {{"name", "a"}, {"finalizers", {"example.com/keep"}}}},
              {"spec", {{"template", {{"spec", json::object()}}}}}};
  addOutcomeFinalizer(job);
  addOutcomeFinalizer(job);
  CHECK(job["metadata"]["finalizers"] == json({"example.com/keep", kOutcomeFinalizer}));
  CHECK(job["spec"]["template"]["metadata"]["finalizers"] == json({kOutcomeFinalizer}));
  CHECK(std::string(kOutcomeFinalizer) == "prefect.io/flowrun-outcome");
}

TEST_CASE("its removal tests the entry first and leaves the other finalizers") {
  json pod = {
      {"metadata",
       {{"name", "p"}, {"finalizers", {"batch.kubernetes.io/job-tracking", kOutcomeFinalizer}}}}};
  REQUIRE(hasOutcomeFinalizer(pod));
  auto patch = outcomeFinalizerRemoval(pod);
  REQUIRE(patch);
  CHECK((*patch)[0] ==
        json({{"op", "test"}, {"path", "/metadata/finalizers/1"}, {"value", kOutcomeFinalizer}}));
  json after = pod.patch(*patch);
  CHECK(after["metadata"]["finalizers"] == json({"batch.kubernetes.io/job-tracking"}));
  CHECK_FALSE(hasOutcomeFinalizer(after));
  CHECK_FALSE(outcomeFinalizerRemoval(after));
  // Applied to an object whose finalizers moved since the read, the test fails (422 on a
  // server): nothing else is removed.
  json moved = {{"metadata", {{"finalizers", {kOutcomeFinalizer, "x.io/y"}}}}};
  json stale = {{"metadata", {{"finalizers", {"x.io/y", kOutcomeFinalizer}}}}};
  CHECK_THROWS(moved.patch(*outcomeFinalizerRemoval(stale)));
  CHECK_FALSE(hasOutcomeFinalizer(json::object()));
  CHECK_FALSE(hasOutcomeFinalizer(json{{"metadata", {{"finalizers", "not-a-list"}}}}));
}
