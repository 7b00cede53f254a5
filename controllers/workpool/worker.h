#pragma once
// One WorkPool's worker cycle, as prefect/workers/base.py does it, with the Kubernetes side
// reached only through kube::Client (FlowRuns, like any user):
//   poll()   - get_scheduled_flow_runs with the prefetch window; for each run not yet a FlowRun
//              (and while under `limit`): read the deployment, propose PENDING (force false),
//              and only on 201 ACCEPT read the flow and create the FlowRun. REJECT/ABORT: another
//              worker has it, drop it. A FlowRun that already exists (a retry, a restart between
//              create and the next poll) is never created twice: its name comes from the id.
//   repair() - finds this worker's claims that never became a FlowRun (the operator died between
//              the ACCEPTed Pending proposal and the create): PENDING runs of the pool whose state
//              message is this worker's claim and that have no infrastructure_pid and no FlowRun
//              get their FlowRun now. A PENDING run claimed by anyone else is never touched.
//   report() - for this pool's FlowRuns: once the Job exists, PATCH infrastructure_pid; a Crashed
//              FlowRun proposes CRASHED with the diagnosis as the message; a Failed one (a
//              non-zero exit) proposes CRASHED as the Python worker does (the server ABORTs it
//              when the engine already reported); a Cancelled one sets CANCELLED (force true).
//              Each report is done once (an annotation on the FlowRun).
// Not thread-safe: the leader runs one cycle at a time per WorkPool.
#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <string>

#include "controllers/workpool/prefect/api.h"
#include "controllers/workpool/workpool_spec.h"
#include "operator/kube/client.h"

namespace controllers::workpool {

// Annotations the worker keeps on a FlowRun to report each fact to Prefect once.
inline constexpr const char* kAnnotationReportedPid = "prefect.io/reported-infrastructure-pid";
inline constexpr const char* kAnnotationReportedState = "prefect.io/reported-state";

struct CycleResult {
  int submitted = 0;         // FlowRuns created this cycle
  int notOurs = 0;           // runs another worker won (REJECT/ABORT)
  int active = 0;            // this pool's FlowRuns not yet terminal
  int reported = 0;          // pids and states sent to Prefect
  int repaired = 0;          // FlowRuns created by repair() for claims left without one
  int cancelledDeleted = 0;  // runs set CANCELLED because their FlowRun was deleted
  int prefectStatus = 0;     // status of the failing Prefect call (0: unreachable)
  std::string error;         // empty when the cycle completed
  bool ok() const { return error.empty(); }
};

class Worker {
 public:
  using Clock = std::chrono::system_clock;
  Worker(prefect::Api& api, kube::Client& kube, std::string ns, std::string workPoolName,
         WorkPoolSpec spec, std::function<Clock::time_point()> now = nullptr);

  // The message put on this worker's PENDING proposals (claimMessage()); empty: null, as the
  // Python worker sends, and repair() then does nothing (it could not tell its claims apart).
  void claimAs(std::string claim) { claim_ = std::move(claim); }
  const std::string& claim() const { return claim_; }

  // `baseJobTemplate`: the pool's template as Prefect holds it; `prefectVersion` for labels.
  CycleResult poll(const nlohmann::json& baseJobTemplate, const std::string& prefectVersion);
  CycleResult repair(const nlohmann::json& baseJobTemplate, const std::string& prefectVersion);
  CycleResult report();
  // The worker's two flow_runs/filter queries (CANCELLING by type; CANCELLED named Cancelling).
  // A run whose pid names `clusterUid` and this namespace gets spec.cancel true on its FlowRun
  // (report() then sets CANCELLED once it is Cancelled); a run without a pid never got a Job
  // and is marked CANCELLED at once; a pid of another cluster or namespace is left alone.
  CycleResult cancellations(const std::string& clusterUid);
  // A PENDING or RUNNING run whose pid names this cluster and namespace but whose FlowRun is
  // gone was deleted on the cluster side: CANCELLED (force), with a message saying so. Run on
  // start and after each heartbeat, with repair().
  CycleResult deletedOnCluster(const std::string& clusterUid);

 private:
  kube::Result<std::vector<nlohmann::json>> poolFlowRuns();
  bool submit(const nlohmann::json& flowRun, const nlohmann::json& baseJobTemplate,
              const std::string& prefectVersion, CycleResult& result);
  // Creates the FlowRun of a run this worker holds in PENDING (false: stop the cycle).
  bool createFlowRun(const nlohmann::json& run, const nlohmann::json& baseJobTemplate,
                     const std::string& prefectVersion, CycleResult& result);
  // Deployments and flows read once per cycle: a burst of runs shares them.
  const nlohmann::json* cachedRead(std::map<std::string, nlohmann::json>& cache,
                                   const std::string& id, bool deployment, CycleResult& result);
  int activeFlowRuns(CycleResult& result);
  void cancelIfDeleted(const nlohmann::json& run, const std::string& clusterUid,
                       CycleResult& result);
  // Sets the annotation; on success `flowRun` becomes the updated object.
  bool markReported(nlohmann::json& flowRun, const char* annotation, const std::string& value);
  bool requestCancel(const nlohmann::json& flowRun);

  prefect::Api& api_;
  kube::Client& kube_;
  std::string ns_;
  std::string workPoolName_;
  WorkPoolSpec spec_;
  std::function<Clock::time_point()> now_;
  std::string claim_;
  std::map<std::string, nlohmann::json> deployments_, flows_;  // this cycle's reads
  std::set<std::string> known_;  // this pool's FlowRun names, listed at the cycle's start
};

// "Claimed by worker <name> (cluster <uid>, WorkPool <ns>/<name>)": names the worker and the
// cluster, so two clusters sharing a worker name never take each other's claims.
std::string claimMessage(const std::string& workerName, const std::string& clusterUid,
                         const std::string& ns, const std::string& workPoolName);

// The message the Python worker proposes CRASHED with after a non-zero exit.
std::string nonZeroExitMessage(int exitCode);

// "2026-12-01T19:37:41.682654+00:00", the form the Prefect client sends.
std::string isoTimestamp(std::chrono::system_clock::time_point t);

}  // namespace controllers::workpool
