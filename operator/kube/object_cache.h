#pragma once
// The reflector's store: applies watcher events to an indexed, thread-safe cache and says what
// changed. A (re)list is buffered and swapped in whole at InitDone, so readers never see a
// half-listed cache, and the swap yields the difference: adds, updates for objects whose
// resourceVersion changed, deletes for objects that vanished while the watch was down.
#include <map>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "operator/kube/store.h"
#include "operator/kube/watcher.h"

namespace kube {

struct Notification {
  enum class Type { Add, Update, Delete };
  Type type;
  ObjectPtr oldObject;  // Update: before; Delete: the last known state
  ObjectPtr object;     // Add/Update: after; Delete: the last known state
};

class ObjectCache : public Store {
 public:
  // scopes: the namespaces fed by separate watchers ("" = one watcher for everything);
  // hasSynced() turns true once each scope completed its first list.
  // labelIndexes: label keys to index as "label:<key>".
  explicit ObjectCache(std::vector<std::string> scopes = {""},
                       std::vector<std::string> labelIndexes = {});

  // Applies one event of the watcher for `scope`; returns the notifications for handlers.
  std::vector<Notification> apply(const std::string& scope, WatcherEvent event);

  ObjectPtr get(const std::string& ns, const std::string& name) const override;
  std::vector<ObjectPtr> list(const std::string& ns = "") const override;
  std::vector<ObjectPtr> byIndex(const std::string& indexName,
                                 const std::string& value) const override;
  bool hasSynced() const override;
  std::size_t size() const override;

  static std::string keyOf(const json& object);  // "ns/name", or "name" when cluster-scoped

 private:
  using IndexValues = std::vector<std::pair<std::string, std::string>>;  // (index, value)
  IndexValues indexValues(const json& object) const;
  void insertLocked(const std::string& key, ObjectPtr obj);
  void eraseLocked(const std::string& key);
  static bool inScope(const std::string& scope, const json& object);

  std::vector<std::string> labelIndexes_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, ObjectPtr> objects_;
  std::unordered_map<std::string, IndexValues> objectIndexValues_;
  std::map<std::string, std::map<std::string, std::set<std::string>>> indexes_;
  // Per scope: the list being received (between Init and InitDone).
  std::map<std::string, std::unordered_map<std::string, ObjectPtr>> buffers_;
  std::set<std::string> pendingScopes_;  // scopes that have not completed a list yet
};

}  // namespace kube
