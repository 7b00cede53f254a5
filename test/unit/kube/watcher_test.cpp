#include <catch2/catch.hpp>

#include "fake_client.h"
#include "operator/kube/informer.h"
#include "operator/kube/watcher.h"
#include "test/support/process.h"

using kube::Watcher;
using kube::WatcherEvent;
using namespace kubetest;
using T = WatcherEvent::Type;

namespace {

kube::ObjectList page(std::vector<json> items, const std::string& rv,
                      const std::string& cont = "") {
  return kube::ObjectList{std::move(items), rv, cont};
}

std::vector<T> types(const std::vector<WatcherEvent>& evs) {
  std::vector<T> t;
  for (const auto& e : evs) t.push_back(e.type);
  return t;
}

std::vector<WatcherEvent> step(Watcher& w) {
  auto r = w.step();
  REQUIRE(r.ok());
  return r.value();
}

}  // namespace

TEST_CASE("watcher lists page by page, then watches from the list's resourceVersion") {
  FakeClient c;
  c.lists.push_back(page({obj("a", "p1", "5")}, "10", "tok"));
  c.lists.push_back(page({obj("a", "p2", "6")}, "10"));
  ScriptedWatch w;
  w.events.push_back(ev("ADDED", obj("a", "p3", "11")));
  w.events.push_back(ev("BOOKMARK", {{"metadata", {{"resourceVersion", "15"}}}}));
  w.events.push_back(ev("DELETED", obj("a", "p1", "16")));
  c.watches.push_back(w);
  ScriptedWatch quiet;
  quiet.events.push_back(ev("BOOKMARK", {{"metadata", {{"resourceVersion", "20"}}}}));
  c.watches.push_back(quiet);

  Watcher watcher(c, kube::resources::Pods, {"a", "", "", 1, true, 60, nullptr});
  CHECK(watcher.state() == Watcher::State::Empty);
  CHECK(types(step(watcher)) == std::vector<T>{T::Init});
  CHECK(types(step(watcher)) == std::vector<T>{T::InitApply});
  CHECK(watcher.state() == Watcher::State::InitPage);
  CHECK(types(step(watcher)) == std::vector<T>{T::InitApply, T::InitDone});
  CHECK(watcher.state() == Watcher::State::InitListed);
  REQUIRE(c.listCalls.size() == 2);
  CHECK(c.listCalls[0].limit == 1);
  CHECK_FALSE(c.listCalls[0].allPages);
  CHECK(c.listCalls[1].continueToken == "tok");

  CHECK(step(watcher).empty());  // opens the watch
  CHECK(watcher.state() == Watcher::State::Watching);
  REQUIRE(c.watchCalls.size() == 1);
  CHECK(c.watchCalls[0].resourceVersion == "10");
  CHECK(c.watchCalls[0].allowBookmarks);
  CHECK(c.watchCalls[0].timeoutSeconds == 60);

  CHECK(types(step(watcher)) == std::vector<T>{T::Apply});
  CHECK(step(watcher).empty());  // bookmark
  CHECK(watcher.resourceVersion() == "15");
  auto del = step(watcher);
  CHECK(types(del) == std::vector<T>{T::Delete});
  CHECK(watcher.resourceVersion() == "16");
  // The stream ends (server timeout): resume from the last version, no relist.
  CHECK(step(watcher).empty());
  CHECK(watcher.state() == Watcher::State::InitListed);
  CHECK(step(watcher).empty());
  REQUIRE(c.watchCalls.size() == 2);
  CHECK(c.watchCalls[1].resourceVersion == "16");
  CHECK(watcher.relists() == 1);
}

