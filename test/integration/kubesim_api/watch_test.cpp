// Watch semantics over HTTPS: resumption, 410 Expired, bookmarks, optimistic concurrency,
// timeouts and persistence.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "test/integration/kubesim_api/api_client.h"
#include "test/support/process.h"

using kubesimtest::ApiClient;
using json = nlohmann::json;

namespace {

kubesim::SimulatorOptions quiet() {
  kubesim::SimulatorOptions o;
  o.runCluster = false;
  return o;
}

json configMap(const std::string& name, const std::string& value = "v") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}}},
          {"data", {{"k", value}}}};
}

const std::string kCms = "/api/v1/namespaces/default/configmaps";

}  // namespace

TEST_CASE("a watch resumed from a resourceVersion loses no event") {
  kubesim::Simulator sim(quiet());
  sim.start();
  ApiClient api(sim);
  auto first = api.request("POST", kCms, configMap("a"));
  REQUIRE(first.status == 201);
  std::string from = first.body["metadata"]["resourceVersion"];
  // Changes after `from`, made before the watch starts.
  REQUIRE(api.request("POST", kCms, configMap("b")).status == 201);
  REQUIRE(api.request("PATCH", kCms + "/a", json{{"data", {{"k", "2"}}}},
                      "application/merge-patch+json")
              .status == 200);
  REQUIRE(api.request("DELETE", kCms + "/b").status == 200);
  std::vector<std::string> seen;
  std::uint64_t lastRv = std::stoull(from);
  bool ordered = true;
  int status = api.watch(
      kCms + "?watch=true&resourceVersion=" + from + "&timeoutSeconds=5", [&](const json& ev) {
        std::uint64_t rv =
            std::stoull(ev["object"]["metadata"]["resourceVersion"].get<std::string>());
        ordered = ordered && rv > lastRv;
        lastRv = rv;
        seen.push_back(ev["type"].get<std::string>() + " " +
                       ev["object"]["metadata"]["name"].get<std::string>());
        return seen.size() < 3;
      });
  CHECK(status == 200);
  CHECK(ordered);
  CHECK(seen == std::vector<std::string>{"ADDED b", "MODIFIED a", "DELETED b"});
}

TEST_CASE("a watch without resourceVersion starts with the current objects, then streams changes") {
  kubesim::Simulator sim(quiet());
  sim.start();
  ApiClient api(sim);
  REQUIRE(api.request("POST", kCms, configMap("x")).status == 201);
  std::atomic<bool> started{false};
  std::vector<std::string> seen;
  std::thread writer([&] {
    testsupport::waitFor([&] { return started.load(); });
    ApiClient w(sim);
    w.request("POST", kCms, configMap("y"));
  });
  api.watch(kCms + "?watch=1&timeoutSeconds=10", [&](const json& ev) {
    seen.push_back(ev["type"].get<std::string>() + " " +
                   ev["object"]["metadata"]["name"].get<std::string>());
    started = true;
    return seen.back() != "ADDED y";
  });
  writer.join();
  REQUIRE(seen.size() >= 2);
  CHECK(std::find(seen.begin(), seen.end(), "ADDED x") != seen.end());
  CHECK(std::find(seen.begin(), seen.end(), "ADDED y") != seen.end());
}

TEST_CASE("a too old resourceVersion gets 410 Expired") {
  auto o = quiet();
  o.watchWindow = 5;
  kubesim::Simulator sim(o);
  sim.start();
  ApiClient api(sim);
  for (int i = 0; i < 20; ++i)
    REQUIRE(api.request("POST", kCms, configMap("cm" + std::to_string(i))).status == 201);
  int status = api.watch(kCms + "?watch=true&resourceVersion=2", [](const json&) { return false; });
  CHECK(status == 410);
  CHECK(api.lastError()["reason"] == "Expired");
  CHECK(api.lastError()["code"] == 410);
  CHECK(api.lastError()["message"].get<std::string>().rfind("too old resource version: 2 (", 0) ==
        0);
}

TEST_CASE("bookmarks arrive on an idle watch and carry only the resourceVersion") {
  auto o = quiet();
  o.bookmarkInterval = std::chrono::milliseconds(100);
  kubesim::Simulator sim(o);
  sim.start();
  ApiClient api(sim);
  auto created = api.request("POST", kCms, configMap("a"));
  std::string rv = created.body["metadata"]["resourceVersion"];
  json bookmark;
  api.watch(kCms + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=5&resourceVersion=" + rv,
            [&](const json& ev) {
              if (ev["type"] == "BOOKMARK") {
                bookmark = ev["object"];
                return false;
              }
              return true;
            });
  REQUIRE(bookmark.is_object());
  CHECK(bookmark["kind"] == "ConfigMap");
  CHECK(bookmark["apiVersion"] == "v1");
  CHECK(std::stoull(bookmark["metadata"]["resourceVersion"].get<std::string>()) >= std::stoull(rv));
  CHECK_FALSE(bookmark["metadata"].contains("name"));
}

