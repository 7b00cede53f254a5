// Worker mode reads its pool's FlowRuns from the informer cache; everything else goes to the
// server.
#include <catch2/catch.hpp>

#include "controllers/workpool/cached_reads.h"
#include "operator/kube/resource.h"
#include "test/unit/flowrun/fakes.h"

using controllers::workpool::CachedFlowRunReads;
using nlohmann::json;

namespace {
json flowRun(const std::string& ns, const std::string& name, const std::string& pool) {
  return {{"apiVersion", "prefect.io/v1alpha1"},
          {"kind", "FlowRun"},
          {"metadata",
           {{"namespace", ns}, {"name", name}, {"labels", {{"prefect.io/workpool", pool}}}}}};
}
}  // namespace

TEST_CASE("FlowRun lists come from the cache, by namespace and label selector, not the server") {
  flowrun_test::FakeClient server;
  flowrun_test::FakeStore cache;
  cache.put(flowRun("a", "fr-1", "pool-x"));
  cache.put(flowRun("a", "fr-2", "pool-y"));
  cache.put(flowRun("b", "fr-3", "pool-x"));
  CachedFlowRunReads reads(server, cache);
  kube::ListOptions options;
  options.labelSelector = "prefect.io/workpool=pool-x";
  auto listed = reads.list(kube::resources::FlowRuns, "a", options);
  REQUIRE(listed.ok());
  REQUIRE(listed.value().items.size() == 1);
  CHECK(listed.value().items[0]["metadata"]["name"] == "fr-1");
  CHECK(server.count("list", "flowruns") == 0);

  auto all = reads.list(kube::resources::FlowRuns, "", {});
  REQUIRE(all.ok());
  CHECK(all.value().items.size() == 3);

  // Only prefect.io/ labels are cached: a selector on another label is the server's to answer.
  options.labelSelector = "prefect.io/workpool=pool-x,team=data";
  REQUIRE(reads.list(kube::resources::FlowRuns, "a", options).ok());
  CHECK(server.count("list", "flowruns") == 1);
  options.labelSelector = "prefect.io/workpool!=pool-y";
  auto notY = reads.list(kube::resources::FlowRuns, "a", options);
  REQUIRE(notY.ok());
  REQUIRE(notY.value().items.size() == 1);
  CHECK(notY.value().items[0]["metadata"]["name"] == "fr-1");
  CHECK(server.count("list", "flowruns") == 1);

  options.labelSelector = "prefect.io/workpool in (";  // refused as the server would
  CHECK_FALSE(reads.list(kube::resources::FlowRuns, "a", options).ok());
}

TEST_CASE("other kinds, paged lists and writes go to the server") {
  flowrun_test::FakeClient server;
  flowrun_test::FakeStore cache;
  cache.put(flowRun("a", "fr-1", "pool-x"));
  CachedFlowRunReads reads(server, cache);
  server.put(kube::resources::Jobs, {{"metadata", {{"namespace", "a"}, {"name", "j"}}}});
  auto jobs = reads.list(kube::resources::Jobs, "a", {});
  REQUIRE(jobs.ok());
  CHECK(jobs.value().items.size() == 1);
  kube::ListOptions paged;
  paged.limit = 10;
  auto fromServer = reads.list(kube::resources::FlowRuns, "a", paged);
  REQUIRE(fromServer.ok());
  CHECK(fromServer.value().items.empty());  // the server has no FlowRuns: it was asked
  CHECK(server.count("list", "flowruns") == 1);
  REQUIRE(reads.create(kube::resources::FlowRuns, "a", flowRun("a", "fr-9", "pool-x")).ok());
  CHECK(server.find(kube::resources::FlowRuns, "a", "fr-9").has_value());
}
