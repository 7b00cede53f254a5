#pragma once
// kubesim's storage: the ObjectStore with the API server's semantics (one global resourceVersion,
// uid, generation, status subresource split, finalizers, graceful pod deletion, namespaces,
// CRD registration, schema pruning/defaulting/validation, managedFields), a bounded event
// history for watches, a dispatcher thread for subscribers and optional JSON persistence.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "test/kubesim/builtin_kinds.h"
#include "test/kubesim/object_store.h"
#include "test/kubesim/patch.h"

namespace kubesim {

struct StorageOptions {
  std::size_t watchWindow = 100000;
  std::string dataDir;  // "" in memory; else <dataDir>/kubesim-state.json
  std::chrono::milliseconds persistInterval{500};
};

// One committed change, kept for watches and handed to the store's subscribers as it is (the
// StoreEvent part: type, storage resource, object, oldObject), so that a write copies its object
// once into the history and not again per subscriber. oldObject is the object before the change
// (null for Added; for Modified: selector transitions in watches; for Deleted: the object as it
// was stored, for lists at an older version).
struct HistoryEntry : StoreEvent {
  std::uint64_t rv = 0;
  std::string ns;

  // The object as served in `version`, serialized once however many watches (and the write's
  // own response) send it (every watch used to copy and dump each event itself: 50 watches made
  // a create 8x slower).
  const std::string& servedText(const std::string& version,
                                const std::function<json(const json&)>& serve) const {
    std::lock_guard lock(textMu_);
    for (const auto& [v, text] : texts_) {
      if (v == version) return text;
    }
    texts_.emplace_back(version, serve(object).dump());
    return texts_.back().second;
  }

 private:
  mutable std::mutex textMu_;
  mutable std::deque<std::pair<std::string, std::string>> texts_;  // references stay valid
};

struct ListOptions {
  std::string labelSelector;
  std::string fieldSelector;
  std::int64_t limit = 0;
  std::string continueToken;
  std::string version;  // the served version the client asked for ("" = preferred)
  bool asText = false;  // ListResult.texts (each item serialized) instead of items
};

struct ListResult {
  std::vector<json> items;
  std::vector<std::string> texts;  // ListOptions.asText: the items as JSON text, in order
  std::uint64_t resourceVersion = 0;
  std::string continueToken;
  std::optional<std::int64_t> remainingItemCount;
};

// What a write request carried besides the object.
struct WriteOptions {
  std::string fieldManager;     // managedFields manager name
  std::string fieldValidation;  // "" (Warn), Ignore, Warn, Strict
  bool dryRun = false;
  bool force = false;                 // server-side apply force
  std::string version;                // the served version the client used ("" = preferred)
  std::vector<std::string> warnings;  // out: "unknown field ..." under Warn
  // Validating admission: called with the object about to be stored (and the stored one, null
  // on create) while the store is locked, so it must not call back into the store; throws
  // ApiException to refuse the write.
  std::function<void(const json& object, const json* old)> admit;
  // out: the change a create or update committed (null when it wrote nothing), so that the
  // response can send the text its watches send.
  std::shared_ptr<const HistoryEntry> committed;
};

class Storage : public ObjectStore {
 public:
  explicit Storage(StorageOptions options = {});
  ~Storage() override;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  // ObjectStore
  json get(const std::string& resource, const std::string& ns, const std::string& name) override;
  std::vector<json> list(const std::string& resource, const std::string& ns,
                         const std::string& labelSelector = "") override;
  json create(const std::string& resource, const std::string& ns, json object) override;
  json update(const std::string& resource, json object) override;
  json updateStatus(const std::string& resource, json object) override;
  json remove(const std::string& resource, const std::string& ns, const std::string& name,
              const DeleteOptions& options = {}) override;
  std::vector<std::string> resources() override;
  json describe(const std::string& resource) override;
  int subscribe(Subscriber subscriber) override;
  void unsubscribe(int id) override;

  // The HTTP layer's richer entry points.
  std::optional<ResourceInfo> info(const std::string& qualifiedResource);
  std::vector<ResourceInfo> infos();
  json getAs(const std::string& resource, const std::string& ns, const std::string& name,
             const std::string& version);
  ListResult listWith(const std::string& resource, const std::string& ns, const ListOptions& opts);
  json createWith(const std::string& resource, const std::string& ns, json object, WriteOptions& w);
  // status: the /status subresource. ns/name come from the URL and must match the body.
  json updateWith(const std::string& resource, const std::string& ns, const std::string& name,
                  json object, bool status, WriteOptions& w);
  json patchWith(const std::string& resource, const std::string& ns, const std::string& name,
                 bool status, PatchType type, const json& patch, WriteOptions& w);
  json removeWith(const std::string& resource, const std::string& ns, const std::string& name,
                  const DeleteOptions& options, WriteOptions& w);
  std::vector<json> removeCollection(const std::string& resource, const std::string& ns,
                                     const ListOptions& selection, const DeleteOptions& options,
                                     WriteOptions& w);

