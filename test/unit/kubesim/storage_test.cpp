// Storage semantics other parts of kubesim (garbage collector, Job controller, kubelet) rely on.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>

#include "test/kubesim/patch.h"
#include "test/kubesim/schema.h"
#include "test/kubesim/selectors.h"
#include "test/kubesim/storage.h"

using kubesim::ApiException;
using kubesim::json;

namespace {

json pod(const std::string& name, bool scheduled) {
  json p = {{"metadata", {{"name", name}}},
            {"spec", {{"containers", json::array({{{"name", "main"}, {"image", "busybox:1"}}})}}}};
  if (scheduled) p["spec"]["nodeName"] = "node-1";
  return p;
}

int codeOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const ApiException& e) {
    return e.code;
  }
  return 0;
}

const char* kCrd = R"({
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.example.com"},
  "spec": {"group": "example.com", "scope": "Namespaced",
    "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"]},
    "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "required": ["size"], "properties": {
          "size": {"type": "integer", "minimum": 1, "maximum": 10},
          "color": {"type": "string", "enum": ["red", "blue"], "default": "red"},
          "name": {"type": "string", "maxLength": 5, "pattern": "^[a-z]+$"}}},
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]}})";

}  // namespace

TEST_CASE("objects get uid, creationTimestamp, a global resourceVersion and generation") {
  kubesim::Storage s;
  auto a = s.create("configmaps", "default", {{"metadata", {{"name", "a"}}}});
  json jobPodSpec = pod("x", false)["spec"];
  jobPodSpec["restartPolicy"] = "Never";
  auto b = s.create(
      "jobs.batch", "default",
      {{"metadata", {{"generateName", "run-"}}}, {"spec", {{"template", {{"spec", jobPodSpec}}}}}});
  CHECK(a["metadata"]["uid"].get<std::string>().size() == 36);
  CHECK(std::stoull(b["metadata"]["resourceVersion"].get<std::string>()) >
        std::stoull(a["metadata"]["resourceVersion"].get<std::string>()));
  CHECK(b["metadata"]["name"].get<std::string>().rfind("run-", 0) == 0);
  CHECK(b["metadata"]["generation"] == 1);
  CHECK_FALSE(a["metadata"].contains("generation"));
  // Jobs get the selector and labels the API server generates.
  CHECK(b["spec"]["template"]["metadata"]["labels"]["batch.kubernetes.io/job-name"] ==
        b["metadata"]["name"]);
  CHECK(b["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst");
  CHECK(codeOf([&] { s.create("configmaps", "default", {{"metadata", {{"name", "a"}}}}); }) == 409);
  CHECK(codeOf([&] { s.create("configmaps", "missing", {{"metadata", {{"name", "a"}}}}); }) == 404);
}

TEST_CASE("generation moves with spec only, status goes through the status subresource") {
  kubesim::Storage s;
  s.create("customresourcedefinitions.apiextensions.k8s.io", "", json::parse(kCrd));
  auto w = s.create("widgets.example.com", "default",
                    {{"apiVersion", "example.com/v1"},
                     {"kind", "Widget"},
                     {"metadata", {{"name", "w"}}},
                     {"spec", {{"size", 2}}},
                     {"status", {{"ready", true}}}});
  CHECK(w["spec"]["color"] == "red");  // defaulted
  CHECK_FALSE(w.contains("status"));   // dropped on create with a status subresource
  w["status"] = {{"ready", true}};
  auto st = s.updateStatus("widgets.example.com", w);
  CHECK(st["metadata"]["generation"] == 1);
  CHECK(st["status"]["ready"] == true);
  st["spec"]["size"] = 3;
  st["status"]["ready"] = false;  // ignored by the main endpoint
  auto up = s.update("widgets.example.com", st);
  CHECK(up["metadata"]["generation"] == 2);
  CHECK(up["status"]["ready"] == true);
  // A stale resourceVersion conflicts.
  CHECK(codeOf([&] { s.update("widgets.example.com", st); }) == 409);
  // A no-op update writes nothing.
  auto same = s.update("widgets.example.com", up);
  CHECK(same["metadata"]["resourceVersion"] == up["metadata"]["resourceVersion"]);
}

TEST_CASE("CRD schemas validate with the API server's messages") {
  kubesim::Storage s;
  s.create("customresourcedefinitions.apiextensions.k8s.io", "", json::parse(kCrd));
  try {
    s.create("widgets.example.com", "default",
             {{"apiVersion", "example.com/v1"},
              {"kind", "Widget"},
              {"metadata", {{"name", "bad"}}},
              {"spec", {{"size", 11}, {"color", "green"}, {"name", "ABCDEFG"}, {"extra", 1}}}});
    FAIL("accepted an invalid widget");
  } catch (const ApiException& e) {
    CHECK(e.code == 422);
    std::string m = e.what();
    CHECK(m.rfind("Widget.example.com \"bad\" is invalid: [", 0) == 0);
    CHECK(
        m.find(
            "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10") !=
        std::string::npos);
    CHECK(m.find("spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\"") !=
          std::string::npos);
    CHECK(m.find("spec.name: Too long: may not be longer than 5") != std::string::npos);
    CHECK(m.find(
              "spec.name: Invalid value: \"ABCDEFG\": spec.name in body should match '^[a-z]+$'") !=
          std::string::npos);
    CHECK(e.details["causes"].size() == 4);
    CHECK(e.details["kind"] == "Widget");
  }
  CHECK(codeOf([&] {
          s.create("widgets.example.com", "default",
                   {{"apiVersion", "example.com/v1"},
                    {"kind", "Widget"},
                    {"metadata", {{"name", "w"}}},
                    {"spec", {{"size", "big"}}}});
        }) == 422);
  // Unknown fields are pruned.
  auto ok = s.create("widgets.example.com", "default",
                     {{"apiVersion", "example.com/v1"},
                      {"kind", "Widget"},
                      {"metadata", {{"name", "ok"}}},
                      {"spec", {{"size", 1}, {"extra", 1}}}});
  CHECK_FALSE(ok["spec"].contains("extra"));
  // Deleting the CRD removes its objects and stops serving it.
  s.remove("customresourcedefinitions.apiextensions.k8s.io", "", "widgets.example.com");
  CHECK(codeOf([&] { s.get("widgets.example.com", "default", "ok"); }) == 404);
}

TEST_CASE("finalizers and propagation policies defer deletion") {
  kubesim::Storage s;
  auto cm = s.create("configmaps", "default",
                     {{"metadata", {{"name", "f"}, {"finalizers", {"test/x"}}}}});
  auto d = s.remove("configmaps", "default", "f");
  CHECK(d["metadata"].contains("deletionTimestamp"));
  auto cur = s.get("configmaps", "default", "f");
  cur["metadata"]["finalizers"] = json::array();
  s.update("configmaps", cur);
  CHECK(codeOf([&] { s.get("configmaps", "default", "f"); }) == 404);

  s.create("configmaps", "default", {{"metadata", {{"name", "fg"}}}});
  kubesim::DeleteOptions fg;
  fg.propagationPolicy = "Foreground";
  auto fgObj = s.remove("configmaps", "default", "fg", fg);
  CHECK(fgObj["metadata"]["finalizers"] == json::array({"foregroundDeletion"}));
  s.create("configmaps", "default", {{"metadata", {{"name", "or"}}}});
  kubesim::DeleteOptions orphan;
  orphan.propagationPolicy = "Orphan";
  CHECK(s.remove("configmaps", "default", "or", orphan)["metadata"]["finalizers"] ==
        json::array({"orphan"}));
}

TEST_CASE("scheduled pods terminate gracefully, unscheduled pods go at once") {
  kubesim::Storage s;
  s.create("pods", "default", pod("pending", false));
  s.remove("pods", "default", "pending");
  CHECK(codeOf([&] { s.get("pods", "default", "pending"); }) == 404);
  auto p = s.create("pods", "default", pod("running", true));
  CHECK(p["status"]["phase"] == "Pending");
  auto d = s.remove("pods", "default", "running");
  CHECK(d["metadata"]["deletionGracePeriodSeconds"] == 30);
  CHECK(s.get("pods", "default", "running")["metadata"].contains("deletionTimestamp"));
  kubesim::DeleteOptions now;
  now.gracePeriodSeconds = 0;
  s.remove("pods", "default", "running", now);
  CHECK(codeOf([&] { s.get("pods", "default", "running"); }) == 404);
}

TEST_CASE("subscribers see every change in resourceVersion order and may write back") {
  kubesim::Storage s;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::uint64_t> rvs;
  int id = s.subscribe([&](const kubesim::StoreEvent& e) {
    if (e.resource != "configmaps") return;
    if (e.type == kubesim::StoreEvent::Type::Added && e.object["metadata"]["name"] == "trigger") {
      s.create("configmaps", "default", {{"metadata", {{"name", "written-back"}}}});
    }
    std::lock_guard l(mu);
    rvs.push_back(std::stoull(e.object["metadata"]["resourceVersion"].get<std::string>()));
    cv.notify_all();
  });
  s.create("configmaps", "default", {{"metadata", {{"name", "trigger"}}}});
  for (int i = 0; i < 5; ++i) {
    std::string name = "c";  // appended: "c" + to_string() trips GCC 12's false -Wrestrict at -O3
    name += std::to_string(i);
    s.create("configmaps", "default", {{"metadata", {{"name", name}}}});
  }
  std::unique_lock l(mu);
  REQUIRE(cv.wait_for(l, std::chrono::seconds(5), [&] { return rvs.size() == 7; }));
  CHECK(std::is_sorted(rvs.begin(), rvs.end()));
  s.unsubscribe(id);
}

TEST_CASE("namespace deletion removes its content, then the namespace") {
  kubesim::Storage s;
  s.create("namespaces", "", {{"metadata", {{"name", "team"}}}});
  s.create("configmaps", "team", {{"metadata", {{"name", "a"}}}});
  s.create("configmaps", "team", {{"metadata", {{"name", "held"}, {"finalizers", {"x/y"}}}}});
  s.remove("namespaces", "", "team");
  CHECK(s.get("namespaces", "", "team")["status"]["phase"] == "Terminating");
  CHECK(codeOf([&] { s.create("configmaps", "team", {{"metadata", {{"name", "late"}}}}); }) == 403);
  auto held = s.get("configmaps", "team", "held");
  held["metadata"]["finalizers"] = json::array();
  s.update("configmaps", held);
  CHECK(codeOf([&] { s.get("namespaces", "", "team"); }) == 404);
}

TEST_CASE("label selectors follow the API syntax") {
  auto sel = kubesim::LabelSelector::parse("a=b,c!=d,e in (f,g),!h,i");
  CHECK(sel.matches({{"a", "b"}, {"e", "g"}, {"i", "1"}}));
  CHECK_FALSE(sel.matches({{"a", "b"}, {"e", "g"}, {"i", "1"}, {"h", "x"}}));
  CHECK_FALSE(sel.matches({{"a", "b"}, {"c", "d"}, {"e", "f"}, {"i", ""}}));
  CHECK(kubesim::LabelSelector::parse("x notin (y)").matches(json::object()));
  CHECK(codeOf([] { kubesim::LabelSelector::parse("a in b"); }) == 400);
}

TEST_CASE("strategic merge patch merges containers by name and honours directives") {
  json pod = {{"spec",
               {{"containers", json::array({{{"name", "a"}, {"image", "x:1"}},
                                            {{"name", "b"}, {"image", "y:1"}}})},
                {"tolerations", json::array({{{"key", "k"}}})}}}};
  json patch = {{"spec",
                 {{"containers", json::array({{{"name", "b"}, {"image", "y:2"}},
                                              {{"name", "a"}, {"$patch", "delete"}}})},
                  {"tolerations", json::array({{{"key", "z"}}})},
                  {"$setElementOrder/containers", json::array({{{"name", "b"}}})}}}};
  json out = kubesim::applyStrategicMergePatch(pod, patch);
  REQUIRE(out["spec"]["containers"].size() == 1);
  CHECK(out["spec"]["containers"][0]["image"] == "y:2");
  CHECK(out["spec"]["tolerations"] == json::array({{{"key", "z"}}}));
  CHECK_FALSE(out["spec"].contains("$setElementOrder/containers"));
}
