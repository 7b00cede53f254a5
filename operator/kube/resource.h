#pragma once
// A served resource (group, version, plural) and how to build its REST paths.
#include <string>

namespace kube {

struct ResourceType {
  std::string group;    // "" for the core group
  std::string version;  // "v1"
  std::string plural;   // "pods"
  std::string kind;     // "Pod"
  bool namespaced = true;

  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  // /api/v1/namespaces/{ns}/pods/{name}/{subresource}; ns is ignored for cluster-scoped kinds,
  // an empty ns on a namespaced kind lists across all namespaces, an empty name gives the
  // collection.
  std::string path(const std::string& ns = "", const std::string& name = "",
                   const std::string& subresource = "") const;
  std::string qualifiedName() const { return group.empty() ? plural : plural + "." + group; }
};

namespace resources {
extern const ResourceType Namespaces;
extern const ResourceType Pods;
extern const ResourceType ConfigMaps;
extern const ResourceType Secrets;
extern const ResourceType ServiceAccounts;
extern const ResourceType CoreEvents;  // core/v1 Event
extern const ResourceType Events;      // events.k8s.io/v1 Event
extern const ResourceType Jobs;
extern const ResourceType Leases;
extern const ResourceType CustomResourceDefinitions;
extern const ResourceType FlowRuns;
extern const ResourceType ClusterIdentities;
extern const ResourceType ClusterProperties;  // about.k8s.io/v1alpha1, KEP-2149
}  // namespace resources

}  // namespace kube