  // Watch support.
  std::uint64_t currentResourceVersion();
  enum class WaitResult { Events, Timeout, Expired, Stopped };
  // Entries of storage resource `resource` with rv > after, waiting until `deadline` if there
  // are none; `after` moves past every entry looked at (of any resource). A watch is woken only
  // by changes of its own resource (and by shutdown), after the writer has released the store.
  WaitResult waitEvents(std::uint64_t& after, const std::string& resource,
                        std::vector<std::shared_ptr<const HistoryEntry>>& out,
                        std::chrono::steady_clock::time_point deadline);
  // The oldest resourceVersion a watch may resume from; older ones get 410 Expired.
  std::uint64_t oldestResumable();
  // The current objects of a resource (served form) and the resourceVersion they are at.
  std::pair<std::vector<json>, std::uint64_t> snapshot(const std::string& resource,
                                                       const std::string& ns,
                                                       const std::string& version);
  // Converts a stored object into what `resource` at `version` serves (apiVersion, events.k8s.io).
  json toServed(const ResourceInfo& info, json object, const std::string& version) const;
  // Wakes watchers (for shutdown) and stops the dispatcher and persister; idempotent.
  void shutdown();
  bool stopped() const;
  void persistNow();

 private:
  struct Bucket;
  ResourceInfo requireInfo(const std::string& resource);
  json createLocked(const ResourceInfo& info, const std::string& ns, json object, WriteOptions& w,
                    const json* appliedSet = nullptr);
  json updateLocked(const ResourceInfo& info, const std::string& ns, const std::string& name,
                    json object, bool status, WriteOptions& w,
                    const json* managedFieldsOverride = nullptr);
  json applyLocked(const ResourceInfo& served, const ResourceInfo& info, const std::string& ns,
                   const std::string& name, bool status, const json& applied, WriteOptions& w);
  json removeLocked(const ResourceInfo& info, const std::string& ns, const std::string& name,
                    const DeleteOptions& options, WriteOptions& w);
  void commit(const ResourceInfo& info, StoreEvent::Type type, json& object, const json& old);
  void deleteNow(const ResourceInfo& info, json& object);
  void finishNamespaceIfEmpty(const std::string& ns);
  void registerCrd(const json& crd);
  void unregisterCrd(const json& crd);
  void prepareObject(const ResourceInfo& info, json& object, const json* old, bool status,
                     WriteOptions& w);
  void createNamespaceDefaults(const std::string& ns);
  void dispatchLoop();
  void persistLoop();
  void load();
  std::string managerFor(const WriteOptions& w) const;
  void updateManagedFields(json& object, const json* old, const std::string& manager,
                           const std::string& operation, const std::string& apiVersion,
                           const std::string& subresource, const json* appliedSet,
                           const json* baseEntries = nullptr);

  StorageOptions options_;
  mutable std::shared_mutex mu_;
  std::map<std::string, ResourceInfo> infos_;
  // storage resource -> "ns/name" -> object (ordered like etcd keys)
  std::unordered_map<std::string, std::map<std::string, json>> data_;
  std::uint64_t rv_ = 0;
  std::deque<std::shared_ptr<const HistoryEntry>> history_;
  // "resource\nns/name" -> the change that stored the object as it is now, while it is in the
  // history: a list reuses the text its watches (or its write's response) serialized.
  std::unordered_map<std::string, std::weak_ptr<const HistoryEntry>> latest_;
  std::uint64_t compacted_ = 0;            // events at or below this version may be gone
  std::condition_variable_any historyCv_;  // resources without a signal of their own
  // One wake-up signal per storage resource (never erased: a watch may still wait on one whose
  // CRD went), and the ones a write under the lock has to notify once it is released.
  std::map<std::string, std::unique_ptr<std::condition_variable_any>> watchSignals_;
  std::vector<std::condition_variable_any*> pendingWakes_;
  class WriteLock;
  std::condition_variable_any& signalFor(const std::string& resource);

  std::mutex dispatchMu_;
  std::condition_variable dispatchCv_;
  std::deque<std::shared_ptr<const HistoryEntry>> dispatchQueue_;
  std::mutex subscribersMu_;
  std::map<int, Subscriber> subscribers_;
  int nextSubscriber_ = 1;
  std::thread dispatcher_;

  std::mutex persistMu_;
  std::condition_variable persistCv_;
  std::atomic<bool> dirty_{false};
  std::thread persister_;

  std::atomic<bool> stopping_{false};
};

}  // namespace kubesim
