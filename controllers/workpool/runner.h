#pragma once
// Runs the worker of every WorkPool the operator serves, on one thread, on the leader only:
// each tick lists WorkPools, and for each one that is due heartbeats (GET the pool, fill an
// empty base_job_template per the policy, POST heartbeat, then repair claims left without a
// FlowRun; failures back off), polls and reports (Worker), and
// writes status (Ready/Connected conditions, serverVersion, times, submitted, active) when it
// changed. The API key is read from the Secret on every connect and never logged or written.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "controllers/clusteridentity/identity_provider.h"
#include "operator/kube/client.h"
#include "operator/runtime/event_recorder.h"

namespace controllers::workpool {

struct RunnerOptions {
  std::vector<std::string> namespaces;  // empty: every namespace
  std::chrono::milliseconds tick{1000};
};

class WorkPoolRunner {
 public:
  WorkPoolRunner(kube::Client& client, runtime::EventRecorder& events,
                 const clusteridentity::IdentityProvider& identity, RunnerOptions options);
  ~WorkPoolRunner();
  void start();
  void stop();
  // One pass over every WorkPool (the thread calls it each tick; tests may call it directly).
  void tick();

 private:
  struct Pool;
  void serve(const nlohmann::json& workPool);
  // On start and after each heartbeat: creates the FlowRuns of this worker's claims left without
  // one (Worker::repair), then sets CANCELLED for runs whose FlowRun was deleted
  // (Worker::deletedOnCluster).
  void repair(const nlohmann::json& workPool, Pool& pool, const std::string& clusterUid);
  // The next heartbeat: one interval after a success, backing off 1, 2, 4 ... s (at most one
  // interval) after a failure, whose outcome holds until then.
  static void scheduleHeartbeat(Pool& pool, std::chrono::system_clock::time_point now);
  kube::ResourceType type() const;

  kube::Client& client_;
  runtime::EventRecorder& events_;
  const clusteridentity::IdentityProvider& identity_;
  RunnerOptions options_;
  std::map<std::string, std::unique_ptr<Pool>> pools_;  // by ns/name, this thread only
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

// The WorkPool resource (prefect.io/v1alpha1 workpools).
const kube::ResourceType& workPoolsResource();

}  // namespace controllers::workpool
