#include <catch2/catch.hpp>

#include <thread>

#include "operator/runtime/api_event_recorder.h"
#include "test/unit/runtime/fake_client.h"

using namespace std::chrono_literals;
using kube::json;
using runtime::ApiEventRecorder;
using runtime::EventRecorderOptions;
using runtimetest::FakeClient;

namespace {
json flowRun(const std::string& name, const std::string& uid) {
  return {{"apiVersion", "prefect.io/v1alpha1"},
          {"kind", "FlowRun"},
          {"metadata",
           {{"name", name}, {"namespace", "data"}, {"uid", uid}, {"resourceVersion", "42"}}}};
}
EventRecorderOptions quiet() {
  EventRecorderOptions o;
  o.reportingInstance = "replica-1";
  o.logger =
      runtime::Logger(runtime::LogFormat::Json, runtime::LogLevel::Error, [](std::string_view) {});
  return o;
}
}  // namespace

TEST_CASE("an event is a core/v1 Event about the involved object", "[events]") {
  FakeClient api;
  ApiEventRecorder rec(api, "flowrun-operator", quiet());
  rec.record(flowRun("run-1", "u1"), "Normal", "JobCreated", "Created Job run-1");
  REQUIRE(rec.flush(5s));
  auto events = api.all("events");
  REQUIRE(events.size() == 1);
  const auto& e = events[0];
  CHECK(e["metadata"]["namespace"] == "data");
  CHECK(e["metadata"]["name"].get<std::string>().rfind("run-1.", 0) == 0);
  CHECK(e["involvedObject"] == json{{"apiVersion", "prefect.io/v1alpha1"},
                                    {"kind", "FlowRun"},
                                    {"name", "run-1"},
                                    {"namespace", "data"},
                                    {"uid", "u1"},
                                    {"resourceVersion", "42"}});
  CHECK(e["type"] == "Normal");
  CHECK(e["reason"] == "JobCreated");
  CHECK(e["message"] == "Created Job run-1");
  CHECK(e["count"] == 1);
  CHECK(e["source"]["component"] == "flowrun-operator");
  CHECK(e["reportingComponent"] == "flowrun-operator");
  CHECK(e["reportingInstance"] == "replica-1");
  CHECK(e["firstTimestamp"] == e["lastTimestamp"]);
  CHECK(e["firstTimestamp"].get<std::string>().size() == 20);  // 2026-11-23T18:36:00Z
}

TEST_CASE("repeats are aggregated into a count on the same Event", "[events]") {
  FakeClient api;
  ApiEventRecorder rec(api, "flowrun-operator", quiet());
  for (int i = 0; i < 5; ++i)
    rec.record(flowRun("run-1", "u1"), "Warning", "PodPending", "0/3 nodes are available");
  rec.record(flowRun("run-1", "u1"), "Warning", "PodPending", "another message");
  rec.record(flowRun("run-2", "u2"), "Warning", "PodPending", "0/3 nodes are available");
  REQUIRE(rec.flush(5s));
  auto events = api.all("events");
  REQUIRE(events.size() == 3);
  int fives = 0;
  for (auto& e : events)
    if (e["count"] == 5) {
      ++fives;
      CHECK(e["involvedObject"]["name"] == "run-1");
      CHECK(e["message"] == "0/3 nodes are available");
    }
  CHECK(fives == 1);
  CHECK(api.writeCount("events:create") == 3);
  CHECK(api.writeCount("events:patch") == 4);
}

TEST_CASE("a repeat whose Event expired creates a new one", "[events]") {
  FakeClient api;
  ApiEventRecorder rec(api, "c", quiet());
  rec.record(flowRun("run-1", "u1"), "Normal", "R", "m");
  REQUIRE(rec.flush(5s));
  auto e = api.all("events").at(0);
  api.remove(kube::resources::CoreEvents, "data", e["metadata"]["name"], {});
  rec.record(flowRun("run-1", "u1"), "Normal", "R", "m");
  REQUIRE(rec.flush(5s));
  auto events = api.all("events");
  REQUIRE(events.size() == 1);
  CHECK(events[0]["count"] == 1);
}

