// decodeJson: the same tree nlohmann's parser gives, less what the schema leaves out.
#include <catch2/catch.hpp>

#include "operator/kube/json_decode.h"
#include "operator/kube/watch_event_decoder.h"

using kube::decodeJson;
using nlohmann::json;

TEST_CASE("without a schema, decodeJson gives exactly nlohmann's tree, number types included") {
  for (const char* text :
       {R"({"a":1,"b":-2,"c":1.5,"d":18446744073709551615,"e":"x\u00e9\n","f":[true,false,null],
           "g":{},"h":[],"i":{"j":{"k":[1,{"l":"m"}]}},"n":1e3,"o":-0.0})",
        R"([1,2,3])", R"("text")", R"(42)", R"(null)",
        // Beyond 64 bits: simdjson refuses, nlohmann reads a double; the fallback keeps that.
        R"({"big":123456789012345678901234567890})",
        // Duplicate keys: the last wins in both.
        R"({"a":1,"a":2})"}) {
    INFO(text);
    auto decoded = decodeJson(text);
    REQUIRE(decoded);
    json expected = json::parse(text);
    CHECK(*decoded == expected);
    CHECK(decoded->dump() == expected.dump());
    // Same types: an unsigned stays unsigned, a negative signed, a float a float.
    if (expected.is_object() && expected.contains("a") && expected.contains("b")) {
      CHECK((*decoded)["a"].is_number_unsigned());
      CHECK((*decoded)["b"].is_number_integer());
      CHECK_FALSE((*decoded)["b"].is_number_unsigned());
      CHECK((*decoded)["c"].is_number_float());
    }
  }
}

TEST_CASE("decodeJson refuses what is not JSON, as nlohmann does") {
  for (const char* text : {"", "{", "{\"a\":}", "[1,]", "nul", "{\"a\":1} x", "\"\xff\""}) {
    INFO(text);
    CHECK_FALSE(decodeJson(text));
    CHECK(json::parse(text, nullptr, false).is_discarded());
  }
}

TEST_CASE("a schema keeps the members it names, per array element, whole where it says true") {
  const char* text = R"({
    "kind": "Pod",
    "metadata": {"name": "p", "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
                 "labels": {"a": "1"}},
    "spec": {"containers": [{"name": "c1", "env": [{"name": "K", "value": "secret"}]},
                            {"name": "c2", "image": "i"}],
             "volumes": [{"name": "v"}]},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    "extra": 1
  })";
  const json keep = {{"kind", true},
                     {"metadata", {{"name", true}, {"labels", true}}},
                     {"spec", {{"containers", {{"name", true}}}}},
                     {"status", true}};
  auto decoded = decodeJson(text, &keep);
  REQUIRE(decoded);
  CHECK(*decoded == json::parse(R"({
    "kind": "Pod",
    "metadata": {"name": "p", "labels": {"a": "1"}},
    "spec": {"containers": [{"name": "c1"}, {"name": "c2"}]},
    "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
  })"));
  CHECK(*decoded == kube::projectJson(json::parse(text), &keep));
  // A schema member on a value of another type keeps the value as it is.
  const json odd = {{"spec", {{"containers", {{"name", true}}}}}};
  auto scalar = decodeJson(R"({"spec":{"containers":"none"}})", &odd);
  REQUIRE(scalar);
  CHECK((*scalar)["spec"]["containers"] == "none");
}

TEST_CASE("watch lines: the object is trimmed, an ERROR's Status never is") {
  const json keep = {{"metadata", {{"name", true}, {"resourceVersion", true}}}};
  auto ev = kube::decodeWatchEvent(
      R"({"type":"MODIFIED","object":{"metadata":{"name":"p","resourceVersion":"5","uid":"u"},"spec":{}}})",
      &keep);
  REQUIRE(ev.ok());
  CHECK(ev.value().type == "MODIFIED");
  CHECK(ev.value().object == json{{"metadata", {{"name", "p"}, {"resourceVersion", "5"}}}});
  auto gone = kube::decodeWatchEvent(
      R"j({"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version: 5 (9)","reason":"Expired","code":410}})j",
      &keep);
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().code == 410);
  CHECK(gone.error().message.find("too old resource version") != std::string::npos);
  CHECK_FALSE(kube::decodeWatchEvent("{\"type\":", &keep).ok());
}
