#include "controllers/workpool/cached_reads.h"

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
  kube::ObjectList out;
  for (const auto& object : flowRuns_.list(ns)) {
    const json* labels = nullptr;
    if (auto md = object->find("metadata"); md != object->end() && md->is_object()) {
      if (auto l = md->find("labels"); l != md->end()) labels = &*l;
    }
    if (selector.value().matches(labels ? *labels : json())) out.items.push_back(*object);
  }
  return out;
}

}  // namespace controllers::workpool
