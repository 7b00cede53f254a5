#include <catch2/catch.hpp>

#include "test/kubesim/container_env.h"
#include "test/kubesim/util.h"

using namespace kubesim;

namespace {

json pod(json env, json envFrom = json::array()) {
  return {{"metadata",
           {{"name", "p"},
            {"namespace", "team"},
            {"uid", "u-1"},
            {"labels", {{"app", "flow"}}},
            {"annotations", {{"a.b/c", "x"}}}}},
          {"spec",
           {{"nodeName", "kubesim-node"},
            {"containers", {{{"name", "main"}, {"env", env}, {"envFrom", envFrom}}}}}},
          {"status", {{"podIP", "10.0.0.7"}}}};
}

ObjectLookup lookupOf(std::map<std::string, json> objects) {
  return [objects](const std::string& resource, const std::string& name) -> std::optional<json> {
    auto it = objects.find(resource + "/" + name);
    if (it == objects.end()) return std::nullopt;
    return it->second;
  };
}

json cmRef(const std::string& name, const std::string& key, bool optional = false) {
  json ref = {{"name", name}, {"key", key}};
  if (optional) ref["optional"] = true;
  return {{"configMapKeyRef", ref}};
}

}  // namespace

TEST_CASE("container env: values, $(VAR) expansion and fieldRef") {
  json env = {
      {{"name", "A"}, {"value", "one"}},
      {{"name", "B"}, {"value", "$(A)-two $(MISSING) $$(A)"}},
      {{"name", "NAME"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
      {{"name", "NS"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}},
      {{"name", "IP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}},
      {{"name", "APP"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.labels['app']"}}}}}},
      {{"name", "ANN"},
       {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.annotations['a.b/c']"}}}}}}};
  auto r = resolveContainerEnv(pod(env), "main", lookupOf({}));
  REQUIRE(r.error.empty());
  auto m = r.asMap();
  CHECK(m["B"] == "one-two $(MISSING) $(A)");
  CHECK(m["NAME"] == "p");
  CHECK(m["NS"] == "team");
  CHECK(m["IP"] == "10.0.0.7");
  CHECK(m["APP"] == "flow");
  CHECK(m["ANN"] == "x");
}

TEST_CASE("container env: configMapKeyRef and secretKeyRef with the kubelet's errors") {
  auto objects = lookupOf({{"configmaps/ident", {{"data", {{"uid", "1234"}}}}},
                           {"secrets/key", {{"data", {{"token", base64Encode("s3cret")}}}}}});
  json env = {
      {{"name", "UID"}, {"valueFrom", cmRef("ident", "uid")}},
      {{"name", "TOKEN"}, {"valueFrom", {{"secretKeyRef", {{"name", "key"}, {"key", "token"}}}}}}};
  auto ok = resolveContainerEnv(pod(env), "", objects);
  REQUIRE(ok.error.empty());
  CHECK(ok.asMap()["UID"] == "1234");
  CHECK(ok.asMap()["TOKEN"] == "s3cret");

  auto missing = resolveContainerEnv(
      pod(json::array({{{"name", "X"}, {"valueFrom", cmRef("nope", "uid")}}})), "", objects);
  CHECK(missing.error == "configmap \"nope\" not found");
  auto noKey = resolveContainerEnv(
      pod(json::array({{{"name", "X"}, {"valueFrom", cmRef("ident", "other")}}})), "", objects);
  CHECK(noKey.error == "couldn't find key other in ConfigMap team/ident");
  auto noSecret = resolveContainerEnv(
      pod(json::array(
          {{{"name", "X"}, {"valueFrom", {{"secretKeyRef", {{"name", "gone"}, {"key", "k"}}}}}}})),
      "", objects);
  CHECK(noSecret.error == "secret \"gone\" not found");
  // optional references that cannot be resolved leave the variable out.
  auto optional = resolveContainerEnv(
      pod(json::array({{{"name", "X"}, {"valueFrom", cmRef("nope", "uid", true)}},
                       {{"name", "Y"}, {"valueFrom", cmRef("ident", "other", true)}}})),
      "", objects);
  CHECK(optional.error.empty());
  CHECK(optional.vars.empty());
}

TEST_CASE("container env: envFrom with prefix, env wins over envFrom") {
  auto objects = lookupOf({{"configmaps/settings", {{"data", {{"MODE", "fast"}, {"A", "from"}}}}},
                           {"secrets/creds", {{"data", {{"KEY", base64Encode("k")}}}}}});
  json envFrom = {{{"configMapRef", {{"name", "settings"}}}},
                  {{"prefix", "S_"}, {"secretRef", {{"name", "creds"}}}}};
  json env = {{{"name", "A"}, {"value", "env-$(MODE)"}}};
  auto r = resolveContainerEnv(pod(env, envFrom), "main", objects);
  REQUIRE(r.error.empty());
  auto m = r.asMap();
  CHECK(m["MODE"] == "fast");
  CHECK(m["S_KEY"] == "k");
  CHECK(m["A"] == "env-fast");
  auto missing = resolveContainerEnv(
      pod(json::array(), json::array({{{"configMapRef", {{"name", "absent"}}}}})), "", objects);
  CHECK(missing.error == "configmap \"absent\" not found");
  auto optional = resolveContainerEnv(
      pod(json::array(),
          json::array({{{"configMapRef", {{"name", "absent"}, {"optional", true}}}}})),
      "", objects);
  CHECK(optional.error.empty());
}

TEST_CASE("container env: an unsupported fieldPath is an error that names it") {
  json env = {{{"name", "X"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "spec.nope"}}}}}}};
  CHECK(resolveContainerEnv(pod(env), "", lookupOf({})).error ==
        "unsupported fieldPath: spec.nope");
}
