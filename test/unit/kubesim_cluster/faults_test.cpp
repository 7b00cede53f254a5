#include <catch2/catch.hpp>

#include "test/kubesim/faults.h"

using namespace kubesim;

namespace {

RequestAttributes req(const std::string& verb, const std::string& group,
                      const std::string& resource, const std::string& sub = "") {
  RequestAttributes r;
  r.user = {"admin", {}, {}, {}};
  r.verb = verb;
  r.apiGroup = group;
  r.resource = resource;
  r.subresource = sub;
  r.ns = "data";
  return r;
}

}  // namespace

TEST_CASE("faults: a counted rule fails exactly that many matching requests") {
  Faults f;
  f.add(parseFaultRule(
      {{"verb", "create"}, {"resource", "jobs.batch"}, {"code", 429}, {"count", 2}}));
  CHECK(f.onRequest(req("get", "batch", "jobs")).statusCode == 0);
  auto first = f.onRequest(req("create", "batch", "jobs"));
  CHECK(first.statusCode == 429);
  CHECK(first.retryAfterSeconds == 1);
  CHECK(f.onRequest(req("create", "batch", "jobs")).statusCode == 429);
  CHECK(f.onRequest(req("create", "batch", "jobs")).statusCode == 0);
  CHECK(f.rules().empty());
}

TEST_CASE("faults: fractions are reproducible from the seed") {
  auto run = [] {
    Faults f(42);
    f.add(parseFaultRule({{"resource", "pods"}, {"code", 503}, {"fraction", 0.3}}));
    int failed = 0;
    for (int i = 0; i < 1000; ++i) failed += f.onRequest(req("list", "", "pods")).statusCode == 503;
    return failed;
  };
  int a = run();
  CHECK(a == run());
  CHECK(a > 200);
  CHECK(a < 400);
}

TEST_CASE("faults: resource matching: plain, qualified, subresources") {
  FaultRule r = parseFaultRule({{"resource", "pods"}, {"code", 500}});
  CHECK(faultRuleMatches(r, req("get", "", "pods")));
  CHECK_FALSE(faultRuleMatches(r, req("get", "", "pods", "log")));
  CHECK(faultRuleMatches(parseFaultRule({{"resource", "pods/log"}, {"code", 500}}),
                         req("get", "", "pods", "log")));
  CHECK(faultRuleMatches(parseFaultRule({{"resource", "jobs"}, {"code", 500}}),
                         req("get", "batch", "jobs")));
  RequestAttributes discovery;
  discovery.resourceRequest = false;
  discovery.verb = "get";
  discovery.path = "/api";
  CHECK_FALSE(faultRuleMatches(parseFaultRule({{"code", 500}}), discovery));
}

TEST_CASE("faults: bad rules are rejected with the field") {
  try {
    parseFaultRule({{"code", 418}});
    FAIL("accepted a teapot");
  } catch (const ApiException& e) {
    CHECK(e.code == 422);
    CHECK(e.details["causes"][0]["field"] == "code");
  }
  CHECK_THROWS_AS(parseFaultRule({{"resource", "pods"}}), ApiException);
  CHECK_THROWS_AS(parseFaultRule({{"code", 500}, {"fraction", 2}}), ApiException);
  CHECK_THROWS_AS(parseFaultRule(json::array()), ApiException);
}

TEST_CASE("faults: watches: expire-next, close-all epoch, outage delays and closes") {
  Faults f;
  f.expireNextWatches(1);
  CHECK(f.onRequest(req("list", "", "pods")).goneForWatch == false);
  CHECK(f.onRequest(req("watch", "", "pods")).goneForWatch);
  CHECK_FALSE(f.onRequest(req("watch", "", "pods")).goneForWatch);
  auto epoch = f.watchEpoch();
  f.closeWatches();
  CHECK(f.watchEpoch() == epoch + 1);
  f.outage(std::chrono::milliseconds(2000));
  CHECK(f.watchEpoch() == epoch + 2);
  auto d = f.onRequest(req("get", "", "pods"));
  CHECK(d.delayMs > 1000);
  CHECK(d.delayMs <= 2000);
  f.clear();
  CHECK(f.onRequest(req("get", "", "pods")).delayMs == 0);
}

