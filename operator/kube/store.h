#pragma once
// The read side of an informer: a trimmed, indexed, thread-safe cache of one resource kind.
// Objects are immutable snapshots that a reader may keep as long as it likes (the informers'
// ObjectCache decodes a fresh one for every read: object_cache.h).
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "operator/kube/api_error.h"

namespace kube {

using ObjectPtr = std::shared_ptr<const json>;

// Index names every Store answers. The namespace index is always maintained; controller-uid
// where an informer declares it (Indexers{{kIndexControllerUid, controllerUidIndexer()}}), else,
// as owner-uid and a label index nobody declared, it is answered by a scan (correct, slower).
inline constexpr const char* kIndexNamespace = "namespace";  // value: metadata.namespace
inline constexpr const char* kIndexOwnerUid = "owner-uid";   // value: each ownerReferences[].uid
inline constexpr const char* kIndexControllerUid = "controller-uid";  // the controller owner's uid

class Store {
 public:
  virtual ~Store() = default;
  virtual ObjectPtr get(const std::string& ns, const std::string& name) const = 0;
  virtual std::vector<ObjectPtr> list(const std::string& ns = "") const = 0;
  // Objects whose index `indexName` has `value`. Label indexes are named "label:<key>".
  virtual std::vector<ObjectPtr> byIndex(const std::string& indexName,
                                         const std::string& value) const = 0;
  virtual bool hasSynced() const = 0;
  virtual std::size_t size() const = 0;
};

// A named index: the values under which an object is found by Store::byIndex (client-go's
// Indexers). Computed on the transformed object.
using IndexFunc = std::function<std::vector<std::string>(const json& object)>;
using Indexers = std::map<std::string, IndexFunc>;

// The controller ownerReference's uid, for kIndexControllerUid.
IndexFunc controllerUidIndexer();

// Trims an object before it is stored (drop managedFields and what no reconciler reads).
using Transform = std::function<json(json)>;

// Drops metadata.managedFields and the kubectl.kubernetes.io/last-applied-configuration
// annotation, which no reconciler reads and which are often most of an object's size.
Transform defaultTransform();

}  // namespace kube
