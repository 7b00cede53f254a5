#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "controllers/clusteridentity/reconciler.h"
#include "controllers/clusteridentity/uid.h"
#include "operator/kube/resource.h"
#include "test/unit/clusteridentity/fake_kube.h"

using namespace controllers::clusteridentity;
using fakes::FakeClient;
using fakes::FakeRecorder;
using fakes::FakeStore;
using kube::json;
namespace res = kube::resources;

namespace {

const std::string kOpNs = "flowrun-operator";
const std::string kBackup = "flowrun-operator-cluster-identity";

// One operator replica: its caches (filled from the shared fake server on demand) and reconciler.
struct Replica {
  FakeClient& server;
  FakeStore identities;
  FakeStore configMaps;
  FakeRecorder& recorder;
  std::unique_ptr<ClusterIdentityReconciler> reconciler;

  Replica(FakeClient& s, FakeRecorder& r, ClusterIdentityOptions o = defaults())
      : server(s), recorder(r) {
    reconciler = std::make_unique<ClusterIdentityReconciler>(server, identities, configMaps,
                                                             recorder, std::move(o));
  }
  static ClusterIdentityOptions defaults() {
    ClusterIdentityOptions o;
    o.operatorNamespace = kOpNs;
    o.backupConfigMap = kBackup;
    o.recreateDelay = std::chrono::milliseconds(0);
    return o;
  }
  void sync() {
    identities.syncFrom(server, res::ClusterIdentities);
    configMaps.syncFrom(server, res::ConfigMaps);
  }
  // Reconcile with caches that are up to date, like an informer that has caught up.
  runtime::ReconcileOutcome run() {
    sync();
    auto out = reconciler->reconcile(reconciler->key());
    sync();
    return out;
  }
  std::optional<std::string> uid() const { return reconciler->provider().clusterUid(); }
};

json& identity(FakeClient& c, const std::string& name = "cluster") {
  json* o = c.find(res::ClusterIdentities, "", name);
  REQUIRE(o != nullptr);
  return *o;
}

json readyCondition(const json& obj) {
  for (const auto& c : obj["status"].value("conditions", json::array())) {
    if (c.value("type", "") == "Ready") return c;
  }
  return json::object();
}

void putIdentity(FakeClient& c, json spec = json::object(), json status = json()) {
  json o = {{"apiVersion", "prefect.io/v1alpha1"},
            {"kind", "ClusterIdentity"},
            {"metadata", {{"name", "cluster"}}},
            {"spec", spec}};
  if (!status.is_null()) o["status"] = status;
  c.put(res::ClusterIdentities, o);
}

// The user edits spec: generation goes up, like on a real server.
void setSpec(FakeClient& c, const json& spec) {
  json& o = identity(c);
  o["spec"] = spec;
  o["metadata"]["generation"] = o["metadata"]["generation"].get<int>() + 1;
  o["metadata"]["resourceVersion"] = o["metadata"]["resourceVersion"].get<std::string>() + "1";
}

bool isDone(const runtime::ReconcileOutcome& o) {
  return o.kind == runtime::ReconcileOutcome::Kind::Done;
}

}  // namespace

TEST_CASE("first start: creates the singleton and generates a UUIDv4 identity", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  Replica a(server, recorder);
  CHECK_FALSE(a.uid());

  auto out = a.run();
  CHECK(isDone(out));
  json& obj = identity(server);
  const std::string uid = obj["status"]["uid"];
  CHECK(isUuidV4(uid));
  CHECK(obj["status"]["source"] == "Generated");
  CHECK(obj["status"]["observedGeneration"] == 1);
  auto ready = readyCondition(obj);
  CHECK(ready["status"] == "True");
  CHECK(ready["reason"] == "IdentityAssigned");
  CHECK(ready["observedGeneration"] == 1);
  CHECK(ready.contains("lastTransitionTime"));
  CHECK(a.uid() == std::optional<std::string>(uid));
  CHECK(recorder.count("IdentityGenerated") == 1);

  // The backup holds the same identity and is labelled for the ConfigMap informer.
  json* backup = server.find(res::ConfigMaps, kOpNs, kBackup);
  REQUIRE(backup);
  CHECK((*backup)["data"]["uid"] == uid);
  CHECK(a.reconciler->keyForConfigMap(*backup) == std::optional(a.reconciler->key()));

  // The identity is in status; the spec the user (or GitOps) owns is untouched.
  CHECK(obj["spec"] == json::object());
}

