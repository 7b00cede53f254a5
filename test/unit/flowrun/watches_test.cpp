// Informer transforms and the object -> FlowRun key mapping.
#include <catch2/catch.hpp>

#include "operator/kube/base64.h"

#include "controllers/flowrun/api_key_secret.h"
#include "controllers/flowrun/watches.h"

using namespace controllers::flowrun;
using json = nlohmann::json;

TEST_CASE("Jobs and pods map to their FlowRun: owner, annotation, then label") {
  json job = {{"metadata",
               {{"name", "etl"},
                {"namespace", "data"},
                {"ownerReferences",
                 {{{"apiVersion", "prefect.io/v1alpha1"},
                   {"kind", "FlowRun"},
                   {"name", "etl-long-name"},
                   {"uid", "u"},
                   {"controller", true}}}}}}};
  auto k = flowRunKeyFor(job);
  REQUIRE(k);
  CHECK(k->ns == "data");
  CHECK(k->name == "etl-long-name");

  json pod = {
      {"metadata",
       {{"name", "etl-abc"},
        {"namespace", "data"},
        {"annotations", {{"prefect.io/flowrun-name", "exact-name"}}},
        {"labels", {{"prefect.io/flowrun", "shortened"}}},
        {"ownerReferences",
         {{{"apiVersion", "batch/v1"}, {"kind", "Job"}, {"name", "etl"}, {"controller", true}}}}}}};
  CHECK(flowRunKeyFor(pod)->name == "exact-name");
  pod["metadata"].erase("annotations");
  CHECK(flowRunKeyFor(pod)->name == "shortened");
  pod["metadata"].erase("labels");
  CHECK_FALSE(flowRunKeyFor(pod));
  CHECK_FALSE(flowRunKeyFor(json::array()));
}

TEST_CASE("transforms keep what the reconciler reads and drop the rest") {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", "p"},
                {"namespace", "data"},
                {"uid", "u"},
                {"managedFields", json::array({json::object()})},
                {"annotations", {{"prefect.io/flowrun-name", "etl"}, {"other", "x"}}}}},
              {"spec",
               {{"containers",
                 {{{"name", "prefect-job"},
                   {"env", {{{"name", "PREFECT_API_KEY"}, {"value", "s3cret"}}}}}}}}},
              {"status", {{"phase", "Running"}, {"hostIP", "10.0.0.1"}}}};
  json t = podTransform()(pod);
  CHECK_FALSE(t["metadata"].contains("managedFields"));
  CHECK(t["metadata"]["annotations"] == json{{"prefect.io/flowrun-name", "etl"}});
  CHECK(t["spec"] == json{{"containers", {{{"name", "prefect-job"}}}}});
  CHECK(t["status"] == json{{"phase", "Running"}});
  CHECK(t.dump().find("s3cret") == std::string::npos);

  json fr = {{"apiVersion", "prefect.io/v1alpha1"},
             {"kind", "FlowRun"},
             {"metadata",
              {{"name", "etl"},
               {"annotations",
                {{"kubectl.kubernetes.io/last-applied-configuration",
                  "{\"PREFECT_API_KEY\":\"s3cret\"}"}}}}},
             {"spec", {{"image", "x"}}},
             {"status", {{"phase", "Pending"}}}};
  json ft = flowRunTransform()(fr);
  CHECK(ft["spec"] == fr["spec"]);
  CHECK(ft["status"] == fr["status"]);
  CHECK(ft.dump().find("s3cret") == std::string::npos);

  json job = {{"metadata", {{"name", "etl"}}},
              {"spec", {{"backoffLimit", 2}, {"template", {{"spec", json::object()}}}}},
              {"status", {{"failed", 1}}}};
  json jt = jobTransform()(job);
  CHECK(jt["spec"] == json{{"backoffLimit", 2}});
  CHECK(jt["status"] == job["status"]);
}

TEST_CASE("base64 of the API key Secret") {
  CHECK(kube::base64Encode("") == "");
  CHECK(kube::base64Encode("f") == "Zg==");
  CHECK(kube::base64Encode("fo") == "Zm8=");
  CHECK(kube::base64Encode("foo") == "Zm9v");
  CHECK(kube::base64Encode("foobar") == "Zm9vYmFy");
  json fr = {{"apiVersion", "prefect.io/v1alpha1"},
             {"metadata", {{"name", "etl"}, {"namespace", "data"}, {"uid", "fr-uid"}}}};
  json s = apiKeySecretFor(fr, "etl-api-key", "pnu_123");
  CHECK(s["metadata"]["ownerReferences"][0]["uid"] == "fr-uid");
  CHECK(s["metadata"]["ownerReferences"][0]["controller"] == true);
  CHECK(apiKeySecretHolds(s, "pnu_123"));
  CHECK_FALSE(apiKeySecretHolds(s, "other"));
}
