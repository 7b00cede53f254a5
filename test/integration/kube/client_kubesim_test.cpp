// The HTTP client and informer against an in-process kubesim: CRUD with real API semantics,
// watches that survive dropped connections and forced 410s without missing a change (checked
// against what the server returned and its request log), 429 with Retry-After, indexes.
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "operator/kube/http_client.h"
#include "operator/kube/informer.h"
#include "operator/kube/kubeconfig.h"
#include "test/kubesim/cluster.h"
#include "test/kubesim/simulator.h"
#include "test/support/process.h"

using kube::json;
using namespace std::chrono_literals;

namespace {

const kube::ResourceType& cms = kube::resources::ConfigMaps;

struct Env {
  Env() : sim(options()) {
    sim.start();
    auto cfg = kube::loadRestConfig(sim.writeKubeconfig(dir.file("kubeconfig")), "");
    REQUIRE(cfg.ok());
    cfg->qps = 0;
    kube::HttpClientOptions o;
    o.retryBackoff = {10ms, 100ms, 2.0, 0.2};
    client = kube::makeHttpClient(cfg.value(), o);
    REQUIRE(client->create(kube::resources::Namespaces, "", {{"metadata", {{"name", "w"}}}}).ok());
  }
  static kubesim::SimulatorOptions options() {
    kubesim::SimulatorOptions o;
    o.bookmarkInterval = 200ms;
    return o;
  }
  json admin(const std::string& path, const json& body = json::object()) {
    return sim.cluster()->admin("POST", path, body);
  }
  testsupport::TempDir dir;
  kubesim::Simulator sim;
  std::unique_ptr<kube::Client> client;
};

json configMap(const std::string& name, const std::string& value, json labels = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "w"}, {"labels", labels}}},
          {"data", {{"v", value}}}};
}

std::string rvOf(const json& o) {
  return o["metadata"]["resourceVersion"].get<std::string>();
}

// Records every notification as "type name rv".
struct Recorder {
  std::mutex mu;
  std::vector<std::string> events;
  std::set<std::pair<std::string, std::string>> seen;  // (name, resourceVersion)
  kube::EventHandler handler() {
    kube::EventHandler h;
    auto rec = [this](const char* t, const kube::ObjectPtr& o) {
      std::lock_guard<std::mutex> l(mu);
      std::string name = (*o)["metadata"]["name"];
      std::string rv = (*o)["metadata"]["resourceVersion"];
      events.push_back(std::string(t) + " " + name);
      seen.insert({name, rv});
    };
    h.onAdd = [rec](const kube::ObjectPtr& o) { rec("add", o); };
    h.onUpdate = [rec](const kube::ObjectPtr&, const kube::ObjectPtr& o) { rec("update", o); };
    h.onDelete = [rec](const kube::ObjectPtr& o) { rec("delete", o); };
    return h;
  }
  std::vector<std::string> snapshot() {
    std::lock_guard<std::mutex> l(mu);
    return events;
  }
};

kube::InformerOptions fastInformer() {
  kube::InformerOptions o;
  o.namespaces = {"w"};
  o.backoff = {20ms, 200ms, 2.0, 0.2};
  o.transform = kube::defaultTransform();
  return o;
}

// The informer's store equals the server's state (names and resourceVersions).
bool storeMatchesServer(Env& env, const kube::Store& store) {
  auto list = env.client->list(cms, "w");
  if (!list.ok()) return false;
  std::map<std::string, std::string> server, cached;
  for (const auto& o : list->items) server[o["metadata"]["name"]] = rvOf(o);
  for (const auto& o : store.list("w")) cached[(*o)["metadata"]["name"]] = rvOf(*o);
  return server == cached;
}

