#pragma once
// The reflector's store: applies watcher events to an indexed, thread-safe cache and says what
// changed. A (re)list is buffered and swapped in whole at InitDone, so readers never see a
// half-listed cache, and the swap yields the difference: adds, updates for objects whose
// resourceVersion changed, deletes for objects that vanished while the watch was down.
// Objects are held packed (packed_object.h); every read decodes a fresh tree.
#include <map>
#include <set>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "operator/kube/packed_object.h"
#include "operator/kube/store.h"
#include "operator/kube/watcher.h"

namespace kube {

// A change for the handlers. Trees are decoded when a handler asks, one notification at a
// time, so a list of 10,000 objects never exists as 10,000 trees at once.
struct Notification {
  enum class Type { Add, Update, Delete };
  Type type;
  PackedPtr oldPacked;  // Update: before; Delete: the last known state
  PackedPtr packed;     // Add/Update: after; Delete: the last known state
  ObjectPtr fresh;      // the new state's tree when the watch event brought it (no decode)

  ObjectPtr object() const { return fresh ? fresh : packed ? packed->unpack() : nullptr; }
  ObjectPtr oldObject() const { return oldPacked ? oldPacked->unpack() : nullptr; }
};

class ObjectCache : public Store {
 public:
  // scopes: the namespaces fed by separate watchers ("" = one watcher for everything);
  // hasSynced() turns true once each scope completed its first list.
  // labelIndexes: label keys to index as "label:<key>"; indexers: further named indexes.
  explicit ObjectCache(std::vector<std::string> scopes = {""},
                       std::vector<std::string> labelIndexes = {}, Indexers indexers = {});

  // Applies one event of the watcher for `scope`; returns the notifications for handlers.
  std::vector<Notification> apply(const std::string& scope, WatcherEvent event);

  ObjectPtr get(const std::string& ns, const std::string& name) const override;
  std::vector<ObjectPtr> list(const std::string& ns = "") const override;
  std::vector<ObjectPtr> byIndex(const std::string& indexName,
                                 const std::string& value) const override;
  bool hasSynced() const override;
  std::size_t size() const override;

  // Every cached object, packed (cheap: no decode), e.g. for a resync that decodes one at a time.
  std::vector<PackedPtr> snapshot() const;
  // The bytes the packed objects take (a gauge of the cache's size).
  std::size_t packedBytes() const;

  static std::string keyOf(const json& object);  // "ns/name", or "name" when cluster-scoped

 private:
  // An object's index entries, each "index\0value\0", in one string: a few dozen bytes, where a
  // vector of string pairs took hundreds.
  using IndexValues = std::string;
  struct Buffered {
    PackedPtr packed;
    IndexValues indexValues;
  };
  // Keys point at objects_' own keys (stable in a node-based map), ordered by value so that
  // byIndex answers in key order.
  struct ByValue {
    bool operator()(const std::string* a, const std::string* b) const { return *a < *b; }
  };
  using KeySet = std::set<const std::string*, ByValue>;

  IndexValues indexValues(const json& object) const;
  void insertLocked(const std::string& key, PackedPtr packed, const IndexValues& values);
  void eraseLocked(const std::string& key);
  bool maintains(const std::string& indexName) const;
  static bool inScope(const std::string& scope, const std::string& key);

  std::vector<std::string> labelIndexes_;
  Indexers indexers_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, PackedPtr> objects_;
  std::size_t packedBytes_ = 0;
  std::unordered_map<std::string, KeySet> indexes_;  // "index\0value" -> keys
  // Per scope: the list being received (between Init and InitDone), packed, with its trees'
  // index values computed on arrival (the trees themselves are not kept).
  std::map<std::string, std::unordered_map<std::string, Buffered>> buffers_;
  std::set<std::string> pendingScopes_;  // scopes that have not completed a list yet
};

}  // namespace kube
