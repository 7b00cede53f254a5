#pragma once
// A kube::Client for worker mode that answers FlowRun lists from the operator's FlowRun informer
// cache and sends everything else to the API server. The worker lists its pool's FlowRuns every
// tick (report, limit, existence); from the server that is every FlowRun of the pool, terminal
// ones included, once a second: 10,000 finished runs would be 10,000 objects a second. The cache
// already holds them (trimmed to what controllers read: prefect.io/ labels and annotations,
// spec.flowRunId and the status), kept current by the watch. A selector on another label goes to
// the server; an equality on an indexed label (prefect.io/workpool) decodes only its FlowRuns.
// Writes stay conditional on resourceVersion, so a read a moment behind the server costs at most a
// 409 and a retry on the next tick, never a lost or doubled run (FlowRun names are deterministic).
#include "operator/kube/client.h"
#include "operator/kube/store.h"

namespace controllers::workpool {

class CachedFlowRunReads : public kube::Client {
  using json = kube::json;

 public:
  CachedFlowRunReads(kube::Client& inner, const kube::Store& flowRuns)
      : inner_(inner), flowRuns_(flowRuns) {}

  kube::Result<json> get(const kube::ResourceType& type, const std::string& ns,
                         const std::string& name) override {
    return inner_.get(type, ns, name);
  }
  // FlowRuns with a label selector (or none) from the cache once it has synced; the rest (and a
  // field selector or paging, which the cache does not serve) from the server.
  kube::Result<kube::ObjectList> list(const kube::ResourceType& type, const std::string& ns,
                                      const kube::ListOptions& options = {}) override;
  kube::Result<json> create(const kube::ResourceType& type, const std::string& ns,
                            const json& object) override {
    return inner_.create(type, ns, object);
  }
  kube::Result<json> update(const kube::ResourceType& type, const json& object) override {
    return inner_.update(type, object);
  }
  kube::Result<json> updateStatus(const kube::ResourceType& type, const json& object) override {
    return inner_.updateStatus(type, object);
  }
  kube::Result<json> patch(const kube::ResourceType& type, const std::string& ns,
                           const std::string& name, const json& patch,
                           const kube::PatchOptions& options = {}) override {
    return inner_.patch(type, ns, name, patch, options);
  }
  kube::Result<json> remove(const kube::ResourceType& type, const std::string& ns,
                            const std::string& name,
                            const kube::DeleteOptions& options = {}) override {
    return inner_.remove(type, ns, name, options);
  }
  kube::Result<std::unique_ptr<kube::WatchStream>> watch(
      const kube::ResourceType& type, const std::string& ns,
      const kube::WatchOptions& options = {}) override {
    return inner_.watch(type, ns, options);
  }

 private:
  kube::Client& inner_;
  const kube::Store& flowRuns_;
};

}  // namespace controllers::workpool