TEST_CASE("faults: --fault flags take the shorthand or JSON and are checked up front") {
  json r = faultFlagToJson("verb=create, resource=jobs.batch,code=503,fraction=0.5,count=2");
  CHECK(r == json{{"verb", "create"},
                  {"resource", "jobs.batch"},
                  {"code", 503},
                  {"fraction", 0.5},
                  {"count", 2}});
  auto rule = parseFaultRule(r);
  CHECK(rule.verbs == std::vector<std::string>{"create"});
  CHECK(rule.count == 2);
  CHECK(faultFlagToJson("verbs=list|watch,resource=pods,delayMs=200,ns=team")["verbs"] ==
        json{"list", "watch"});
  CHECK(faultFlagToJson("verbs=list|watch,resource=pods,delayMs=200,ns=team")["namespace"] ==
        "team");
  CHECK(faultFlagToJson(R"({"resource": "pods/log", "code": 500})") ==
        json{{"resource", "pods/log"}, {"code", 500}});
  auto message = [](const std::string& text) {
    try {
      faultFlagToJson(text);
    } catch (const ApiException& e) {
      CHECK(e.code == 422);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(message("code=418") ==
        "fault rule: code: unsupported status code 418 (use 429, 500, "
        "503, 409, ...)");
  CHECK(message("code=5x") == "code: \"5x\" is not a number");
  CHECK(message("verb=get") == "fault rule: code: a rule needs a code or a delayMs");
  CHECK(message("code=500,colour=red").rfind("colour: unknown field", 0) == 0);
  CHECK(message("code500") == "\"code500\": expected key=value");
  CHECK(message("{\"code\": ").rfind("not valid JSON", 0) == 0);
}

TEST_CASE("faults: one rule can be removed by its id, the others stay") {
  Faults f;
  int a = f.add(parseFaultRule({{"resource", "jobs"}, {"code", 500}}));
  int b = f.add(parseFaultRule({{"resource", "pods"}, {"code", 503}}));
  CHECK(f.remove(a));
  CHECK_FALSE(f.remove(a));
  CHECK_FALSE(f.remove(12345));
  REQUIRE(f.rules().size() == 1);
  CHECK(f.rules()[0].id == b);
  CHECK(f.onRequest(req("list", "batch", "jobs")).statusCode == 0);
  CHECK(f.onRequest(req("list", "", "pods")).statusCode == 503);
}

TEST_CASE("faults: dropWatchEvents leaves matching objects' events out of watches, count times") {
  Faults f;
  const json flag =
      faultFlagToJson("verb=watch,resource=flowruns,name=lost,dropWatchEvents=true,count=1");
  CHECK(flag == json{{"verb", "watch"},
                     {"resource", "flowruns"},
                     {"name", "lost"},
                     {"dropWatchEvents", true},
                     {"count", 1}});
  f.add(parseFaultRule(flag));
  const auto watch = req("watch", "prefect.io", "flowruns");
  // The watch request itself is neither failed nor delayed.
  CHECK(f.onRequest(watch).statusCode == 0);
  CHECK(f.onRequest(watch).delayMs == 0);
  CHECK_FALSE(f.dropWatchEvent(watch, "data", "other"));
  CHECK_FALSE(f.dropWatchEvent(req("watch", "batch", "jobs"), "data", "lost"));
  CHECK(f.dropWatchEvent(watch, "data", "lost"));
  CHECK_FALSE(f.dropWatchEvent(watch, "data", "lost"));  // count 1: used up
  CHECK(f.rules().empty());
  auto refused = [](const json& rule) {
    try {
      parseFaultRule(rule);
    } catch (const ApiException& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  CHECK(refused({{"resource", "pods"}, {"dropWatchEvents", true}, {"code", 500}}) ==
        "fault rule: dropWatchEvents: cannot be combined with code or delayMs");
  CHECK(refused({{"verb", "list"}, {"resource", "pods"}, {"dropWatchEvents", true}}) ==
        "fault rule: verbs: a dropWatchEvents rule applies to watch only");
  CHECK(refused({{"dropWatchEvents", true}}) ==
        "fault rule: resource: a dropWatchEvents rule needs a resource");
  CHECK(refused({{"resource", "pods"}, {"dropWatchEvents", "yes"}}) ==
        "fault rule: dropWatchEvents: must be a boolean");
}
