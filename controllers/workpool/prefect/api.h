#pragma once
// The Prefect worker's requests, typed: each builds the path and body the real Prefect 2.17.1
// client sends (../shared/prefect-api/transcript) and reads the answer. Nothing here decides
// what to do with an answer; the worker does.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

#include "controllers/workpool/prefect/transport.h"

namespace controllers::workpool::prefect {

using nlohmann::json;

// The orchestration answer of POST /flow_runs/{id}/set_state.
struct SetStateResult {
  Response response;   // the raw answer (status 201 ACCEPT, 200 REJECT/ABORT/WAIT, errors)
  std::string status;  // "ACCEPT", "REJECT", "ABORT", "WAIT"; "" when no orchestration answer
  std::string reason;  // details.reason when given
  json state;          // the state the run is in after the call
  bool accepted() const { return status == "ACCEPT"; }
};

// A state proposal: type (PENDING, CRASHED, CANCELLED, ...), its display name and message.
struct StateProposal {
  std::string type;
  std::string name;
  std::optional<std::string> message;
  bool force = false;
};

class Api {
 public:
  explicit Api(Transport& transport) : transport_(transport) {}

  Response version();                              // GET /admin/version
  Response readWorkPool(const std::string& pool);  // GET /work_pools/{pool}
  Response setBaseJobTemplate(const std::string& pool, const json& baseJobTemplate);  // PATCH
  Response heartbeat(const std::string& pool, const std::string& workerName,
                     double intervalSeconds);  // POST .../workers/heartbeat
  // POST /work_pools/{pool}/get_scheduled_flow_runs: [{work_pool_id, work_queue_id, flow_run}].
  Response scheduledFlowRuns(const std::string& pool, const std::vector<std::string>& queues,
                             const std::string& scheduledBeforeIso);
  Response readDeployment(const std::string& id);
  Response readFlow(const std::string& id);
  Response readFlowRun(const std::string& id);
  SetStateResult setState(const std::string& flowRunId, const StateProposal& proposal);
  Response setInfrastructurePid(const std::string& flowRunId, const std::string& pid);  // PATCH
  // POST /flow_runs/filter for runs of `pool` in state type `stateType` (and, when given, state
  // name `stateName`), as the worker's two cancellation queries. `limit` null is the server's
  // default page (200); `offset` pages on.
  Response filterFlowRuns(const std::string& pool, const std::string& stateType,
                          const std::optional<std::string>& stateName, int offset = 0,
                          std::optional<int> limit = std::nullopt);

 private:
  Transport& transport_;
};

// Bodies, exposed for tests.
json setStateBody(const std::string& flowRunId, const StateProposal& proposal,
                  const std::string& transitionId);
json filterBody(const std::string& pool, const std::string& stateType,
                const std::optional<std::string>& stateName, int offset = 0,
                std::optional<int> limit = std::nullopt);
// A random version-4 UUID in canonical form.
std::string randomUuid();
// Percent-encodes one path segment (RFC 3986 unreserved characters stay).
std::string encodePathSegment(const std::string& segment);

}  // namespace controllers::workpool::prefect