// Lists made by the informer (paged with limit=500), not by the test's own checks.
std::size_t informerLists(Env& env) {
  std::size_t n = 0;
  for (const auto& r : env.sim.requestLog().snapshot()) {
    if (r.verb == "list" && r.resource == "configmaps" && r.code == 200 &&
        r.query.find("limit=500") != std::string::npos)
      ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("CRUD, conditional update conflicts, patches, delete options, paging") {
  Env env;
  auto& c = *env.client;
  auto created = c.create(cms, "w", configMap("a", "1", {{"app", "web"}}));
  REQUIRE(created.ok());
  CHECK((*created)["metadata"]["uid"].is_string());
  auto dup = c.create(cms, "w", configMap("a", "1"));
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().isAlreadyExists());

  auto got = c.get(cms, "w", "a");
  REQUIRE(got.ok());
  CHECK((*got)["data"]["v"] == "1");
  auto missing = c.get(cms, "w", "nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().isNotFound());

  json v2 = *got;
  v2["data"]["v"] = "2";
  auto updated = c.update(cms, v2);
  REQUIRE(updated.ok());
  // The same stale resourceVersion again: 409 Conflict, not an overwrite.
  json stale = *got;
  stale["data"]["v"] = "stale";
  auto conflict = c.update(cms, stale);
  REQUIRE_FALSE(conflict.ok());
  CHECK(conflict.error().isConflict());
  CHECK(c.get(cms, "w", "a").value()["data"]["v"] == "2");

  auto merged = c.patch(cms, "w", "a", {{"data", {{"m", "merge"}}}});
  REQUIRE(merged.ok());
  CHECK((*merged)["data"]["m"] == "merge");
  kube::PatchOptions jp;
  jp.type = kube::PatchType::JsonPatch;
  auto jsonPatched = c.patch(
      cms, "w", "a", json::array({{{"op", "replace"}, {"path", "/data/v"}, {"value", "3"}}}), jp);
  REQUIRE(jsonPatched.ok());
  CHECK((*jsonPatched)["data"]["v"] == "3");
  kube::PatchOptions apply;
  apply.type = kube::PatchType::Apply;
  auto noManager = c.patch(cms, "w", "applied", configMap("applied", "x"), apply);
  REQUIRE_FALSE(noManager.ok());
  apply.fieldManager = "flowrun-test";
  apply.force = true;
  auto applied = c.patch(cms, "w", "applied", configMap("applied", "x"), apply);
  REQUIRE(applied.ok());
  CHECK((*applied)["data"]["v"] == "x");

  for (int i = 0; i < 5; ++i)
    REQUIRE(c.create(cms, "w", configMap("p" + std::to_string(i), "x", {{"page", "yes"}})).ok());
  kube::ListOptions lo;
  lo.labelSelector = "page=yes";
  lo.limit = 2;
  auto all = c.list(cms, "w", lo);
  REQUIRE(all.ok());
  CHECK(all->items.size() == 5);
  CHECK(all->items[0]["kind"] == "ConfigMap");
  CHECK_FALSE(all->resourceVersion.empty());
  lo.allPages = false;
  auto first = c.list(cms, "w", lo);
  REQUIRE(first.ok());
  CHECK(first->items.size() == 2);
  CHECK_FALSE(first->continueToken.empty());
  CHECK(env.sim.requestLog().count("list", "configmaps") >= 4);

  kube::DeleteOptions wrongUid;
  wrongUid.preconditionUid = "not-the-uid";
  auto refused = c.remove(cms, "w", "a", wrongUid);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == 409);
  kube::DeleteOptions ok;
  ok.preconditionUid = (*created)["metadata"]["uid"].get<std::string>();
  ok.propagationPolicy = "Background";
  ok.gracePeriodSeconds = 0;
  REQUIRE(c.remove(cms, "w", "a", ok).ok());
  CHECK(c.get(cms, "w", "a").error().isNotFound());
}

TEST_CASE("429 with Retry-After from kubesim is honoured") {
  Env env;
  REQUIRE(env.client->create(cms, "w", configMap("a", "1")).ok());
  env.admin("/kubesim/faults", {{"verb", "get"},
                                {"resource", "configmaps"},
                                {"code", 429},
                                {"count", 1},
                                {"retryAfterSeconds", 1}});
  env.sim.requestLog().clear();
  auto t0 = std::chrono::steady_clock::now();
  auto r = env.client->get(cms, "w", "a");
  auto took = std::chrono::steady_clock::now() - t0;
  REQUIRE(r.ok());
  CHECK(took >= 950ms);
  CHECK(env.sim.requestLog().count("get", "configmaps", 429) == 1);
  CHECK(env.sim.requestLog().count("get", "configmaps", 200) == 1);
}

TEST_CASE("a watch resumed across dropped connections misses no change") {
  Env env;
  Recorder rec;
  auto inf = kube::makeInformer(*env.client, cms, fastInformer());
  inf->addEventHandler(rec.handler());
  inf->start();
  REQUIRE(testsupport::waitFor([&] { return inf->hasSynced(); }));

  // Every write's resulting resourceVersion, as the server returned it.
  std::set<std::pair<std::string, std::string>> written;
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 5; ++i) {
      std::string name = "cm" + std::to_string(i);
      auto r = round == 0
                   ? env.client->create(cms, "w", configMap(name, "0"))
                   : env.client->patch(cms, "w", name, {{"data", {{"v", std::to_string(round)}}}});
      REQUIRE(r.ok());
      written.insert({name, rvOf(*r)});
    }
    // Drop every watch connection between rounds; the informer must resume, not relist.
    env.admin("/kubesim/watches/close");
  }
  REQUIRE(env.client->remove(cms, "w", "cm0").ok());
  REQUIRE(testsupport::waitFor([&] { return storeMatchesServer(env, inf->store()); }));
  REQUIRE(testsupport::waitFor([&] {
    std::lock_guard<std::mutex> l(rec.mu);
    return std::includes(rec.seen.begin(), rec.seen.end(), written.begin(), written.end());
  }));
  auto events = rec.snapshot();
  CHECK(std::count(events.begin(), events.end(), "delete cm0") == 1);
  // One list at start; every reconnect was a watch from the last resourceVersion.
  CHECK(informerLists(env) == 1);
  // A watch is logged when it ends, and on a loaded machine every close above may have come
  // before the informer reconnected once: end the current watch too, then count.
  env.admin("/kubesim/watches/close");
  CHECK(testsupport::waitFor(
      [&] { return env.sim.requestLog().count("watch", "configmaps", 200, "w") >= 2; }));
  CHECK(informerLists(env) == 1);
  inf->stop();
}

