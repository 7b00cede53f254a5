#pragma once
// Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm:
// - a candidate takes the Lease when it does not exist, has no holder, or its holder has not
//   renewed it for leaseDuration as observed by the candidate's own clock (no clock-skew trust);
// - every write carries the resourceVersion read just before, so of two racing candidates one
//   gets 409 Conflict and loses;
// - the leader renews every retryPeriod; when no renew has succeeded for renewDeadline (measured
//   from the moment the last successful request was sent) it stops leading AT ONCE and calls
//   onStoppedLeading. renewDeadline < leaseDuration is what keeps two leaders from overlapping.
// - stop() releases the Lease (empty holder, leaseDurationSeconds 1) so a standby takes over
//   within its retryPeriod instead of waiting for the lease to expire.
//
// Shutdown order for the app: stop the controllers first (no reconcile may run after the
// release), then elector.stop().
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "operator/kube/client.h"
#include "operator/runtime/logging.h"
#include "operator/runtime/metrics.h"

namespace runtime {

struct LeaseElectorOptions {
  std::string leaseName = "flowrun-operator";  // --leader-election-id
  std::string leaseNamespace;                  // --leader-election-namespace
  std::string identity;                        // "": hostname + "_" + random suffix
  std::chrono::milliseconds leaseDuration{15000};
  std::chrono::milliseconds renewDeadline{10000};
  std::chrono::milliseconds retryPeriod{2000};
  // Runs on its own thread once leadership is acquired; it may block (e.g. start controllers).
  std::function<void()> onStartedLeading;
  // Called once when leadership is LOST (renew deadline passed, or another holder seen). Not
  // called by stop(). Runs on the elector's watchdog thread; it must not call stop(), and the
  // app should stop reconciling and exit (as controller-runtime does).
  std::function<void()> onStoppedLeading;
  // Called when the observed holder changes (including to ourselves); for logs.
  std::function<void(const std::string& holder)> onNewLeader;
  MetricsRegistry* metrics = nullptr;  // null: MetricsRegistry::global()
  std::optional<Logger> logger;        // null: runtime::logger()
};

class LeaseElector {
 public:
  LeaseElector(kube::Client& client, LeaseElectorOptions options);
  ~LeaseElector();  // stop()
  LeaseElector(const LeaseElector&) = delete;
  LeaseElector& operator=(const LeaseElector&) = delete;

  // Validates the options (renewDeadline < leaseDuration, retryPeriod < renewDeadline, names
  // set) and starts campaigning on a thread. Returns an error message instead of starting.
  std::optional<std::string> start();
  // Stops campaigning/renewing; when leading, releases the Lease. Idempotent.
  void stop();

  bool isLeader() const { return leading_; }
  bool lost() const { return lost_; }  // leadership was lost involuntarily
  const std::string& identity() const { return identity_; }
  std::string observedLeader() const;  // the holder last seen on the Lease ("" if none)

 private:
  struct Record {
    std::string holder;
    std::int64_t durationSeconds = 0;
    std::string acquireTime, renewTime;
    std::int64_t transitions = 0;
    bool operator==(const Record&) const = default;
  };
  enum class Attempt { Acquired, HeldByOther, Failed };

  void run();
  void watchdog();
  Attempt tryAcquireOrRenew();
  void becomeLeader(std::chrono::steady_clock::time_point sentAt);
  void loseLeadership(const std::string& why);
  void release();
  bool sleepFor(std::chrono::milliseconds d);  // false when stopping
  static Record recordOf(const kube::json& lease);
  void observe(const Record& r);

  kube::Client& client_;
  LeaseElectorOptions opts_;
  std::string identity_;
  Logger log_;
  Gauge* status_ = nullptr;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool started_ = false;
  std::atomic<bool> leading_{false};
  std::atomic<bool> lost_{false};
  std::chrono::steady_clock::time_point lastRenewSent_;
  Record observed_;
  std::chrono::steady_clock::time_point observedAt_;
  std::thread runner_, watchdog_, callback_;
};

// RFC 3339 with microseconds (metav1.MicroTime): 2026-11-23T18:36:00.123456Z
std::string formatMicroTime(std::chrono::system_clock::time_point t);
// hostname + "_" + 8 random hex characters: unique per process, readable in the Lease.
std::string defaultLeaderIdentity();

}  // namespace runtime
