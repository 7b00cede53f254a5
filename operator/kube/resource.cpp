#include "operator/kube/resource.h"

namespace kube {

std::string ResourceType::path(const std::string& ns, const std::string& name,
                               const std::string& subresource) const {
  std::string p = group.empty() ? "/api/" + version : "/apis/" + group + "/" + version;
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + plural;
  if (!name.empty()) {
    p += "/" + name;
    if (!subresource.empty()) p += "/" + subresource;
  }
  return p;
}

namespace resources {
const ResourceType Namespaces{"", "v1", "namespaces", "Namespace", false};
const ResourceType Pods{"", "v1", "pods", "Pod", true};
const ResourceType ConfigMaps{"", "v1", "configmaps", "ConfigMap", true};
const ResourceType Secrets{"", "v1", "secrets", "Secret", true};
const ResourceType ServiceAccounts{"", "v1", "serviceaccounts", "ServiceAccount", true};
const ResourceType CoreEvents{"", "v1", "events", "Event", true};
const ResourceType Events{"events.k8s.io", "v1", "events", "Event", true};
const ResourceType Jobs{"batch", "v1", "jobs", "Job", true};
const ResourceType Leases{"coordination.k8s.io", "v1", "leases", "Lease", true};
const ResourceType CustomResourceDefinitions{
    "apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false};
const ResourceType FlowRuns{"prefect.io", "v1alpha1", "flowruns", "FlowRun", true};
const ResourceType ClusterIdentities{"prefect.io", "v1alpha1", "clusteridentities",
                                     "ClusterIdentity", false};
const ResourceType ClusterProperties{"about.k8s.io", "v1alpha1", "clusterproperties",
                                     "ClusterProperty", false};
}  // namespace resources

}  // namespace kube