TEST_CASE("steady state: identity stable across restarts, no writes", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  std::string first;
  {
    Replica a(server, recorder);
    a.run();
    first = identity(server)["status"]["uid"];
  }
  server.clearRequests();
  for (int restart = 0; restart < 10; ++restart) {
    Replica r(server, recorder);
    CHECK(isDone(r.run()));
    CHECK(r.uid() == std::optional<std::string>(first));
  }
  CHECK(identity(server)["status"]["uid"] == first);
  CHECK(server.count("updateStatus", "clusteridentities") == 0);
  CHECK(server.count("create", "configmaps") == 0);
  CHECK(server.count("update", "configmaps") == 0);
  CHECK(recorder.count("IdentityGenerated") == 1);
}

TEST_CASE("delete and re-create restores the same identity from the backup", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  Replica a(server, recorder);
  a.run();
  const std::string uid = identity(server)["status"]["uid"];

  SECTION("the operator re-creates it") {
    server.erase(res::ClusterIdentities, "", "cluster");
    a.run();
  }
  SECTION("a user or GitOps tool re-creates it (with a spec of its own)") {
    server.erase(res::ClusterIdentities, "", "cluster");
    putIdentity(server, {{"publish", {{"namespaces", {"prefect"}}}}});
    a.run();
  }
  SECTION("a fresh operator meets a fresh object (restore before generate)") {
    server.erase(res::ClusterIdentities, "", "cluster");
    putIdentity(server);
    Replica fresh(server, recorder);
    fresh.run();
    CHECK(fresh.uid() == std::optional<std::string>(uid));
  }
  json& obj = identity(server);
  CHECK(obj["status"]["uid"] == uid);
  CHECK(obj["status"]["source"] == "Restored");
  CHECK(readyCondition(obj)["status"] == "True");
  CHECK(recorder.count("IdentityRestored") == 1);
  CHECK(recorder.count("IdentityGenerated") == 1);
  // The backup now names the new object, so a later stale read is not taken for a restore.
  CHECK((*server.find(res::ConfigMaps, kOpNs, kBackup))["data"]["objectUid"] ==
        obj["metadata"]["uid"]);
}

TEST_CASE("after a deletion the operator waits before re-creating", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  auto options = Replica::defaults();
  options.recreateDelay = std::chrono::milliseconds(60000);
  Replica a(server, recorder, options);
  a.run();  // first creation is immediate
  REQUIRE(server.find(res::ClusterIdentities, "", "cluster"));

  server.erase(res::ClusterIdentities, "", "cluster");
  auto out = a.run();
  CHECK(out.kind == runtime::ReconcileOutcome::Kind::RequeueAfter);
  CHECK(out.requeueAfter > std::chrono::milliseconds(0));
  CHECK(out.requeueAfter <= std::chrono::milliseconds(60000));
  CHECK(server.find(res::ClusterIdentities, "", "cluster") == nullptr);
  CHECK_FALSE(a.uid());  // FlowRuns wait while there is no object
}

TEST_CASE("create-cluster-identity off: never creates, waits for the object", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  auto options = Replica::defaults();
  options.create = false;
  Replica a(server, recorder, options);
  CHECK(isDone(a.run()));
  CHECK(server.count("create", "clusteridentities") == 0);
  CHECK_FALSE(a.uid());

  putIdentity(server);
  a.run();
  CHECK(a.uid());
  CHECK(identity(server)["status"]["source"] == "Generated");
}

TEST_CASE("no object and no creation: a valid --cluster-uid is the identity", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  auto options = Replica::defaults();
  options.create = false;
  options.pinnedUid = "3f6d2a1c-old-kube-system-uid";
  Replica a(server, recorder, options);
  CHECK(a.uid() == std::optional<std::string>("3f6d2a1c-old-kube-system-uid"));  // at once
  a.run();
  CHECK(a.uid() == std::optional<std::string>("3f6d2a1c-old-kube-system-uid"));
  CHECK(server.count("create", "clusteridentities") == 0);

  options.pinnedUid = "bad:pin";
  Replica b(server, recorder, options);
  CHECK_FALSE(b.uid());
}