TEST_CASE("a paged list watches from the first page's resourceVersion, not the last one's") {
  // A server that answers each page at its current version (kubesim did) must not make the
  // watch skip what changed while paging: the first page names the snapshot (client-go).
  FakeClient c;
  c.lists.push_back(page({obj("a", "p1", "5")}, "10", "tok"));
  c.lists.push_back(page({obj("a", "p2", "6")}, "14"));
  c.watches.push_back(ScriptedWatch{});
  Watcher watcher(c, kube::resources::Pods, {"a", "", "", 1, true, 60, nullptr});
  step(watcher);
  step(watcher);
  step(watcher);
  CHECK(watcher.state() == Watcher::State::InitListed);
  CHECK(watcher.resourceVersion() == "10");
  step(watcher);
  REQUIRE(c.watchCalls.size() == 1);
  CHECK(c.watchCalls[0].resourceVersion == "10");
}

TEST_CASE("watcher relists on a 410 ERROR event") {
  FakeClient c;
  c.lists.push_back(page({obj("a", "p1", "5")}, "10"));
  c.lists.push_back(page({obj("a", "p2", "30")}, "31"));
  ScriptedWatch w;
  w.events.push_back(gone());
  c.watches.push_back(w);
  Watcher watcher(c, kube::resources::Pods, {});
  step(watcher);
  step(watcher);
  step(watcher);  // watch open
  CHECK(step(watcher).empty());
  CHECK(watcher.state() == Watcher::State::Empty);
  CHECK(types(step(watcher)) == std::vector<T>{T::Init});
  CHECK(types(step(watcher)) == std::vector<T>{T::InitApply, T::InitDone});
  CHECK(watcher.resourceVersion() == "31");
  CHECK(watcher.relists() == 2);
  // A fresh relist is a consistent read, not from the expired version.
  CHECK(c.listCalls[1].resourceVersion.empty());
}

TEST_CASE("watcher relists when the watch request itself answers 410") {
  FakeClient c;
  c.lists.push_back(page({}, "10"));
  c.watches.push_back(gone());
  Watcher watcher(c, kube::resources::Pods, {});
  step(watcher);
  step(watcher);
  CHECK(step(watcher).empty());
  CHECK(watcher.state() == Watcher::State::Empty);
}

TEST_CASE("watcher restarts the list when the continue token expired") {
  FakeClient c;
  c.lists.push_back(page({obj("a", "p1", "5")}, "", "tok"));
  c.lists.push_back(gone());
  Watcher watcher(c, kube::resources::Pods, {"", "", "", 1, true, 0, nullptr});
  step(watcher);
  step(watcher);
  CHECK(step(watcher).empty());
  CHECK(watcher.state() == Watcher::State::Empty);
  CHECK(types(step(watcher)) == std::vector<T>{T::Init});  // the store drops the partial buffer
}

TEST_CASE("watcher resumes from the last resourceVersion after a broken connection") {
  FakeClient c;
  c.lists.push_back(page({}, "10"));
  ScriptedWatch w;
  w.events.push_back(ev("MODIFIED", obj("a", "p", "12")));
  w.events.push_back(kube::ApiError::transport("ConnectionFailed", "connection reset"));
  c.watches.push_back(w);
  Watcher watcher(c, kube::resources::Pods, {});
  step(watcher);
  step(watcher);
  step(watcher);
  step(watcher);  // MODIFIED
  auto r = watcher.step();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().reason == "ConnectionFailed");
  CHECK(watcher.state() == Watcher::State::InitListed);
  step(watcher);
  CHECK(c.watchCalls.back().resourceVersion == "12");
  CHECK(watcher.relists() == 1);
}

TEST_CASE("a list error leaves the watcher where it can retry") {
  FakeClient c;
  c.lists.push_back(kube::ApiError{403, "Forbidden", "no", {}, 0});
  c.lists.push_back(page({}, "3"));
  Watcher watcher(c, kube::resources::Pods, {});
  step(watcher);
  auto r = watcher.step();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().isForbidden());
  CHECK(watcher.state() == Watcher::State::InitPage);
  CHECK(types(step(watcher)) == std::vector<T>{T::InitDone});
}

