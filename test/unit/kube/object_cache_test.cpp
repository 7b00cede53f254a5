#include <catch2/catch.hpp>

#include "fake_client.h"
#include "operator/kube/object_cache.h"

using kube::Notification;
using kube::ObjectCache;
using kube::WatcherEvent;
using kubetest::obj;
using T = WatcherEvent::Type;

namespace {

std::vector<Notification> relist(ObjectCache& c, const std::string& scope,
                                 const std::vector<kube::json>& objects) {
  std::vector<Notification> out;
  c.apply(scope, {T::Init, nullptr});
  for (const auto& o : objects) c.apply(scope, {T::InitApply, o});
  return c.apply(scope, {T::InitDone, nullptr});
}

std::string describe(const std::vector<Notification>& ns) {
  std::vector<std::string> parts;
  for (const auto& n : ns) {
    const char* t = n.type == Notification::Type::Add      ? "add"
                    : n.type == Notification::Type::Update ? "update"
                                                           : "delete";
    parts.push_back(std::string(t) + " " + ObjectCache::keyOf(*n.object()));
  }
  std::sort(parts.begin(), parts.end());
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : ", ") + p;
  return s;
}

}  // namespace

TEST_CASE("the first list adds everything and marks the cache synced") {
  ObjectCache c;
  CHECK_FALSE(c.hasSynced());
  c.apply("", {T::Init, nullptr});
  c.apply("", {T::InitApply, obj("a", "p1", "1")});
  // Readers never see a half-listed cache.
  CHECK(c.size() == 0);
  CHECK_FALSE(c.hasSynced());
  c.apply("", {T::InitApply, obj("a", "p2", "2")});
  auto n = c.apply("", {T::InitDone, nullptr});
  CHECK(describe(n) == "add a/p1, add a/p2");
  CHECK(c.hasSynced());
  CHECK(c.size() == 2);
  REQUIRE(c.get("a", "p1"));
  CHECK((*c.get("a", "p1"))["metadata"]["resourceVersion"] == "1");
}

TEST_CASE("a relist emits the difference: deletes, updates of changed objects, adds") {
  ObjectCache c;
  relist(c, "", {obj("a", "keep", "1"), obj("a", "change", "2"), obj("a", "vanish", "3")});
  auto n = relist(c, "", {obj("a", "keep", "1"), obj("a", "change", "7"), obj("a", "new", "8")});
  CHECK(describe(n) == "add a/new, delete a/vanish, update a/change");
  for (const auto& x : n) {
    if (x.type == Notification::Type::Update) {
      CHECK((*x.oldObject())["metadata"]["resourceVersion"] == "2");
      CHECK((*x.object())["metadata"]["resourceVersion"] == "7");
    }
    if (x.type == Notification::Type::Delete) {
      CHECK((*x.object())["metadata"]["name"] == "vanish");  // the last known state
    }
  }
  CHECK(c.size() == 3);
  CHECK_FALSE(c.get("a", "vanish"));
}

TEST_CASE("a relist of one namespace leaves other namespaces alone") {
  ObjectCache c({"a", "b"});
  relist(c, "a", {obj("a", "x", "1")});
  CHECK_FALSE(c.hasSynced());  // b has not listed yet
  relist(c, "b", {obj("b", "y", "2")});
  CHECK(c.hasSynced());
  auto n = relist(c, "a", {});
  CHECK(describe(n) == "delete a/x");
  CHECK(c.get("b", "y"));
}

TEST_CASE("watch events apply in place, same resourceVersion is not an update") {
  ObjectCache c;
  relist(c, "", {});
  CHECK(describe(c.apply("", {T::Apply, obj("a", "p", "1")})) == "add a/p");
  CHECK(describe(c.apply("", {T::Apply, obj("a", "p", "2")})) == "update a/p");
  CHECK(c.apply("", {T::Apply, obj("a", "p", "2")}).empty());
  CHECK(describe(c.apply("", {T::Delete, obj("a", "p", "3")})) == "delete a/p");
  CHECK(c.size() == 0);
  // A delete of an object never seen still notifies, with the event's object.
  CHECK(describe(c.apply("", {T::Delete, obj("a", "ghost", "4")})) == "delete a/ghost");
}