TEST_CASE("spec.uid pins the identity and replaces a generated one with an Event", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  Replica a(server, recorder);
  a.run();
  const std::string generated = identity(server)["status"]["uid"];

  setSpec(server, {{"uid", "d1b6fb3c-kube-system-uid"}});
  a.run();
  json& obj = identity(server);
  CHECK(obj["status"]["uid"] == "d1b6fb3c-kube-system-uid");
  CHECK(obj["status"]["source"] == "Pinned");
  CHECK(obj["status"]["observedGeneration"] == 2);
  CHECK(readyCondition(obj)["observedGeneration"] == 2);
  CHECK(a.uid() == std::optional<std::string>("d1b6fb3c-kube-system-uid"));
  REQUIRE(recorder.count("IdentityReplaced") == 1);
  for (const auto& e : recorder.events) {
    if (e.reason != "IdentityReplaced") continue;
    CHECK(e.type == "Warning");
    CHECK_THAT(e.message, Catch::Contains(generated));
  }
  CHECK((*server.find(res::ConfigMaps, kOpNs, kBackup))["data"]["uid"] ==
        "d1b6fb3c-kube-system-uid");

  // Removing the pin keeps the identity: it only ever changes through spec.uid.
  setSpec(server, json::object());
  a.run();
  CHECK(identity(server)["status"]["uid"] == "d1b6fb3c-kube-system-uid");
  CHECK(recorder.count("IdentityReplaced") == 1);
}

TEST_CASE("the cluster-uid flag pins too and spec.uid wins over it", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  auto options = Replica::defaults();
  options.pinnedUid = "from-flag";
  Replica a(server, recorder, options);
  a.run();
  CHECK(identity(server)["status"]["uid"] == "from-flag");
  CHECK(identity(server)["status"]["source"] == "Pinned");
  CHECK(recorder.count("IdentityPinned") == 1);
  CHECK(recorder.count("IdentityGenerated") == 0);

  setSpec(server, {{"uid", "from-spec"}});
  a.run();
  CHECK(identity(server)["status"]["uid"] == "from-spec");
}

TEST_CASE("an invalid spec.uid gets a clear condition and the identity in use is kept",
          "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  Replica a(server, recorder);
  a.run();
  const std::string uid = identity(server)["status"]["uid"];

  setSpec(server, {{"uid", "prod:eu-1"}});
  auto out = a.run();
  json& obj = identity(server);
  CHECK(obj["status"]["uid"] == uid);
  auto ready = readyCondition(obj);
  CHECK(ready["status"] == "False");
  CHECK(ready["reason"] == "InvalidSpec");
  const std::string message = ready["message"];
  CHECK_THAT(message, Catch::Contains("spec.uid"));
  CHECK_THAT(message, Catch::Contains("':'"));
  CHECK_THAT(message, Catch::Contains("the identity in use is " + uid));
  CHECK(a.uid() == std::optional<std::string>(uid));  // FlowRuns keep working
  CHECK(isDone(out));                                 // nothing to retry until the spec changes
  CHECK(recorder.count("InvalidSpec") == 1);

  // Reconciling again changes nothing and records no new Event.
  server.clearRequests();
  a.run();
  CHECK(server.count("updateStatus", "clusteridentities") == 0);
  CHECK(recorder.count("InvalidSpec") == 1);

  // Fixing it recovers.
  setSpec(server, {{"uid", "prod-eu-1"}});
  a.run();
  CHECK(identity(server)["status"]["uid"] == "prod-eu-1");
  CHECK(readyCondition(identity(server))["status"] == "True");
}

TEST_CASE("an invalid spec.uid on a new cluster still yields an identity", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  putIdentity(server, {{"uid", std::string(200, 'a')}});
  Replica a(server, recorder);
  a.run();
  json& obj = identity(server);
  CHECK(isUuidV4(obj["status"]["uid"]));
  CHECK(readyCondition(obj)["reason"] == "InvalidSpec");
  CHECK_THAT(readyCondition(obj)["message"].get<std::string>(), Catch::Contains("200 characters"));
  CHECK(a.uid());
}

