#include <catch2/catch.hpp>

#include "operator/kube/redaction.h"

TEST_CASE("Authorization headers keep only the scheme") {
  CHECK(kube::redactAuthorization("Bearer eyJhbGciOi.secret") == "Bearer <redacted>");
  CHECK(kube::redactAuthorization("opaque") == "<redacted>");
}

TEST_CASE("token query parameters are redacted") {
  CHECK(kube::redactUrl("/api/v1/pods?watch=1&token=abc&labelSelector=a") ==
        "/api/v1/pods?watch=1&token=<redacted>&labelSelector=a");
  CHECK(kube::redactUrl("https://h/x?access_token=zzz") == "https://h/x?access_token=<redacted>");
  CHECK(kube::redactUrl("/api/v1/pods") == "/api/v1/pods");
}

TEST_CASE("Secret data is redacted, in objects, lists and watch events") {
  kube::json secret = {
      {"kind", "Secret"},
      {"metadata",
       {{"name", "s"},
        {"annotations", {{"kubectl.kubernetes.io/last-applied-configuration", "{\"data\":1}"}}}}},
      {"data", {{"key", "c2VjcmV0"}}},
      {"stringData", {{"k2", "plain"}}}};
  auto r = kube::redactObject(secret);
  CHECK(r["data"]["key"] == "<redacted>");
  CHECK(r["stringData"]["k2"] == "<redacted>");
  CHECK(r["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] ==
        "<redacted>");
  CHECK(secret["data"]["key"] == "c2VjcmV0");  // the input is untouched
  auto list = kube::redactObject({{"kind", "SecretList"}, {"items", {secret}}});
  CHECK(list["items"][0]["data"]["key"] == "<redacted>");
  auto ev = kube::redactObject({{"type", "ADDED"}, {"object", secret}});
  CHECK(ev["object"]["data"]["key"] == "<redacted>");
  kube::json cm = {{"kind", "ConfigMap"}, {"data", {{"key", "visible"}}}};
  CHECK(kube::redactObject(cm) == cm);
}

TEST_CASE("registered secrets are removed from any text") {
  kube::registerSecret("sekrit-token-0123456789");
  kube::registerSecret("short");  // too short to register
  CHECK(kube::redactText("401 with sekrit-token-0123456789 twice sekrit-token-0123456789") ==
        "401 with <redacted> twice <redacted>");
  CHECK(kube::redactText("a short word") == "a short word");
}