TEST_CASE("concurrent updates with a stale resourceVersion get 409 Conflict") {
  kubesim::Simulator sim(quiet());
  sim.start();
  ApiClient a(sim), b(sim);
  auto created = a.request("POST", kCms, configMap("shared"));
  REQUIRE(created.status == 201);
  json mine = created.body, theirs = created.body;
  mine["data"]["k"] = "mine";
  theirs["data"]["k"] = "theirs";
  auto r1 = a.request("PUT", kCms + "/shared", mine);
  auto r2 = b.request("PUT", kCms + "/shared", theirs);
  CHECK(r1.status == 200);
  CHECK(r2.status == 409);
  CHECK(r2.body["reason"] == "Conflict");
  CHECK(r2.body["message"] ==
        "Operation cannot be fulfilled on configmaps \"shared\": the object has been modified; "
        "please apply your "
        "changes to the latest version and try again");
  // Many writers racing on one object: exactly one wins per resourceVersion.
  auto current = a.request("GET", kCms + "/shared").body;
  std::atomic<int> ok{0}, conflicts{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 8; ++i) {
    ts.emplace_back([&, i] {
      ApiClient c(sim);
      json o = current;
      o["data"]["k"] = std::string("w").append(std::to_string(i));
      int s = c.request("PUT", kCms + "/shared", o).status;
      if (s == 200) ++ok;
      if (s == 409) ++conflicts;
    });
  }
  for (auto& t : ts) t.join();
  CHECK(ok == 1);
  CHECK(conflicts == 7);
}

TEST_CASE("timeoutSeconds ends a watch, stop() ends open watches") {
  kubesim::Simulator sim(quiet());
  sim.start();
  ApiClient api(sim);
  auto t0 = std::chrono::steady_clock::now();
  int status = api.watch(kCms + "?watch=true&timeoutSeconds=1&resourceVersion=1",
                         [](const json&) { return true; });
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(status == 200);
  CHECK(took < std::chrono::seconds(4));

  std::thread watcher([&] {
    ApiClient w(sim);
    w.watch(kCms + "?watch=true&resourceVersion=1", [](const json&) { return true; });
  });
  REQUIRE(testsupport::waitFor([&] { return sim.requestLog().count("watch") >= 2; }));
  auto s0 = std::chrono::steady_clock::now();
  sim.stop();
  watcher.join();
  CHECK(std::chrono::steady_clock::now() - s0 < std::chrono::seconds(5));
}

TEST_CASE("label and field selectors, pagination and deletecollection") {
  kubesim::Simulator sim(quiet());
  sim.start();
  ApiClient api(sim);
  for (int i = 0; i < 7; ++i) {
    json cm = configMap(std::string("p").append(std::to_string(i)));
    cm["metadata"]["labels"] = {{"tier", i % 2 ? "odd" : "even"}};
    REQUIRE(api.request("POST", kCms, cm).status == 201);
  }
  auto r = api.request("GET", kCms + "?labelSelector=tier%3Dodd");
  CHECK(r.body["items"].size() == 3);
  r = api.request("GET", kCms + "?labelSelector=tier%20in%20(odd,even),tier!%3Dodd");
  CHECK(r.body["items"].size() == 4);
  r = api.request("GET", kCms + "?fieldSelector=metadata.name%3Dp3");
  REQUIRE(r.body["items"].size() == 1);
  r = api.request("GET", kCms + "?fieldSelector=data.k%3Dv");
  CHECK(r.status == 400);
  CHECK(r.body["message"] == "field label not supported: data.k");
  std::set<std::string> names;
  std::string cont;
  int pages = 0;
  do {
    auto page = api.request("GET", kCms + "?limit=3" + (cont.empty() ? "" : "&continue=" + cont));
    REQUIRE(page.status == 200);
    for (auto& i : page.body["items"]) names.insert(i["metadata"]["name"]);
    cont = page.body["metadata"].value("continue", "");
    ++pages;
  } while (!cont.empty() && pages < 10);
  CHECK(pages == 3);
  CHECK(names.size() == 7);
  r = api.request("DELETE", kCms + "?labelSelector=tier%3Deven");
  CHECK(r.status == 200);
  CHECK(api.request("GET", kCms).body["items"].size() == 3);
}