TEST_CASE("adopt-cluster-property takes the KEP-2149 cluster id", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  auto options = Replica::defaults();
  options.adoptClusterProperty = true;

  SECTION("the ClusterProperty exists") {
    server.put(res::ClusterProperties, {{"apiVersion", "about.k8s.io/v1alpha1"},
                                        {"kind", "ClusterProperty"},
                                        {"metadata", {{"name", "cluster.clusterset.k8s.io"}}},
                                        {"spec", {{"value", "c7f5e1a2-clusterset-id"}}}});
    Replica a(server, recorder, options);
    a.run();
    CHECK(identity(server)["status"]["uid"] == "c7f5e1a2-clusterset-id");
    CHECK(identity(server)["status"]["source"] == "ClusterProperty");
    CHECK(recorder.count("IdentityAdopted") == 1);
  }
  SECTION("no ClusterProperty (or no CRD): generate") {
    Replica a(server, recorder, options);
    a.run();
    CHECK(identity(server)["status"]["source"] == "Generated");
  }
  SECTION("an unusable value is ignored with a Warning") {
    server.put(res::ClusterProperties, {{"metadata", {{"name", "cluster.clusterset.k8s.io"}}},
                                        {"spec", {{"value", "a:b"}}}});
    Replica a(server, recorder, options);
    a.run();
    CHECK(identity(server)["status"]["source"] == "Generated");
    CHECK(recorder.count("ClusterPropertyIgnored") == 1);
  }
  SECTION("a transient error does not generate (it would fix the wrong identity forever)") {
    server.failOnce[{"get", "clusterproperties"}] =
        kube::ApiError{503, "ServiceUnavailable", "try later", {}, 0};
    Replica a(server, recorder, options);
    auto out = a.run();
    CHECK(out.kind == runtime::ReconcileOutcome::Kind::Error);
    CHECK_FALSE(a.uid());
    CHECK(server.find(res::ConfigMaps, kOpNs, kBackup) == nullptr);
    a.run();
    CHECK(identity(server)["status"]["source"] == "Generated");
  }
  SECTION("an identity already in status is never replaced by adoption") {
    Replica first(server, recorder);  // without adoption
    first.run();
    const std::string generated = identity(server)["status"]["uid"];
    server.put(res::ClusterProperties, {{"metadata", {{"name", "cluster.clusterset.k8s.io"}}},
                                        {"spec", {{"value", "other"}}}});
    Replica a(server, recorder, options);
    a.run();
    CHECK(identity(server)["status"]["uid"] == generated);
  }
}

TEST_CASE("a stale cache: the status write conflicts, the re-read converges", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  Replica a(server, recorder);
  a.run();
  const std::string uid = identity(server)["status"]["uid"];

  // Replica b's cache still shows the object as created, without status.
  Replica b(server, recorder);
  json stale = identity(server);
  stale.erase("status");
  stale["metadata"]["resourceVersion"] = "1";
  server.clearRequests();
  b.identities.clear();
  b.configMaps.clear();
  FakeStore staleStore;
  {
    FakeClient scratch;
    scratch.put(res::ClusterIdentities, stale);
    // Keep the server's metadata.uid so the backup is recognised as this object's.
    scratch.find(res::ClusterIdentities, "", "cluster")->at("metadata")["uid"] =
        stale["metadata"]["uid"];
    scratch.find(res::ClusterIdentities, "", "cluster")->at("metadata")["resourceVersion"] = "1";
    staleStore.syncFrom(scratch, res::ClusterIdentities);
  }
  ClusterIdentityReconciler br(server, staleStore, b.configMaps, recorder, Replica::defaults());
  auto out = br.reconcile(br.key());
  CHECK(isDone(out));
  CHECK(br.provider().clusterUid() == std::optional<std::string>(uid));
  CHECK(identity(server)["status"]["uid"] == uid);
  CHECK(identity(server)["status"]["source"] == "Generated");
  CHECK(server.count("updateStatus", "clusteridentities") == 1);  // the one that got 409
  CHECK(recorder.count("IdentityGenerated") == 1);
  CHECK(recorder.count("IdentityRestored") == 0);
}

TEST_CASE("two replicas generating at once end with one identity", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  putIdentity(server);
  Replica a(server, recorder);
  Replica b(server, recorder);
  a.sync();
  b.sync();

  SECTION("b claims the backup while a is about to") {
    bool raced = false;
    server.beforeWrite = [&](const std::string& verb, const kube::ResourceType& t, const json&) {
      if (raced || verb != "create" || t.plural != "configmaps") return;
      raced = true;
      b.reconciler->reconcile(b.reconciler->key());  // b runs to completion first
    };
    CHECK(isDone(a.reconciler->reconcile(a.reconciler->key())));
    REQUIRE(raced);
  }
  SECTION("b writes status between a's read and a's write") {
    bool raced = false;
    server.beforeWrite = [&](const std::string& verb, const kube::ResourceType& t, const json&) {
      if (raced || verb != "updateStatus" || t.plural != "clusteridentities") return;
      raced = true;
      b.reconciler->reconcile(b.reconciler->key());
    };
    CHECK(isDone(a.reconciler->reconcile(a.reconciler->key())));
    REQUIRE(raced);
  }
  server.beforeWrite = nullptr;
  const std::string uid = identity(server)["status"]["uid"];
  CHECK(a.uid() == std::optional<std::string>(uid));
  CHECK(b.uid() == std::optional<std::string>(uid));
  CHECK((*server.find(res::ConfigMaps, kOpNs, kBackup))["data"]["uid"] == uid);
  CHECK(recorder.count("IdentityGenerated") == 1);
  // Both agree on a re-run, without writes.
  server.clearRequests();
  a.run();
  b.run();
  CHECK(server.count("updateStatus", "clusteridentities") == 0);
}

