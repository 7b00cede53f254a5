#pragma once
// The client interface controllers depend on. Only its implementation (http_client) knows HTTP,
// so controllers can be tested with any implementation of this interface.
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "operator/kube/api_error.h"
#include "operator/kube/resource.h"

namespace kube {

struct ListOptions {
  std::string labelSelector;
  std::string fieldSelector;
  std::int64_t limit = 0;  // 0: no limit (the client pages through everything when > 0)
  std::string continueToken;
  std::string resourceVersion;
  // With limit > 0: true follows continue tokens and returns every item; false returns one page
  // and its continueToken (what a paging caller such as the watcher wants).
  bool allPages = true;
  // The members of each item to keep while decoding (json_decode.h); null keeps all. An informer
  // sets it to what its transform reads.
  std::shared_ptr<const json> keep;
};

struct ObjectList {
  std::vector<json> items;
  std::string resourceVersion;
  std::string continueToken;
};

enum class PatchType { Merge, JsonPatch, StrategicMerge, Apply };

struct PatchOptions {
  PatchType type = PatchType::Merge;
  std::string subresource;   // "" or "status"
  std::string fieldManager;  // required for Apply
  bool force = false;        // Apply only
};

struct DeleteOptions {
  std::optional<std::string> propagationPolicy;  // Background | Foreground | Orphan
  std::optional<std::int64_t> gracePeriodSeconds;
  std::optional<std::string> preconditionUid;
  std::optional<std::string> preconditionResourceVersion;
};

struct WatchOptions {
  std::string labelSelector;
  std::string fieldSelector;
  std::string resourceVersion;
  bool allowBookmarks = true;
  int timeoutSeconds = 0;            // 0: let the server choose
  std::shared_ptr<const json> keep;  // of each event's object, as ListOptions::keep
};

struct WatchEvent {
  std::string type;  // ADDED | MODIFIED | DELETED | BOOKMARK | ERROR
  json object;       // the object, or a Status for ERROR
};

// One open watch. next() blocks until an event arrives, the stream ends (nullopt), or cancel()
// is called from another thread (nullopt). An error (e.g. a 410 ERROR event or a broken
// connection) is returned as an ApiError.
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  virtual std::optional<Result<WatchEvent>> next() = 0;
  virtual void cancel() = 0;
};

class Client {
 public:
  virtual ~Client() = default;
  virtual Result<json> get(const ResourceType& type, const std::string& ns,
                           const std::string& name) = 0;
  virtual Result<ObjectList> list(const ResourceType& type, const std::string& ns,
                                  const ListOptions& options = {}) = 0;
  virtual Result<json> create(const ResourceType& type, const std::string& ns,
                              const json& object) = 0;
  // PUT of the whole object; metadata.resourceVersion makes it conditional.
  virtual Result<json> update(const ResourceType& type, const json& object) = 0;
  virtual Result<json> updateStatus(const ResourceType& type, const json& object) = 0;
  virtual Result<json> patch(const ResourceType& type, const std::string& ns,
                             const std::string& name, const json& patch,
                             const PatchOptions& options = {}) = 0;
  // Returns the deleted object (or the object with deletionTimestamp set), or a Status.
  virtual Result<json> remove(const ResourceType& type, const std::string& ns,
                              const std::string& name, const DeleteOptions& options = {}) = 0;
  virtual Result<std::unique_ptr<WatchStream>> watch(const ResourceType& type,
                                                     const std::string& ns,
                                                     const WatchOptions& options = {}) = 0;
};

}  // namespace kube