TEST_CASE("a restart with the same data directory serves the same objects") {
  testsupport::TempDir dir;
  std::string rv;
  {
    auto o = quiet();
    o.dataDir = dir.path();
    kubesim::Simulator sim(o);
    sim.start();
    ApiClient api(sim);
    rv = api.request("POST", kCms, configMap("kept")).body["metadata"]["resourceVersion"];
    sim.stop();
  }
  auto o = quiet();
  o.dataDir = dir.path();
  kubesim::Simulator sim(o);
  sim.start();
  ApiClient api(sim);
  auto r = api.request("GET", kCms + "/kept");
  REQUIRE(r.status == 200);
  CHECK(r.body["metadata"]["resourceVersion"] == rv);
  auto next = api.request("POST", kCms, configMap("new"));
  CHECK(std::stoull(next.body["metadata"]["resourceVersion"].get<std::string>()) > std::stoull(rv));
}

TEST_CASE("every page of a paged list answers from the first page's resourceVersion") {
  kubesim::Simulator sim(quiet());
  sim.start();
  ApiClient api(sim);
  for (int i = 0; i < 6; ++i)
    REQUIRE(api.request("POST", kCms, configMap("c" + std::to_string(i))).status == 201);
  auto first = api.request("GET", kCms + "?limit=2");
  REQUIRE(first.status == 200);
  const std::string rv = first.body["metadata"]["resourceVersion"];
  std::string cont = first.body["metadata"].value("continue", "");
  REQUIRE(!cont.empty());
  CHECK(first.body["metadata"]["remainingItemCount"] == 4);
  // Written after page 1: a new object, a changed one, a deleted one, all on later pages.
  REQUIRE(api.request("POST", kCms, configMap("c9")).status == 201);
  auto c3 = api.request("GET", kCms + "/c3").body;
  c3["data"]["k"] = "changed";
  REQUIRE(api.request("PUT", kCms + "/c3", c3).status == 200);
  REQUIRE(api.request("DELETE", kCms + "/c4").status == 200);
  std::map<std::string, std::string> seen;
  for (auto& i : first.body["items"]) seen[i["metadata"]["name"]] = i["data"]["k"];
  while (!cont.empty()) {
    auto page = api.request("GET", kCms + "?limit=2&continue=" + cont);
    REQUIRE(page.status == 200);
    CHECK(page.body["metadata"]["resourceVersion"] == rv);
    for (auto& i : page.body["items"]) seen[i["metadata"]["name"]] = i["data"]["k"];
    cont = page.body["metadata"].value("continue", "");
  }
  CHECK(seen.size() == 6);
  CHECK(seen.count("c9") == 0);
  CHECK(seen["c3"] == "v");
  CHECK(seen.count("c4") == 1);
  // A new list sees the writes.
  auto now = api.request("GET", kCms);
  CHECK(now.body["items"].size() == 6);
  CHECK(now.body["metadata"]["resourceVersion"] != rv);
}

TEST_CASE("a continue token older than the compacted history is 410 Expired") {
  auto o = quiet();
  o.watchWindow = 4;
  kubesim::Simulator sim(o);
  sim.start();
  ApiClient api(sim);
  for (int i = 0; i < 4; ++i)
    REQUIRE(api.request("POST", kCms, configMap("c" + std::to_string(i))).status == 201);
  auto first = api.request("GET", kCms + "?limit=2");
  std::string cont = first.body["metadata"].value("continue", "");
  REQUIRE(!cont.empty());
  for (int i = 0; i < 6; ++i)  // more writes than the history keeps: page 1's revision is gone
    REQUIRE(api.request("POST", kCms, configMap("d" + std::to_string(i))).status == 201);
  auto r = api.request("GET", kCms + "?limit=2&continue=" + cont);
  CHECK(r.status == 410);
  CHECK(r.body["reason"] == "Expired");
  CHECK(r.body["message"] ==
        "The provided continue parameter is too old to display a consistent list result. You "
        "can start a new list without the continue parameter, or use the continue token in this "
        "response to retrieve the remainder of the results. Continuing with the provided token "
        "results in an inconsistent list - objects that were created, modified, or deleted "
        "between the time the first chunk was returned and now may show up in the list.");
  // The token in the 410 continues at the latest revision, and its pages do too.
  std::string fresh = r.body["metadata"].value("continue", "");
  REQUIRE(!fresh.empty());
  std::set<std::string> rest;
  while (!fresh.empty()) {
    auto page = api.request("GET", kCms + "?limit=2&continue=" + fresh);
    REQUIRE(page.status == 200);
    for (auto& i : page.body["items"]) rest.insert(i["metadata"]["name"]);
    fresh = page.body["metadata"].value("continue", "");
  }
  CHECK(rest == std::set<std::string>{"c2", "c3", "d0", "d1", "d2", "d3", "d4", "d5"});
}

