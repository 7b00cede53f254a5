#pragma once
// The watcher of kube-rs's runtime as an explicit state machine over kube::Client:
//   Empty -> InitPage (list, page by page) -> InitListed (open a watch from the list's
//   resourceVersion) -> Watching (events, bookmarks advance the resourceVersion).
// A watch that ends or breaks resumes from the last seen resourceVersion (back to InitListed);
// 410 Gone, on the watch or on an expired continue token, goes back to Empty: a full relist,
// whose result the store diffs against what it holds.
#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "operator/kube/client.h"

namespace kube {

struct WatcherEvent {
  enum class Type {
    Init,       // a (re)list starts: the store begins a fresh buffer
    InitApply,  // one object of the list
    InitDone,   // the list is complete: the store swaps in the buffer (diff -> notifications)
    Apply,      // added or modified while watching
    Delete,     // deleted while watching (the object's last state)
  };
  Type type;
  json object;
};

struct WatcherConfig {
  std::string ns;  // "" for all namespaces or a cluster-scoped kind
  std::string labelSelector;
  std::string fieldSelector;
  std::int64_t pageSize = 500;
  bool bookmarks = true;
  // Server-side watch timeout; 0 picks a random 5-10 minutes, as client-go does, so that many
  // watchers do not reconnect at the same moment.
  int watchTimeoutSeconds = 0;
  std::shared_ptr<const json> keep;  // trims each object while it is decoded (json_decode.h)
};

class Watcher {
 public:
  enum class State { Empty, InitPage, InitListed, Watching };

  Watcher(Client& client, ResourceType type, WatcherConfig config);

  // Advances the machine by one step (may block on the network) and returns the events it
  // produced, possibly none. An error leaves the state where it is resumable: the caller backs
  // off and calls step() again. A watch that ends without delivering anything returns an error
  // (reason WatchEnded) so the caller backs off instead of spinning.
  Result<std::vector<WatcherEvent>> step();

  // Thread-safe: makes a step() blocked in a watch return promptly.
  void cancel();
  // Thread-safe: ends the open watch and makes the next step() start a full relist, whose
  // result the store diffs against what it holds (the periodic resync: a lost event shows up
  // as a difference).
  void requestRelist();

  State state() const { return state_; }
  const std::string& resourceVersion() const { return resourceVersion_; }
  // Diagnostics and tests: how many times a list started, how many watches were opened.
  int relists() const { return relists_; }
  int watchesOpened() const { return watchesOpened_; }

 private:
  Result<std::vector<WatcherEvent>> listPage();
  Result<std::vector<WatcherEvent>> openWatch();
  Result<std::vector<WatcherEvent>> nextEvent();
  void closeStream();
  void setResourceVersion(const json& object);

  Client& client_;
  ResourceType type_;
  WatcherConfig config_;
  State state_ = State::Empty;
  std::string continueToken_;
  std::string resourceVersion_;
  std::string listResourceVersion_;  // the first page's: the snapshot every page comes from
  bool streamDelivered_ = false;
  int relists_ = 0;
  int watchesOpened_ = 0;

  std::mutex streamMu_;  // guards stream_ against cancel() from another thread
  std::unique_ptr<WatchStream> stream_;
  std::atomic<bool> cancelled_{false};
  std::atomic<bool> relist_{false};
};

const char* toString(Watcher::State state);

}  // namespace kube