TEST_CASE("informer over a fake client: handlers, relist diff, late handlers, prompt stop") {
  FakeClient c;
  c.lists.push_back(page({obj("a", "p1", "1"), obj("a", "p2", "2")}, "2"));
  ScriptedWatch w;
  w.events.push_back(ev("MODIFIED", obj("a", "p1", "3")));
  w.events.push_back(gone());
  c.watches.push_back(w);
  // The relist finds p1 unchanged, p2 gone and p4 new.
  c.lists.push_back(page({obj("a", "p1", "3"), obj("a", "p4", "9")}, "9"));

  std::mutex mu;
  std::vector<std::string> seen;
  kube::InformerOptions opts;
  opts.backoff = {std::chrono::milliseconds(1), std::chrono::milliseconds(5), 2.0, 0.0};
  auto inf = kube::makeInformer(c, kube::resources::Pods, opts);
  kube::EventHandler h;
  auto name = [](const kube::ObjectPtr& o) { return (*o)["metadata"]["name"].get<std::string>(); };
  h.onAdd = [&](const kube::ObjectPtr& o) {
    std::lock_guard<std::mutex> l(mu);
    seen.push_back("add " + name(o));
  };
  h.onUpdate = [&](const kube::ObjectPtr&, const kube::ObjectPtr& o) {
    std::lock_guard<std::mutex> l(mu);
    seen.push_back("update " + name(o));
  };
  h.onDelete = [&](const kube::ObjectPtr& o) {
    std::lock_guard<std::mutex> l(mu);
    seen.push_back("delete " + name(o));
  };
  inf->addEventHandler(h);
  inf->start();
  REQUIRE(testsupport::waitFor([&] {
    std::lock_guard<std::mutex> l(mu);
    return seen.size() >= 5;
  }));
  REQUIRE(testsupport::waitFor([&] { return inf->store().size() == 2 && inf->hasSynced(); }));
  {
    std::lock_guard<std::mutex> l(mu);
    std::vector<std::string> first(seen.begin(), seen.begin() + 2);
    std::sort(first.begin(), first.end());
    CHECK(first == std::vector<std::string>{"add p1", "add p2"});
    CHECK(seen[2] == "update p1");
    std::vector<std::string> diff(seen.begin() + 3, seen.end());
    std::sort(diff.begin(), diff.end());
    CHECK(diff == std::vector<std::string>{"add p4", "delete p2"});
  }
  // A handler added now sees the cached objects as adds.
  std::vector<std::string> late;
  kube::EventHandler h2;
  h2.onAdd = [&](const kube::ObjectPtr& o) { late.push_back(name(o)); };
  inf->addEventHandler(h2);
  std::sort(late.begin(), late.end());
  CHECK(late == std::vector<std::string>{"p1", "p4"});
  // The informer now blocks in a quiet watch; stop() must cancel it promptly.
  REQUIRE(testsupport::waitFor([&] {
    std::lock_guard<std::mutex> l(c.mu);
    return c.watchCalls.size() == 2;
  }));
  auto t0 = std::chrono::steady_clock::now();
  inf->stop();
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(2));
  inf->stop();  // idempotent
}

TEST_CASE("informer with a namespace list runs one watcher per namespace into one store") {
  FakeClient c;
  c.listsByNamespace["a"].push_back(page({obj("a", "x", "1")}, "1"));
  c.listsByNamespace["b"].push_back(page({obj("b", "y", "2")}, "2"));
  kube::InformerOptions opts;
  opts.namespaces = {"a", "b"};
  opts.transform = kube::defaultTransform();
  auto inf = kube::makeInformer(c, kube::resources::Pods, opts);
  inf->start();
  REQUIRE(testsupport::waitFor([&] { return inf->hasSynced(); }));
  CHECK(inf->store().size() == 2);
  CHECK(inf->store().list("a").size() == 1);
  CHECK(inf->store().list("b").size() == 1);
  inf->stop();
}
