#include "controllers/workpool/cached_reads.h"

#include "operator/kube/object_cache.h"
#include "operator/kube/resource.h"
#include "operator/kube/selector.h"

namespace controllers::workpool {

kube::Result<kube::ObjectList> CachedFlowRunReads::list(const kube::ResourceType& type,
                                                        const std::string& ns,
                                                        const kube::ListOptions& options) {
  const kube::ResourceType& frs = kube::resources::FlowRuns;
  const bool servable = type.group == frs.group && type.plural == frs.plural &&
                        options.fieldSelector.empty() && options.limit == 0 &&
                        options.continueToken.empty() && options.resourceVersion.empty();
  if (!servable || !flowRuns_.hasSynced()) return inner_.list(type, ns, options);
  auto selector = kube::LabelSelector::parse(options.labelSelector);
  if (!selector.ok()) return selector.error();
  // The cache keeps only prefect.io/ labels (controllers/flowrun/watches.cpp): a selector on
  // any other label is answered by the API server.
  for (const auto& r : selector.value().requirements()) {
    if (r.key.rfind("prefect.io/", 0) != 0) return inner_.list(type, ns, options);
  }
  // The first equality narrows the candidates through the store's label index (a scan when
  // that label is not indexed); the whole selector and the namespace still decide.
  std::vector<kube::ObjectPtr> candidates;
  bool narrowed = false;
  for (const auto& r : selector.value().requirements()) {
    if (r.op != kube::LabelRequirement::Op::Equals || r.values.size() != 1) continue;
    candidates = flowRuns_.byIndex("label:" + r.key, r.values[0]);
    narrowed = true;
    break;
  }
  if (!narrowed) candidates = flowRuns_.list(ns);
  kube::ObjectList out;
  for (const auto& object : candidates) {
    if (!ns.empty() && kube::ObjectCache::keyOf(*object).rfind(ns + "/", 0) != 0) continue;
    const json* labels = nullptr;
    if (auto md = object->find("metadata"); md != object->end() && md->is_object()) {
      if (auto l = md->find("labels"); l != md->end()) labels = &*l;
    }
    if (selector.value().matches(labels ? *labels : json())) out.items.push_back(*object);
  }
  return out;
}

}  // namespace controllers::workpool
