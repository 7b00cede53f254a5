#pragma once
// An EventRecorder that writes core/v1 Events through kube::Client, the way client-go's
// recorder does, so `kubectl get events` and `kubectl describe` show them:
// - asynchronous: record() puts the event in a bounded queue and returns; one sender thread
//   talks to the API server. A full queue drops the event with a log line. Never throws.
// - aggregation: a repeat of the same (object uid, type, reason, message) patches the existing
//   Event (count + 1, lastTimestamp) instead of creating a new one;
// - a spam filter per involved object (a token bucket, burst 25, one more every 5 minutes, as
//   client-go) keeps a hot loop from flooding the API server.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "operator/kube/client.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/logging.h"

namespace runtime {

struct EventRecorderOptions {
  std::string reportingInstance;  // "": the host name
  std::size_t queueCapacity = 1000;
  // A full queue makes record() wait this long for room (the sender drains it at the API
  // server's pace), so no Event is lost under load; only past the wait (an API server that
  // hangs) is the Event dropped, with a count and a warning.
  std::chrono::milliseconds fullQueueWait{10000};
  std::size_t cacheSize = 4096;          // remembered (object, type, reason, message) -> Event
  int spamBurst = 25;                    // events per object before the filter kicks in
  std::chrono::seconds spamRefill{300};  // one more event per object every this long
  std::optional<Logger> logger;          // null: runtime::logger()
  // Where Events about cluster-scoped objects go: "default" (client-go), the only namespace the
  // API server accepts them in besides "kube-system" for events.k8s.io Events.
  std::string clusterScopedNamespace = "default";
};

class ApiEventRecorder final : public EventRecorder {
 public:
  ApiEventRecorder(kube::Client& client, std::string component, EventRecorderOptions options = {});
  ~ApiEventRecorder() override;  // sends what is queued (up to 2 s), then stops

  void record(const nlohmann::json& object, const std::string& type, const std::string& reason,
              const std::string& message) override;

  // Waits until every queued event has been sent (or dropped). True when idle in time.
  bool flush(std::chrono::milliseconds timeout);
  // Stops the sender after trying to send what is queued within drainTimeout. Idempotent.
  void shutdown(std::chrono::milliseconds drainTimeout = std::chrono::seconds(2));

  std::size_t dropped() const;  // queue full, spam filtered, invalid, or failed to send

 private:
  struct Pending {
    nlohmann::json involved;  // involvedObject
    std::string type, reason, message;
    std::chrono::system_clock::time_point time;
  };
  struct Cached {
    std::string ns, name;  // the Event object
    std::int64_t count = 0;
    std::string firstTimestamp;
  };
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };

  void senderLoop();
  void send(const Pending& p);
  bool allowSpam(const std::string& objectKey);
  void remember(const std::string& key, Cached c);

  kube::Client& client_;
  const std::string component_;
  EventRecorderOptions opts_;
  std::string instance_;
  Logger log_;

  mutable std::mutex mu_;
  std::condition_variable cv_, idleCv_, roomCv_;
  std::deque<Pending> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  std::size_t dropped_ = 0;
  std::thread sender_;

  // Sender-thread state (no lock needed).
  std::list<std::string> lru_;  // most recent first
  std::unordered_map<std::string, std::pair<Cached, std::list<std::string>::iterator>> cache_;
  std::unordered_map<std::string, Bucket> spam_;
};

// RFC 3339 in seconds (metav1.Time): 2026-11-23T18:36:00Z
std::string formatTimeSeconds(std::chrono::system_clock::time_point t);

}  // namespace runtime
