// Inputs the fuzz targets in test/fuzz found (each crashed the decoder or produced text that a
// status write would refuse), kept as unit tests so they never come back.
#include <catch2/catch.hpp>

#include "operator/kube/api_error.h"
#include "operator/kube/selector.h"
#include "operator/kube/utf8.h"
#include "operator/kube/watch_event_decoder.h"

using kube::json;

TEST_CASE("a Status with members of the wrong type decodes without throwing") {
  // watch_event_fuzz: json::value("kind", "") threw type_error.302 out of the watch thread.
  auto ev = kube::decodeWatchEvent(R"({"type":"ERROR","object":{"kind":205}})");
  REQUIRE_FALSE(ev.ok());
  CHECK(ev.error().code == 500);
  auto e = kube::ApiError::fromStatus(
      403, json{{"kind", "Status"},
                {"reason", 7},
                {"message", {1}},
                {"code", 99999},
                {"details", {{"retryAfterSeconds", "soon"}, {"causes", {{{"field", 3}}}}}}});
  CHECK(e.code == 403);
  CHECK(e.reason == "Forbidden");
  CHECK(e.message == "the server responded with HTTP 403");
  CHECK(e.retryAfterSeconds == 0);
}

TEST_CASE("watch lines: an unknown type is quoted as ASCII, an event needs an object") {
  auto odd = kube::decodeWatchEvent("{\"type\":\"\xc3\xa9v\xc3\xa9nement\",\"object\":{}}");
  REQUIRE_FALSE(odd.ok());
  CHECK(odd.error().message ==
        "the watch stream sent an unknown event type \"\\u00e9v\\u00e9nement\"");
  auto bare = kube::decodeWatchEvent(R"({"type":"ADDED","object":null})");
  REQUIRE_FALSE(bare.ok());
  CHECK(bare.error().message == "the watch stream sent a ADDED event without an object");
}

TEST_CASE("error messages that quote input are valid UTF-8") {
  // label_selector_fuzz: the BadSelector message quoted a half UTF-8 sequence verbatim.
  auto r = kube::LabelSelector::parse("app=\xdf");
  REQUIRE_FALSE(r.ok());
  CHECK(kube::isValidUtf8(r.error().message));
  CHECK(r.error().message.find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD
  CHECK(kube::utf8Problem("ok \xc3\xa9") == "");
  CHECK(kube::utf8Problem("a\xdf") == "invalid UTF-8 sequence at byte 1 (0xDF)");
  CHECK(kube::utf8Problem("\xed\xa0\x80") ==
        "invalid UTF-8 sequence at byte 0 (0xED)");  // a surrogate
  CHECK(kube::utf8Problem("\xf0\x9f\x98\x80 ok") == "");
  CHECK(kube::validUtf8("caf\xc3\xa9") == "caf\xc3\xa9");
}