TEST_CASE("a forced 410 relists and emits the difference") {
  Env env;
  REQUIRE(env.client->create(cms, "w", configMap("keep", "1")).ok());
  REQUIRE(env.client->create(cms, "w", configMap("change", "1")).ok());
  REQUIRE(env.client->create(cms, "w", configMap("vanish", "1")).ok());
  Recorder rec;
  auto inf = kube::makeInformer(*env.client, cms, fastInformer());
  inf->addEventHandler(rec.handler());
  inf->start();
  REQUIRE(testsupport::waitFor([&] { return inf->hasSynced() && inf->store().size() == 3; }));
  REQUIRE(rec.snapshot().size() == 3);

  // Take the watch down and keep it down while the world changes.
  env.admin("/kubesim/faults", {{"verb", "watch"}, {"resource", "configmaps"}, {"code", 503}});
  env.admin("/kubesim/watches/close");
  REQUIRE(testsupport::waitFor(
      [&] { return env.sim.requestLog().count("watch", "configmaps", 503) >= 1; }));
  REQUIRE(env.client->patch(cms, "w", "change", {{"data", {{"v", "2"}}}}).ok());
  REQUIRE(env.client->remove(cms, "w", "vanish").ok());
  REQUIRE(env.client->create(cms, "w", configMap("new", "1")).ok());
  // The next watch is told its resourceVersion is too old: only a relist can catch up.
  env.sim.cluster()->admin("DELETE", "/kubesim/faults", json::object());
  env.admin("/kubesim/watches/expire-next", {{"count", 1}});

  REQUIRE(testsupport::waitFor([&] { return storeMatchesServer(env, inf->store()); }));
  REQUIRE(testsupport::waitFor([&] { return rec.snapshot().size() == 6; }));
  auto events = rec.snapshot();
  std::vector<std::string> diff(events.begin() + 3, events.end());
  std::sort(diff.begin(), diff.end());
  CHECK(diff == std::vector<std::string>{"add new", "delete vanish", "update change"});
  CHECK(informerLists(env) == 2);
  inf->stop();
}