TEST_CASE("kubectl get --chunk-size sees one snapshot") {
  kubesim::Simulator sim(quiet());
  sim.start();
  testsupport::TempDir dir;
  auto kc = sim.writeKubeconfig(dir.file("kubeconfig"));
  ApiClient api(sim);
  for (int i = 0; i < 5; ++i)
    REQUIRE(api.request("POST", kCms, configMap("c" + std::to_string(i))).status == 201);
  auto r = testsupport::kubectl(kc, {"get", "configmaps", "--chunk-size=2", "-o", "name"});
  REQUIRE(r.exitCode == 0);
  CHECK(r.out == "configmap/c0\nconfigmap/c1\nconfigmap/c2\nconfigmap/c3\nconfigmap/c4\n");
  CHECK(sim.requestLog().count("list", "configmaps") >= 3);  // kubectl paged
}

TEST_CASE("a status update with a stale resourceVersion gets the real Conflict message") {
  // kube-apiserver's status storage shares the main resource's qualified name, so the message
  // is the one a spec update gets (controller-runtime logs show it for Status().Update()).
  kubesim::Simulator sim(quiet());
  sim.start();
  testsupport::TempDir dir;
  auto kc = sim.writeKubeconfig(dir.file("kubeconfig"));
  REQUIRE(testsupport::kubectl(
              kc, {"apply", "-f", "-"},
              "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
              "  name: widgets.example.io\nspec:\n  group: example.io\n  scope: Namespaced\n"
              "  names:\n    plural: widgets\n    kind: Widget\n  versions:\n  - name: v1\n"
              "    served: true\n    storage: true\n    subresources:\n      status: {}\n"
              "    schema:\n      openAPIV3Schema:\n        type: object\n"
              "        x-kubernetes-preserve-unknown-fields: true\n")
              .exitCode == 0);
  ApiClient api(sim);
  const std::string path = "/apis/example.io/v1/namespaces/default/widgets";
  auto w = api.request("POST", path,
                       {{"apiVersion", "example.io/v1"},
                        {"kind", "Widget"},
                        {"metadata", {{"name", "x"}}},
                        {"spec", {{"a", 1}}}});
  REQUIRE(w.status == 201);
  json stale = w.body;
  stale["status"] = {{"phase", "One"}};
  REQUIRE(api.request("PUT", path + "/x/status", stale).status == 200);
  stale["status"] = {{"phase", "Two"}};
  auto r = api.request("PUT", path + "/x/status", stale);
  CHECK(r.status == 409);
  CHECK(r.body["reason"] == "Conflict");
  CHECK(r.body["message"] ==
        "Operation cannot be fulfilled on widgets.example.io \"x\": the object has been "
        "modified; please apply your changes to the latest version and try again");
  CHECK(r.body["details"]["kind"] == "widgets");
  CHECK(r.body["details"]["group"] == "example.io");
}

TEST_CASE("a restarting API server answers 503 server is starting for custom resources") {
  kubesim::Simulator sim(quiet());
  sim.start();
  testsupport::TempDir dir;
  auto kc = sim.writeKubeconfig(dir.file("kubeconfig"));
  REQUIRE(testsupport::kubectl(
              kc, {"apply", "-f", "-"},
              "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
              "  name: widgets.example.io\nspec:\n  group: example.io\n  scope: Namespaced\n"
              "  names:\n    plural: widgets\n    kind: Widget\n  versions:\n  - name: v1\n"
              "    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n"
              "        type: object\n        x-kubernetes-preserve-unknown-fields: true\n")
              .exitCode == 0);
  // kubectl drives the restart through the control endpoint.
  auto r = testsupport::kubectl(kc, {"create", "--raw", "/kubesim/apiserver/restart", "-f", "-"},
                                R"({"startingSeconds": 2})");
  REQUIRE(r.exitCode == 0);
  ApiClient api(sim);
  auto got = api.request("GET", "/apis/example.io/v1/namespaces/default/widgets");
  CHECK(got.status == 503);
  CHECK(got.body["reason"] == "ServiceUnavailable");
  CHECK(got.body["message"] == "server is starting");
  CHECK(got.body["details"]["retryAfterSeconds"] == 10);
  // Built-in kinds are served meanwhile; /readyz names the check that fails.
  CHECK(api.request("GET", kCms).status == 200);
  r = testsupport::kubectl(kc, {"get", "--raw", "/readyz"});
  CHECK(r.exitCode != 0);
  CHECK_THAT(r.err, Catch::Contains("[-]poststarthook/crd-informer-synced failed: reason "
                                    "withheld"));
  // kubectl honours Retry-After (client-go retries 5xx answers that carry it) and gets the list
  // once the server is ready.
  r = testsupport::kubectl(kc, {"get", "widgets", "-o", "name"});
  CHECK(r.exitCode == 0);
  CHECK(sim.requestLog().count("list", "widgets.example.io", 503) >= 1);
  CHECK(sim.requestLog().count("list", "widgets.example.io", 200) >= 1);
  CHECK(testsupport::kubectl(kc, {"get", "--raw", "/readyz"}).exitCode == 0);
}