TEST_CASE("cluster-scoped objects get their events in default", "[events]") {
  FakeClient api;
  ApiEventRecorder rec(api, "c", quiet());
  json cid = {{"apiVersion", "prefect.io/v1alpha1"},
              {"kind", "ClusterIdentity"},
              {"metadata", {{"name", "cluster"}, {"uid", "c1"}}}};
  rec.record(cid, "Normal", "IdentityAssigned", "generated");
  REQUIRE(rec.flush(5s));
  auto events = api.all("events");
  REQUIRE(events.size() == 1);
  CHECK(events[0]["metadata"]["namespace"] == "default");
  CHECK_FALSE(events[0]["involvedObject"].contains("namespace"));
}

TEST_CASE("the per-object spam filter caps a hot loop", "[events]") {
  FakeClient api;
  auto o = quiet();
  o.spamBurst = 3;
  ApiEventRecorder rec(api, "c", o);
  for (int i = 0; i < 10; ++i)
    rec.record(flowRun("hot", "h"), "Normal", "Tick", "tick " + std::to_string(i));
  rec.record(flowRun("cold", "c"), "Normal", "Tick", "tick");
  REQUIRE(rec.flush(5s));
  CHECK(api.all("events").size() == 4);  // 3 for hot, 1 for cold
  CHECK(rec.dropped() == 7);
}

TEST_CASE("a full queue makes record wait for room: no Event is lost under load", "[events]") {
  // 16 workers recording at once used to overflow the queue ("event queue is full") and lose
  // the Event of a transition; now the producers wait while the sender drains.
  FakeClient api;
  auto o = quiet();
  o.queueCapacity = 2;
  ApiEventRecorder rec(api, "c", o);
  std::vector<std::thread> workers;
  for (int w = 0; w < 8; ++w) {
    workers.emplace_back([&rec, w] {
      for (int i = 0; i < 50; ++i) {
        std::string n =
            std::string("r").append(std::to_string(w)).append("-").append(std::to_string(i));
        rec.record(flowRun(n, std::string("u").append(n)), "Normal", "R", "m");
      }
    });
  }
  for (auto& t : workers) t.join();
  REQUIRE(rec.flush(10s));
  CHECK(rec.dropped() == 0);
  CHECK(api.all("events").size() == 400);
}

TEST_CASE("with an API server that hangs, a full queue drops after the wait, with a count",
          "[events]") {
  FakeClient api;
  auto o = quiet();
  o.queueCapacity = 2;
  o.fullQueueWait = 20ms;
  ApiEventRecorder rec(api, "c", o);
  api.setBlocked(true);  // the API server hangs
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i)
    rec.record(flowRun(std::string("r").append(std::to_string(i)),
                       std::string("u").append(std::to_string(i))),
               "Normal", "R", "m");
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);  // bounded: the reconciler carries on
  CHECK(rec.dropped() >= 7);                          // one in flight, two queued
  api.setBlocked(false);
  REQUIRE(rec.flush(5s));
  CHECK(api.all("events").size() + rec.dropped() == 10);
}

TEST_CASE("bad input and API failures never throw", "[events]") {
  FakeClient api;
  ApiEventRecorder rec(api, "c", quiet());
  CHECK_NOTHROW(rec.record(json("garbage"), "Normal", "R", "m"));
  CHECK_NOTHROW(rec.record(json::object(), "Normal", "R", "m"));
  CHECK_NOTHROW(rec.record(flowRun("a", "u"), "Info", "R", "m"));  // invalid type
  api.setFailing(true);
  CHECK_NOTHROW(rec.record(flowRun("a", "u"), "Normal", "R", std::string(5000, 'x')));
  REQUIRE(rec.flush(5s));
  CHECK(rec.dropped() == 4);
  api.setFailing(false);
  rec.record(flowRun("a", "u"), "Normal", "R", std::string(5000, 'x'));
  REQUIRE(rec.flush(5s));
  auto events = api.all("events");
  REQUIRE(events.size() == 1);
  CHECK(events[0]["message"].get<std::string>().size() == 1024);  // truncated
}
