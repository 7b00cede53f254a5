#include "controllers/workpool/prefect/api.h"

#include <cstdio>
#include <random>

namespace controllers::workpool::prefect {

std::string encodePathSegment(const std::string& segment) {
  std::string out;
  for (unsigned char c : segment) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string randomUuid() {
  static thread_local std::mt19937_64 gen{std::random_device{}()};
  std::uniform_int_distribution<unsigned> byte(0, 255);
  unsigned char b[16];
  for (auto& x : b) x = static_cast<unsigned char>(byte(gen));
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80);
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

json setStateBody(const std::string& flowRunId, const StateProposal& p,
                  const std::string& transitionId) {
  json details = {{"flow_run_id", flowRunId},     {"task_run_id", nullptr},
                  {"child_flow_run_id", nullptr}, {"scheduled_time", nullptr},
                  {"cache_key", nullptr},         {"cache_expiration", nullptr},
                  {"untrackable_result", false},  {"pause_timeout", nullptr},
                  {"pause_reschedule", false},    {"pause_key", nullptr},
                  {"run_input_keyset", nullptr},  {"refresh_cache", nullptr},
                  {"retriable", nullptr},         {"transition_id", transitionId},
                  {"task_parameters_id", nullptr}};
  json state = {{"type", p.type},
                {"name", p.name},
                {"message", p.message ? json(*p.message) : json(nullptr)},
                {"state_details", details},
                {"data", nullptr}};
  return {{"state", state}, {"force", p.force}};
}

json filterBody(const std::string& pool, const std::string& stateType,
                const std::optional<std::string>& stateName, int offset, std::optional<int> limit) {
  json state = {{"type", {{"any_", {stateType}}}}};
  if (stateName) state["name"] = {{"any_", {*stateName}}};
  return {{"flows", nullptr},
          {"flow_runs", {{"id", {{"not_any_", json::array()}}}, {"state", state}}},
          {"task_runs", nullptr},
          {"deployments", nullptr},
          {"work_pools", {{"id", nullptr}, {"name", {{"any_", {pool}}}}, {"type", nullptr}}},
          {"work_pool_queues", nullptr},
          {"sort", nullptr},
          {"limit", limit ? json(*limit) : json(nullptr)},
          {"offset", offset}};
}

Response Api::version() {
  return transport_.request("GET", "/admin/version", nullptr);
}

Response Api::readWorkPool(const std::string& pool) {
  return transport_.request("GET", "/work_pools/" + encodePathSegment(pool), nullptr);
}

Response Api::setBaseJobTemplate(const std::string& pool, const json& baseJobTemplate) {
  return transport_.request("PATCH", "/work_pools/" + encodePathSegment(pool),
                            json{{"base_job_template", baseJobTemplate}});
}

Response Api::heartbeat(const std::string& pool, const std::string& workerName,
                        double intervalSeconds) {
  return transport_.request(
      "POST", "/work_pools/" + encodePathSegment(pool) + "/workers/heartbeat",
      json{{"name", workerName}, {"heartbeat_interval_seconds", intervalSeconds}});
}

Response Api::scheduledFlowRuns(const std::string& pool, const std::vector<std::string>& queues,
                                const std::string& scheduledBeforeIso) {
  return transport_.request(
      "POST", "/work_pools/" + encodePathSegment(pool) + "/get_scheduled_flow_runs",
      json{{"work_queue_names", queues}, {"scheduled_before", scheduledBeforeIso}});
}

Response Api::readDeployment(const std::string& id) {
  return transport_.request("GET", "/deployments/" + encodePathSegment(id), nullptr);
}

Response Api::readFlow(const std::string& id) {
  return transport_.request("GET", "/flows/" + encodePathSegment(id), nullptr);
}

Response Api::readFlowRun(const std::string& id) {
  return transport_.request("GET", "/flow_runs/" + encodePathSegment(id), nullptr);
}

SetStateResult Api::setState(const std::string& flowRunId, const StateProposal& proposal) {
  SetStateResult r;
  r.response =
      transport_.request("POST", "/flow_runs/" + encodePathSegment(flowRunId) + "/set_state",
                         setStateBody(flowRunId, proposal, randomUuid()));
  const json& b = r.response.body;
  if (r.response.ok() && b.is_object()) {
    if (auto s = b.find("status"); s != b.end() && s->is_string()) r.status = s->get<std::string>();
    if (auto s = b.find("state"); s != b.end()) r.state = *s;
    if (auto d = b.find("details"); d != b.end() && d->is_object()) {
      if (auto why = d->find("reason"); why != d->end() && why->is_string()) {
        r.reason = why->get<std::string>();
      }
    }
  }
  return r;
}

Response Api::setInfrastructurePid(const std::string& flowRunId, const std::string& pid) {
  return transport_.request("PATCH", "/flow_runs/" + encodePathSegment(flowRunId),
                            json{{"infrastructure_pid", pid}});
}

Response Api::filterFlowRuns(const std::string& pool, const std::string& stateType,
                             const std::optional<std::string>& stateName, int offset,
                             std::optional<int> limit) {
  return transport_.request("POST", "/flow_runs/filter",
                            filterBody(pool, stateType, stateName, offset, limit));
}

}  // namespace controllers::workpool::prefect
