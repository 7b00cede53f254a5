#include <catch2/catch.hpp>

#include <set>

#include "test/kubesim/admission.h"

using namespace kubesim;

namespace {

RequestAttributes write(const std::string& verb) {
  RequestAttributes r;
  r.user.name = "system:serviceaccount:ops:op";
  r.verb = verb;
  r.apiGroup = "batch";
  r.resource = "jobs";
  r.ns = "data";
  r.name = verb == "create" ? "" : "job-1";
  return r;
}

json job(json refs) {
  return {{"metadata", {{"name", "job-1"}, {"namespace", "data"}, {"ownerReferences", refs}}}};
}

json ref(const std::string& uid, bool block) {
  return {{"apiVersion", "prefect.io/v1alpha1"},
          {"kind", "FlowRun"},
          {"name", "run-" + uid},
          {"uid", uid},
          {"controller", true},
          {"blockOwnerDeletion", block}};
}

OwnerKindResolver resolver() {
  return
      [](const std::string& apiVersion, const std::string& kind) -> std::optional<OwnerResource> {
        if (apiVersion == "prefect.io/v1alpha1" && kind == "FlowRun")
          return OwnerResource{"prefect.io", "flowruns"};
        return std::nullopt;
      };
}

// Allows what is in `grants` ("verb resource/subresource"), and records every question.
struct Grants {
  std::set<std::string> grants;
  std::vector<RequestAttributes> asked;
  AccessCheck check() {
    return [this](const RequestAttributes& a) {
      asked.push_back(a);
      std::string key =
          a.verb + " " + a.resource + (a.subresource.empty() ? "" : "/" + a.subresource);
      return grants.count(key) > 0;
    };
  }
};

std::string refusal(const RequestAttributes& r, const json& obj, const json* old, Grants& g) {
  try {
    enforceOwnerReferencesPermission(r, obj, old, g.check(), resolver());
  } catch (const ApiException& e) {
    CHECK(e.code == 403);
    CHECK(e.reason == "Forbidden");
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("admission: blockOwnerDeletion on create needs update on the owner's finalizers") {
  Grants none;
  CHECK(refusal(write("create"), job({ref("u1", true)}), nullptr, none) ==
        "jobs.batch \"job-1\" is forbidden: cannot set blockOwnerDeletion if an ownerReference "
        "refers to a resource you can't set finalizers on: , <nil>");
  REQUIRE(none.asked.size() == 1);  // a create is never asked for delete
  const auto& a = none.asked[0];
  CHECK(a.verb == "update");
  CHECK(a.apiGroup == "prefect.io");
  CHECK(a.resource == "flowruns");
  CHECK(a.subresource == "finalizers");
  CHECK(a.ns == "data");
  CHECK(a.name == "run-u1");
  CHECK(a.user.name == "system:serviceaccount:ops:op");

  Grants finalizers{{"update flowruns/finalizers"}, {}};
  CHECK(refusal(write("create"), job({ref("u1", true)}), nullptr, finalizers).empty());
  // Without blockOwnerDeletion nothing is asked.
  Grants quiet;
  CHECK(refusal(write("create"), job({ref("u1", false)}), nullptr, quiet).empty());
  CHECK(quiet.asked.empty());
}

TEST_CASE("admission: changing owner references on an update needs delete on the object") {
  json old = job(json::array());
  Grants none;
  CHECK(refusal(write("update"), job({ref("u1", false)}), &old, none) ==
        "jobs.batch \"job-1\" is forbidden: cannot set an ownerRef on a resource you can't "
        "delete: , <nil>");
  Grants del{{"delete jobs"}, {}};
  CHECK(refusal(write("patch"), job({ref("u1", false)}), &old, del).empty());
  // An update that leaves the references alone asks nothing.
  json same = job({ref("u1", true)});
  Grants quiet;
  CHECK(refusal(write("update"), same, &same, quiet).empty());
  CHECK(quiet.asked.empty());
  // A reference already blocking is not asked again; a newly blocking one is.
  json before = job({ref("u1", true)});
  Grants onlyDelete{{"delete jobs"}, {}};
  CHECK_FALSE(refusal(write("update"), job({ref("u1", true), ref("u2", true)}), &before, onlyDelete)
                  .empty());
  CHECK(onlyDelete.asked.back().name == "run-u2");
}

TEST_CASE("admission: an owner kind the server does not serve is refused with the mapping error") {
  json r = ref("u1", true);
  r["apiVersion"] = "example.com/v1";
  r["kind"] = "Widget";
  Grants all{{"update flowruns/finalizers"}, {}};
  CHECK(refusal(write("create"), job({r}), nullptr, all) ==
        "jobs.batch \"job-1\" is forbidden: cannot set blockOwnerDeletion in this case because "
        "cannot find RESTMapping for APIVersion example.com/v1 Kind Widget: no matches for kind "
        "\"Widget\" in version \"example.com/v1\"");
}

TEST_CASE("admission: pod status updates are never checked") {
  RequestAttributes r = write("update");
  r.apiGroup = "";
  r.resource = "pods";
  r.subresource = "status";
  json old = job(json::array());
  Grants none;
  CHECK(refusal(r, job({ref("u1", true)}), &old, none).empty());
  CHECK(none.asked.empty());
}