TEST_CASE("publishing: ConfigMaps created, not owned, repaired, bad namespaces named",
          "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  server.forbiddenNamespaces = {"locked"};
  putIdentity(server, {{"publish",
                        {{"configMapName", "prefect-cluster-identity"},
                         {"namespaces", {"prefect", "nope", "data", "locked"}}}}});
  Replica a(server, recorder);
  auto out = a.run();
  json& obj = identity(server);
  const std::string uid = obj["status"]["uid"];
  REQUIRE(isUuidV4(uid));
  CHECK(a.uid() == std::optional<std::string>(uid));  // the identity is usable regardless

  for (const std::string ns : {"prefect", "data"}) {
    json* cm = server.find(res::ConfigMaps, ns, "prefect-cluster-identity");
    REQUIRE(cm);
    CHECK((*cm)["data"] == json{{"uid", uid}});
    CHECK_FALSE((*cm)["metadata"].contains("ownerReferences"));
    CHECK((*cm)["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "flowrun-operator");
    CHECK(a.reconciler->keyForConfigMap(*cm) == std::optional(a.reconciler->key()));
  }
  auto ready = readyCondition(obj);
  CHECK(ready["status"] == "False");
  CHECK(ready["reason"] == "PublishFailed");
  const std::string message = ready["message"];
  CHECK_THAT(message, Catch::Contains("namespace \"nope\" does not exist"));
  CHECK_THAT(message, Catch::Contains("namespace \"locked\""));
  CHECK_THAT(message, Catch::Contains("2 of 4"));
  CHECK(obj["status"]["publishedNamespaces"] == json{"prefect", "data"});
  CHECK(out.kind == runtime::ReconcileOutcome::Kind::RequeueAfter);

  // The namespace appears later: the periodic retry publishes there and Ready turns True.
  server.namespaces.insert("nope");
  server.forbiddenNamespaces.clear();
  server.namespaces.insert("locked");
  CHECK(isDone(a.run()));
  CHECK(readyCondition(identity(server))["status"] == "True");

  // Someone edits one copy and deletes another: both are repaired.
  json* edited = server.find(res::ConfigMaps, "prefect", "prefect-cluster-identity");
  (*edited)["data"] = {{"uid", "tampered"}, {"extra", "x"}};
  server.erase(res::ConfigMaps, "data", "prefect-cluster-identity");
  a.run();
  CHECK((*server.find(res::ConfigMaps, "prefect", "prefect-cluster-identity"))["data"] ==
        json{{"uid", uid}});
  REQUIRE(server.find(res::ConfigMaps, "data", "prefect-cluster-identity"));
  CHECK((*server.find(res::ConfigMaps, "data", "prefect-cluster-identity"))["data"]["uid"] == uid);
  // The edit is said, with what the copy held; a re-created copy is no repair.
  REQUIRE(recorder.count("IdentityCopyRepaired") == 1);
  for (const auto& e : recorder.events) {
    if (e.reason != "IdentityCopyRepaired") continue;
    CHECK(e.type == "Warning");
    CHECK(e.message ==
          "published ConfigMap prefect/prefect-cluster-identity held uid "
          "\"tampered\"; rewritten with " +
              uid);
  }

  // A pin updates every copy, and that is the announced replacement, not a repair.
  json spec = identity(server)["spec"];
  spec["uid"] = "pinned-1";
  setSpec(server, spec);
  a.run();
  CHECK(recorder.count("IdentityReplaced") == 1);
  CHECK(recorder.count("IdentityCopyRepaired") == 1);
  for (const std::string ns : {"prefect", "data", "nope", "locked"}) {
    CHECK((*server.find(res::ConfigMaps, ns, "prefect-cluster-identity"))["data"]["uid"] ==
          "pinned-1");
  }
}

TEST_CASE("publishing never takes over a ConfigMap it did not create", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  server.put(res::ConfigMaps,
             {{"metadata", {{"name", "prefect-cluster-identity"}, {"namespace", "prefect"}}},
              {"data", {{"something", "else"}}}});
  putIdentity(server, {{"publish", {{"namespaces", {"prefect"}}}}});
  Replica a(server, recorder);
  a.run();
  CHECK((*server.find(res::ConfigMaps, "prefect", "prefect-cluster-identity"))["data"] ==
        json{{"something", "else"}});
  CHECK_THAT(readyCondition(identity(server))["message"].get<std::string>(),
             Catch::Contains("not managed by flowrun-operator"));
}

TEST_CASE("the backup is repaired when deleted or edited", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  Replica a(server, recorder);
  a.run();
  const std::string uid = identity(server)["status"]["uid"];
  server.erase(res::ConfigMaps, kOpNs, kBackup);
  a.run();
  REQUIRE(server.find(res::ConfigMaps, kOpNs, kBackup));
  CHECK((*server.find(res::ConfigMaps, kOpNs, kBackup))["data"]["uid"] == uid);

  CHECK(recorder.count("IdentityCopyRepaired") == 0);  // re-created, not repaired

  (*server.find(res::ConfigMaps, kOpNs, kBackup))["data"]["uid"] = "wrong";
  a.run();
  CHECK((*server.find(res::ConfigMaps, kOpNs, kBackup))["data"]["uid"] == uid);
  REQUIRE(recorder.count("IdentityCopyRepaired") == 1);
  for (const auto& e : recorder.events) {
    if (e.reason == "IdentityCopyRepaired")
      CHECK_THAT(e.message, Catch::StartsWith("backup ConfigMap ") &&
                                Catch::EndsWith(" held uid \"wrong\"; rewritten with " + uid));
  }
}

TEST_CASE("an unreadable backup blocks generation instead of risking a second identity",
          "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  putIdentity(server);
  server.failOnce[{"get", "configmaps"}] =
      kube::ApiError{403, "Forbidden", "configmaps is forbidden", {}, 0};
  Replica a(server, recorder);
  auto out = a.run();
  CHECK(out.kind == runtime::ReconcileOutcome::Kind::Error);
  CHECK_THAT(out.error, Catch::Contains("backup ConfigMap"));
  CHECK_FALSE(identity(server).contains("status"));
  CHECK(isDone(a.run()));
  CHECK(a.uid());
}

TEST_CASE("map functions and selector", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  Replica a(server, recorder);
  CHECK(
      configMapLabelSelector() ==
      "app.kubernetes.io/managed-by=flowrun-operator,app.kubernetes.io/component=cluster-identity");
  json other = {{"metadata", {{"name", "x"}, {"labels", {{"app", "y"}}}}}};
  CHECK_FALSE(a.reconciler->keyForConfigMap(other));
  json foreign = {{"metadata",
                   {{"name", "x"},
                    {"labels",
                     {{"app.kubernetes.io/managed-by", "flowrun-operator"},
                      {"app.kubernetes.io/component", "cluster-identity"},
                      {"prefect.io/cluster-identity", "another"}}}}}};
  CHECK_FALSE(a.reconciler->keyForConfigMap(foreign));
  CHECK(a.reconciler->keyForClusterIdentity({{"metadata", {{"name", "cluster"}}}}) ==
        std::optional(runtime::ObjectKey{"", "cluster"}));
  CHECK_FALSE(a.reconciler->keyForClusterIdentity({{"metadata", {{"name", "other"}}}}));
  // Keys for other objects are ignored without any request.
  CHECK(isDone(a.reconciler->reconcile({"", "other"})));
  CHECK(server.requests().empty());
}

TEST_CASE("never touches namespaces or kube-system", "[reconciler]") {
  FakeClient server;
  FakeRecorder recorder;
  auto options = Replica::defaults();
  options.adoptClusterProperty = true;
  Replica a(server, recorder, options);
  putIdentity(server, {{"publish", {{"namespaces", {"prefect", "missing"}}}}});
  a.run();
  server.erase(res::ClusterIdentities, "", "cluster");
  a.run();
  for (const auto& r : server.requests()) {
    INFO(r.verb << " " << r.resource << " " << r.ns << "/" << r.name);
    CHECK(r.resource != "namespaces");
    CHECK(r.ns != "kube-system");
  }
}