TEST_CASE("indexes: namespace, owner uid, controller uid, labels") {
  ObjectCache c({""}, {"team"});
  auto owned = obj("a", "job1", "1", {{"team", "data"}});
  owned["metadata"]["ownerReferences"] = {
      {{"uid", "owner-1"}, {"controller", true}, {"kind", "FlowRun"}, {"name", "f"}},
      {{"uid", "owner-2"}, {"kind", "Other"}, {"name", "o"}}};
  relist(c, "", {owned, obj("b", "job2", "2", {{"team", "ml"}}), obj("a", "job3", "3")});
  CHECK(c.list("a").size() == 2);
  CHECK(c.list().size() == 3);
  CHECK(c.byIndex(kube::kIndexNamespace, "b").size() == 1);
  CHECK(c.byIndex(kube::kIndexOwnerUid, "owner-1").size() == 1);
  CHECK(c.byIndex(kube::kIndexOwnerUid, "owner-2").size() == 1);
  CHECK(c.byIndex(kube::kIndexControllerUid, "owner-1").size() == 1);
  CHECK(c.byIndex(kube::kIndexControllerUid, "owner-2").empty());
  CHECK(c.byIndex("label:team", "data").size() == 1);
  CHECK(c.byIndex("label:team", "ml").size() == 1);
  // An update moves the object between index values.
  c.apply("", {T::Apply, obj("a", "job1", "9", {{"team", "ml"}})});
  CHECK(c.byIndex("label:team", "data").empty());
  CHECK(c.byIndex("label:team", "ml").size() == 2);
  CHECK(c.byIndex(kube::kIndexOwnerUid, "owner-1").empty());
  // A label nobody indexed is still answered (by a scan).
  c.apply("", {T::Apply, obj("a", "job5", "10", {{"tier", "x"}})});
  CHECK(c.byIndex("label:tier", "x").size() == 1);
  CHECK(c.byIndex("unknown-index", "x").empty());
}

TEST_CASE("named indexers: values computed from the object, kept up to date on updates") {
  kube::Indexers indexers;
  indexers["flowrun"] = [](const kube::json& o) {
    std::vector<std::string> out;
    const auto& md = o["metadata"];
    if (md.contains("annotations") && md["annotations"].contains("run")) {
      out.push_back(md["annotations"]["run"].get<std::string>());
    }
    return out;
  };
  ObjectCache c({""}, {}, indexers);
  auto p1 = obj("a", "p1", "1");
  p1["metadata"]["annotations"] = {{"run", "r1"}};
  relist(c, "", {p1, obj("a", "p2", "2")});
  CHECK(c.byIndex("flowrun", "r1").size() == 1);
  p1["metadata"]["annotations"] = {{"run", "r2"}};
  p1["metadata"]["resourceVersion"] = "3";
  c.apply("", {T::Apply, p1});
  CHECK(c.byIndex("flowrun", "r1").empty());
  REQUIRE(c.byIndex("flowrun", "r2").size() == 1);
  CHECK((*c.byIndex("flowrun", "r2")[0])["metadata"]["name"] == "p1");
  // A relist that changes the value moves it too.
  p1["metadata"]["annotations"] = {{"run", "r3"}};
  p1["metadata"]["resourceVersion"] = "4";
  relist(c, "", {p1});
  CHECK(c.byIndex("flowrun", "r2").empty());
  CHECK(c.byIndex("flowrun", "r3").size() == 1);
  CHECK(c.size() == 1);
}

TEST_CASE("objects are held packed: every read decodes an equal, independent tree") {
  ObjectCache c;
  auto o = obj("a", "p", "1", {{"team", "data"}});
  o["status"] = {{"count", 3},      {"ratio", 0.5},       {"ok", true},
                 {"none", nullptr}, {"list", {1, "two"}}, {"text", std::string(300, 'x')}};
  relist(c, "", {o});
  auto a = c.get("a", "p");
  auto b = c.get("a", "p");
  REQUIRE(a);
  CHECK(*a == o);
  CHECK(a != b);  // separate trees: no reader shares a mutable structure with the cache
  // The cache counts its bytes: the encoding is smaller than the JSON text.
  CHECK(c.packedBytes() > 300);
  CHECK(c.packedBytes() < o.dump().size());
  c.apply("", {T::Delete, o});
  CHECK(c.packedBytes() == 0);
}

TEST_CASE("defaultTransform drops managedFields and the last-applied annotation") {
  auto o = obj("a", "p", "1");
  o["metadata"]["managedFields"] = kube::json::array({{{"manager", "kubectl"}}});
  o["metadata"]["annotations"] = {{"kubectl.kubernetes.io/last-applied-configuration", "{...}"},
                                  {"keep", "me"}};
  auto t = kube::defaultTransform()(o);
  CHECK_FALSE(t["metadata"].contains("managedFields"));
  CHECK(t["metadata"]["annotations"] == kube::json{{"keep", "me"}});
  CHECK(t["metadata"]["name"] == "p");
}