TEST_CASE("informer indexes and hasSynced over kubesim") {
  Env env;
  auto owned = [](const std::string& name, const std::string& owner, bool controller,
                  const std::string& team) {
    json o = configMap(name, "x", {{"team", team}});
    o["metadata"]["ownerReferences"] = {{{"apiVersion", "prefect.io/v1alpha1"},
                                         {"kind", "FlowRun"},
                                         {"name", owner},
                                         {"uid", "uid-" + owner},
                                         {"controller", controller}}};
    return o;
  };
  REQUIRE(env.client->create(cms, "w", owned("a", "f1", true, "data")).ok());
  REQUIRE(env.client->create(cms, "w", owned("b", "f1", false, "data")).ok());
  REQUIRE(env.client->create(cms, "w", owned("c", "f2", true, "ml")).ok());
  auto opts = fastInformer();
  opts.labelIndexes = {"team"};
  auto inf = kube::makeInformer(*env.client, cms, opts);
  CHECK_FALSE(inf->hasSynced());
  inf->start();
  REQUIRE(testsupport::waitFor([&] { return inf->hasSynced(); }));
  const auto& s = inf->store();
  CHECK(s.size() == 3);
  CHECK(s.byIndex(kube::kIndexOwnerUid, "uid-f1").size() == 2);
  CHECK(s.byIndex(kube::kIndexControllerUid, "uid-f1").size() == 1);
  CHECK(s.byIndex("label:team", "data").size() == 2);
  CHECK(s.byIndex(kube::kIndexNamespace, "w").size() == 3);
  CHECK_FALSE((*s.get("w", "a"))["metadata"].contains("managedFields"));
  REQUIRE(env.client->patch(cms, "w", "c", {{"metadata", {{"labels", {{"team", "data"}}}}}}).ok());
  REQUIRE(testsupport::waitFor([&] { return s.byIndex("label:team", "data").size() == 3; }));
  inf->stop();
}

TEST_CASE("a CRD deleted and re-created is noticed within seconds, not after a 30 s back-off") {
  Env env;
  const kube::ResourceType widgets{"example.com", "v1", "widgets", "Widget", true};
  const json crd = {
      {"apiVersion", "apiextensions.k8s.io/v1"},
      {"kind", "CustomResourceDefinition"},
      {"metadata", {{"name", "widgets.example.com"}}},
      {"spec",
       {{"group", "example.com"},
        {"scope", "Namespaced"},
        {"names", {{"plural", "widgets"}, {"singular", "widget"}, {"kind", "Widget"}}},
        {"versions",
         {{{"name", "v1"},
           {"served", true},
           {"storage", true},
           {"schema",
            {{"openAPIV3Schema",
              {{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}}}}}}}}}}};
  auto widget = [](const std::string& name) {
    return json{{"apiVersion", "example.com/v1"},
                {"kind", "Widget"},
                {"metadata", {{"name", name}, {"namespace", "w"}}}};
  };
  REQUIRE(env.client->create(kube::resources::CustomResourceDefinitions, "", crd).ok());
  REQUIRE(env.client->create(widgets, "w", widget("a")).ok());
  auto opts = fastInformer();
  // A back-off that grows fast, without jitter: 10 ms, 40 ms, ... 10 s, 30 s.
  opts.backoff = {10ms, 30000ms, 4.0, 0.0};
  auto inf = kube::makeInformer(*env.client, widgets, opts);
  inf->start();
  REQUIRE(testsupport::waitFor([&] { return inf->hasSynced() && inf->store().size() == 1; }));

  REQUIRE(env.client->remove(kube::resources::CustomResourceDefinitions, "", "widgets.example.com")
              .ok());
  auto notFound = [&] {
    std::size_t n = 0;
    for (const auto& r : env.sim.requestLog().snapshot())
      n += r.resource == "widgets" && r.code == 404;
    return n;
  };
  // Six refused attempts: the uncapped back-off would now wait 10 s, then 30 s.
  bool refused = testsupport::waitFor([&] { return notFound() >= 6; }, 20s);
  for (const auto& r : env.sim.requestLog().snapshot())
    if (r.resource == "widgets") UNSCOPED_INFO(r.verb << " " << r.query << " " << r.code);
  REQUIRE(refused);
  REQUIRE(env.client->create(kube::resources::CustomResourceDefinitions, "", crd).ok());
  REQUIRE(env.client->create(widgets, "w", widget("b")).ok());
  auto start = std::chrono::steady_clock::now();
  CHECK(testsupport::waitFor([&] { return inf->store().get("w", "b") != nullptr; }, 7s));
  INFO("noticed after " << std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::steady_clock::now() - start)
                               .count()
                        << " ms");
  CHECK(inf->store().get("w", "a") == nullptr);  // gone with the first CRD
  inf->stop();
}
