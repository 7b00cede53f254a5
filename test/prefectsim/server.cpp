#include "test/prefectsim/server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace prefectsim {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::system_clock;
using Micros = long long;  // microseconds since the epoch

Micros nowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now().time_since_epoch())
      .count();
}

// "2026-12-01T19:30:57.557542+00:00", as the server writes timestamps.
std::string isoTime(Micros t) {
  std::time_t secs = static_cast<std::time_t>(t / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, t % 1000000);
  return buf;
}

// Parses ISO 8601 with optional fraction and Z or +HH:MM; nullopt when malformed.
std::optional<Micros> parseIso(const std::string& s) {
  static const std::regex re(
      R"((\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6})\d*)?(Z|[+-]\d{2}:?\d{2})?)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  Micros t = static_cast<Micros>(timegm(&tm)) * 1000000;
  if (m[7].matched) {
    std::string frac = m[7].str();
    frac.resize(6, '0');
    t += std::stoll(frac);
  }
  if (m[8].matched && m[8].str() != "Z") {
    std::string z = m[8].str();
    int sign = z[0] == '-' ? -1 : 1;
    std::string digits;
    for (char c : z.substr(1))
      if (c != ':') digits += c;
    int minutes = std::stoi(digits.substr(0, 2)) * 60 + std::stoi(digits.substr(2, 2));
    t -= static_cast<Micros>(sign) * minutes * 60 * 1000000;
  }
  return t;
}

std::string newUuid() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<unsigned> d(0, 15);
  std::string s = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx";
  const char* hex = "0123456789abcdef";
  for (char& c : s) {
    if (c == 'x') c = hex[d(rng)];
    if (c == 'y') c = hex[8 + d(rng) % 4];
  }
  return s;
}

std::string runName() {
  static const char* adj[] = {"onyx",   "spectral", "amber", "brisk",
                              "cobalt", "dapper",   "eager", "fuzzy"};
  static const char* animal[] = {"vole", "pug", "otter", "lynx", "heron", "marmot", "ibex", "wren"};
  static thread_local std::mt19937 rng{std::random_device{}()};
  return std::string(adj[rng() % 8]) + "-" + animal[rng() % 8];
}

const std::vector<std::string> kStateTypes = {"SCHEDULED", "PENDING", "RUNNING",
                                              "COMPLETED", "FAILED",  "CANCELLED",
                                              "CRASHED",   "PAUSED",  "CANCELLING"};

bool isTerminal(const std::string& t) {
  return t == "COMPLETED" || t == "FAILED" || t == "CANCELLED" || t == "CRASHED";
}

std::string defaultStateName(const std::string& type) {
  std::string n = type;
  for (size_t i = 1; i < n.size(); ++i) n[i] = static_cast<char>(std::tolower(n[i]));
  return n;
}

json stateDetails(const std::string& flowRunId) {
  return {{"flow_run_id", flowRunId},     {"task_run_id", nullptr},
          {"child_flow_run_id", nullptr}, {"scheduled_time", nullptr},
          {"cache_key", nullptr},         {"cache_expiration", nullptr},
          {"untrackable_result", false},  {"pause_timeout", nullptr},
          {"pause_reschedule", false},    {"pause_key", nullptr},
          {"run_input_keyset", nullptr},  {"refresh_cache", nullptr},
          {"retriable", nullptr},         {"transition_id", nullptr},
          {"task_parameters_id", nullptr}};
}

json makeState(const std::string& flowRunId, const std::string& type, const std::string& name,
               const json& message, Micros at) {
  return {{"id", newUuid()},
          {"type", type},
          {"name", name},
          {"timestamp", isoTime(at)},
          {"message", message},
          {"data", nullptr},
          {"state_details", stateDetails(flowRunId)}};
}

struct Queue {
  json j;
};
struct Pool {
  json j;  // the work pool as served
  std::vector<json> queues;
  std::map<std::string, json> workers;  // by name
};
struct FlowRun {
  json j;                    // the flow run as served (state included)
  std::vector<json> states;  // history
  Micros runningSince = 0;
};

struct Fault {
  int id = 0;
  std::string method, path;
  int status = 503;
  int count = -1;
  int delayMs = 0;
  json retryAfter;
  std::optional<std::string> body;
  bool close = false;
};

json errorDetail(const std::string& d) {
  return {{"detail", d}};
}

// FastAPI's 422 body as the real server writes it.
json validationError(const json& details, const json& requestBody) {
  return {{"exception_message", "Invalid request received."},
          {"exception_detail", details},
          {"request_body", requestBody}};
}

json missingField(std::vector<std::string> loc) {
  return {{"loc", loc}, {"msg", "field required"}, {"type", "value_error.missing"}};
}

}  // namespace

struct Server::Impl {
  ServerOptions options;
  httplib::Server http;
  std::thread thread;
  int boundPort = 0;
  std::atomic<bool> running{false};

  std::mutex mu;
  std::map<std::string, Pool> pools;  // by name
  std::map<std::string, json> flows;  // by id
  std::map<std::string, json> deployments;
  std::map<std::string, FlowRun> runs;
  std::vector<std::string> runOrder;
  std::vector<json> logs;
  std::vector<Fault> faults;
  int nextFaultId = 1;
  json requestLog = json::array();

  struct Reply {
    int status = 200;
    json body;  // discarded when raw is set or status is 204
    std::optional<std::string> raw;
  };

  // ---- helpers (mu held) ----
  Pool* pool(const std::string& name) {
    auto it = pools.find(name);
    return it == pools.end() ? nullptr : &it->second;
  }
  static Reply poolNotFound(const std::string& name) {
    return {404, errorDetail("Work pool \"" + name + "\" not found."), {}};
  }

  void refreshPoolStatus(Pool& p) {
    std::string status = p.j["is_paused"].get<bool>() ? "PAUSED" : "NOT_READY";
    if (status != "PAUSED") {
      for (auto& [n, w] : p.workers)
        if (w["status"] == "ONLINE") status = "READY";
    }
    p.j["status"] = status;
    for (auto& q : p.queues)
      q["status"] = q["is_paused"].get<bool>()                         ? "PAUSED"
                    : status == "READY" && !q["last_polled"].is_null() ? "READY"
                                                                       : "NOT_READY";
  }

  json deploymentView(const json& d) {
    json out = d;
    auto* p = pool(d.value("work_pool_name", ""));
    out["status"] = p && p->j["status"] == "READY" ? "READY" : "NOT_READY";
    return out;
  }

  void touchRunTimes(FlowRun& r, Micros now) {
    json& j = r.j;
    Micros expected = parseIso(j["expected_start_time"].get<std::string>()).value_or(now);
    double total = j["total_run_time"].get<double>();
    if (r.runningSince) total += static_cast<double>(now - r.runningSince) / 1e6;
    j["estimated_run_time"] = total;
    if (j["start_time"].is_null())
      j["estimated_start_time_delta"] = std::max(0.0, static_cast<double>(now - expected) / 1e6);
  }

  json runView(FlowRun& r) {
    touchRunTimes(r, nowMicros());
    return r.j;
  }

  Reply createRun(const json& body, const json* deployment) {
    Micros now = nowMicros();
    FlowRun r;
    std::string id = newUuid();
    json d = deployment ? *deployment : json::object();
    std::string flowId = deployment ? d["flow_id"].get<std::string>() : body.value("flow_id", "");
    if (!deployment && !flows.count(flowId)) return {404, errorDetail("Flow not found"), {}};
    std::string poolName = d.value("work_pool_name", "");
    std::string queueName = body.contains("work_queue_name") && body["work_queue_name"].is_string()
                                ? body["work_queue_name"].get<std::string>()
                                : d.value("work_queue_name", std::string());
    json poolId = nullptr, queueId = nullptr;
    if (auto* p = pool(poolName)) {
      poolId = p->j["id"];
      if (queueName.empty()) queueName = "default";
      for (auto& q : p->queues)
        if (q["name"] == queueName) queueId = q["id"];
    }
    json tags = d.value("tags", json::array());
    for (auto& t : body.value("tags", json::array()))
      if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
    json params = d.value("parameters", json::object());
    if (body.contains("parameters") && body["parameters"].is_object()) params = body["parameters"];
    std::string stype = "SCHEDULED", sname = "Scheduled";
    json smsg = nullptr;
    if (body.contains("state") && body["state"].is_object()) {
      stype = body["state"].value("type", "SCHEDULED");
      sname = body["state"].contains("name") && body["state"]["name"].is_string()
                  ? body["state"]["name"].get<std::string>()
                  : defaultStateName(stype);
      smsg = body["state"].value("message", json(nullptr));
    }
    json state = makeState(id, stype, sname, smsg, now);
    if (stype == "SCHEDULED") state["state_details"]["scheduled_time"] = isoTime(now);
    r.j = {
        {"id", id},
        {"created", isoTime(now)},
        {"updated", isoTime(now)},
        {"name", body.contains("name") && body["name"].is_string() ? body["name"].get<std::string>()
                                                                   : runName()},
        {"flow_id", flowId},
        {"state_id", state["id"]},
        {"deployment_id", deployment ? d["id"] : body.value("deployment_id", json(nullptr))},
        {"deployment_version", d.value("version", json(nullptr))},
        {"work_queue_id", queueId},
        {"work_queue_name",
         poolName.empty() && queueName.empty() ? json(nullptr) : json(queueName)},
        {"flow_version", nullptr},
        {"parameters", params},
        {"idempotency_key", body.value("idempotency_key", json(nullptr))},
        {"context", body.value("context", json::object())},
        {"empirical_policy",
         {{"max_retries", 0},
          {"retry_delay_seconds", 0.0},
          {"retries", nullptr},
          {"retry_delay", nullptr},
          {"pause_keys", json::array()},
          {"resuming", false}}},
        {"tags", tags},
        {"parent_task_run_id", nullptr},
        {"state_type", stype},
        {"state_name", sname},
        {"run_count", 0},
        {"expected_start_time", isoTime(now)},
        {"next_scheduled_start_time", stype == "SCHEDULED" ? json(isoTime(now)) : json(nullptr)},
        {"start_time", nullptr},
        {"end_time", nullptr},
        {"total_run_time", 0.0},
        {"estimated_run_time", 0.0},
        {"estimated_start_time_delta", 0.0},
        {"auto_scheduled", false},
        {"infrastructure_document_id", nullptr},
        {"infrastructure_pid", body.value("infrastructure_pid", json(nullptr))},
        {"created_by", nullptr},
        {"work_pool_id", poolId},
        {"work_pool_name", poolName.empty() ? json(nullptr) : json(poolName)},
        {"state", state},
        {"job_variables", body.value("job_variables", json::object())}};
    if (stype == "RUNNING") {
      r.j["start_time"] = isoTime(now);
      r.j["run_count"] = 1;
      r.runningSince = now;
    }
    r.states.push_back(state);
    runs[id] = r;
    runOrder.push_back(id);
    return {201, runView(runs[id]), {}};
  }

  // Orchestration of a proposed flow run state, as the 2.17 core policy answers the worker and
  // engine transitions (see docs/prefectsim.md for the rules modelled).
  Reply setState(FlowRun& r, const json& body) {
    const json& ps = body["state"];
    std::string type = ps["type"];
    std::string name = ps.contains("name") && ps["name"].is_string() ? ps["name"].get<std::string>()
                                                                     : defaultStateName(type);
    bool force = body.contains("force") && body["force"].is_boolean() && body["force"].get<bool>();
    std::string from = r.j["state_type"];
    const std::string runId = r.j["id"];
    auto abort = [&](const std::string& reason) {
      return Reply{200,
                   {{"state", r.j["state"]},
                    {"status", "ABORT"},
                    {"details", {{"type", "abort_details"}, {"reason", reason}}}},
                   {}};
    };
    Micros now = nowMicros();
    auto write = [&](const std::string& t, const std::string& n, const json& msg) {
      json s = makeState(runId, t, n, msg, now);
      if (ps.contains("state_details") && ps["state_details"].is_object())
        s["state_details"]["transition_id"] =
            ps["state_details"].value("transition_id", json(nullptr));
      if (t == "PENDING" && from == "SCHEDULED")
        s["state_details"]["scheduled_time"] = r.j["state"]["state_details"]["scheduled_time"];
      if (t == "SCHEDULED") s["state_details"]["scheduled_time"] = isoTime(now);
      if (r.runningSince && t != "RUNNING") {
        r.j["total_run_time"] =
            r.j["total_run_time"].get<double>() + static_cast<double>(now - r.runningSince) / 1e6;
        r.runningSince = 0;
      }
      if (t == "RUNNING") {
        if (r.j["start_time"].is_null()) r.j["start_time"] = isoTime(now);
        r.j["run_count"] = r.j["run_count"].get<int>() + 1;
        r.runningSince = now;
      }
      if (isTerminal(t) && r.j["end_time"].is_null() && !r.j["start_time"].is_null())
        r.j["end_time"] = isoTime(now);
      if (from == "SCHEDULED" && t != "SCHEDULED") r.j["next_scheduled_start_time"] = nullptr;
      r.j["state"] = s;
      r.j["state_id"] = s["id"];
      r.j["state_type"] = t;
      r.j["state_name"] = n;
      r.j["updated"] = isoTime(now);
      r.states.push_back(s);
      return s;
    };
    json msg = ps.value("message", json(nullptr));
    if (!force) {
      if (isTerminal(from)) return abort("Run is already in terminal state " + from + ".");
      if (type == "PENDING" && (from == "PENDING" || from == "RUNNING" || from == "CANCELLING"))
        return abort("This run is in a " + from +
                     " state and cannot transition to a PENDING state.");
      if (from == "CANCELLING" && type != "CANCELLED")
        return {
            200,
            {{"state", r.j["state"]},
             {"status", "REJECT"},
             {"details",
              {{"type", "reject_details"},
               {"reason",
                "Cannot transition flows that are cancelling to a state other than Cancelled."}}}},
            {}};
      if (type == "CANCELLING" && from == "SCHEDULED") {
        json s = write("CANCELLED", "Cancelled", msg);
        // the server's own Cancelled state carries no transition id of the proposal
        s["state_details"]["transition_id"] = nullptr;
        r.j["state"] = s;
        r.states.back() = s;
        return {201,
                {{"state", s},
                 {"status", "REJECT"},
                 {"details",
                  {{"type", "reject_details"},
                   {"reason", "Scheduled flow run has no infrastructure to terminate."}}}},
                {}};
      }
    }
    json s = write(type, name, msg);
    return {
        201, {{"state", s}, {"status", "ACCEPT"}, {"details", {{"type", "accept_details"}}}}, {}};
  }

  static std::optional<json> validateState(const json& body) {
    if (!body.is_object() || !body.contains("state"))
      return json::array({missingField({"body", "state"})});
    const json& s = body["state"];
    if (!s.is_object())
      return json::array({{{"loc", {"body", "state"}},
                           {"msg", "value is not a valid dict"},
                           {"type", "type_error.dict"}}});
    if (!s.contains("type")) return json::array({missingField({"body", "state", "type"})});
    if (!s["type"].is_string() || std::find(kStateTypes.begin(), kStateTypes.end(),
                                            s["type"].get<std::string>()) == kStateTypes.end()) {
      return json::array(
          {{{"loc", {"body", "state", "type"}},
            {"msg",
             "value is not a valid enumeration member; permitted: 'SCHEDULED', 'PENDING', "
             "'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED', 'PAUSED', 'CANCELLING'"},
            {"type", "type_error.enum"},
            {"ctx", {{"enum_values", kStateTypes}}}}});
    }
    return std::nullopt;
  }

  static bool matchesAny(const json& filter, const char* key, const json& value) {
    if (!filter.is_object() || !filter.contains(key) || !filter[key].is_object()) return true;
    const json& f = filter[key];
    if (f.contains("any_") && f["any_"].is_array() &&
        std::find(f["any_"].begin(), f["any_"].end(), value) == f["any_"].end())
      return false;
    if (f.contains("not_any_") && f["not_any_"].is_array() &&
        std::find(f["not_any_"].begin(), f["not_any_"].end(), value) != f["not_any_"].end())
      return false;
    return true;
  }

  static constexpr int kDefaultLimit = 200;  // PREFECT_API_DEFAULT_LIMIT

  Reply filterRuns(const json& body) {
    json fr = body.value("flow_runs", json(nullptr));
    json wp = body.value("work_pools", json(nullptr));
    json dp = body.value("deployments", json(nullptr));
    json out = json::array();
    for (auto it = runOrder.rbegin(); it != runOrder.rend(); ++it) {
      FlowRun& r = runs[*it];
      const json& j = r.j;
      if (!matchesAny(fr, "id", j["id"])) continue;
      if (fr.is_object() && fr.contains("state") && fr["state"].is_object()) {
        if (!matchesAny(fr["state"], "type", j["state_type"])) continue;
        if (!matchesAny(fr["state"], "name", j["state_name"])) continue;
      }
      if (!matchesAny(wp, "name", j["work_pool_name"])) continue;
      if (!matchesAny(dp, "id", j["deployment_id"])) continue;
      out.push_back(runView(r));
    }
    int offset = body.contains("offset") && body["offset"].is_number_integer()
                     ? body["offset"].get<int>()
                     : 0;
    json page = json::array();
    int limit = body.contains("limit") && body["limit"].is_number_integer()
                    ? body["limit"].get<int>()
                    : kDefaultLimit;
    // prefect/server/api/dependencies.py LimitBody: PREFECT_API_DEFAULT_LIMIT is also the most.
    if (limit < 0)
      return {422, {{"detail", "Invalid limit: must be greater than or equal to 0."}}, {}};
    if (limit > kDefaultLimit)
      return {422,
              {{"detail", "Invalid limit: must be less than or equal to " +
                              std::to_string(kDefaultLimit) + "."}},
              {}};
    for (int i = offset; i < static_cast<int>(out.size()) && static_cast<int>(page.size()) < limit;
         ++i)
      page.push_back(out[static_cast<size_t>(i)]);
    return {200, page, {}};
  }

  Reply scheduled(Pool& p, const json& body) {
    Micros now = nowMicros();
    std::optional<Micros> before;
    if (body.contains("scheduled_before") && body["scheduled_before"].is_string()) {
      before = parseIso(body["scheduled_before"].get<std::string>());
      if (!before)
        return {422,
                validationError(json::array({{{"loc", {"body", "scheduled_before"}},
                                              {"msg", "invalid datetime format"},
                                              {"type", "value_error.datetime"}}}),
                                body),
                {}};
    }
    json names = body.value("work_queue_names", json(nullptr));
    int limit =
        body.contains("limit") && body["limit"].is_number_integer() ? body["limit"].get<int>() : -1;
    for (auto& q : p.queues)
      if (!names.is_array() || names.empty() ||
          std::find(names.begin(), names.end(), q["name"]) != names.end())
        q["last_polled"] = isoTime(now);
    refreshPoolStatus(p);
    std::vector<std::pair<Micros, std::string>> due;
    for (auto& id : runOrder) {
      json& j = runs[id].j;
      if (j["work_pool_name"] != p.j["name"] || j["state_type"] != "SCHEDULED") continue;
      if (names.is_array() && !names.empty() &&
          std::find(names.begin(), names.end(), j["work_queue_name"]) == names.end())
        continue;
      bool queuePaused = false;
      for (auto& q : p.queues)
        if (q["id"] == j["work_queue_id"] && q["is_paused"].get<bool>()) queuePaused = true;
      if (queuePaused || p.j["is_paused"].get<bool>()) continue;
      Micros t = parseIso(j["next_scheduled_start_time"].is_string()
                              ? j["next_scheduled_start_time"].get<std::string>()
                              : j["expected_start_time"].get<std::string>())
                     .value_or(now);
      if (before && t > *before) continue;
      due.emplace_back(t, id);
    }
    std::sort(due.begin(), due.end());
    json out = json::array();
    for (auto& [t, id] : due) {
      if (limit >= 0 && static_cast<int>(out.size()) >= limit) break;
      json fr = runView(runs[id]);
      fr.erase("work_pool_id");
      fr.erase("work_pool_name");
      fr["state"] = nullptr;
      out.push_back(
          {{"work_pool_id", p.j["id"]}, {"work_queue_id", fr["work_queue_id"]}, {"flow_run", fr}});
    }
    return {200, out, {}};
  }

  json makeQueue(const Pool& p, const std::string& name, const json& description, int priority) {
    std::string now = isoTime(nowMicros());
    return {{"id", newUuid()},
            {"created", now},
            {"updated", now},
            {"name", name},
            {"description", description},
            {"is_paused", false},
            {"concurrency_limit", nullptr},
            {"priority", priority},
            {"work_pool_id", p.j["id"]},
            {"filter", nullptr},
            {"last_polled", nullptr},
            {"work_pool_name", p.j["name"]},
            {"status", "NOT_READY"}};
  }

  Reply createPool(const json& body) {
    if (!body.is_object() || !body.contains("name") || !body["name"].is_string())
      return {422, validationError(json::array({missingField({"body", "name"})}), body), {}};
    std::string name = body["name"];
    if (pools.count(name))
      return {409, errorDetail("A work pool with this name already exists."), {}};
    Micros now = nowMicros();
    Pool p;
    p.j = {{"id", newUuid()},
           {"created", isoTime(now)},
           {"updated", isoTime(now)},
           {"name", name},
           {"description", body.value("description", json(nullptr))},
           {"type", body.value("type", "prefect-agent")},
           {"base_job_template", body.value("base_job_template", json::object())},
           {"is_paused", body.value("is_paused", false)},
           {"concurrency_limit", body.value("concurrency_limit", json(nullptr))},
           {"default_queue_id", nullptr},
           {"status", "NOT_READY"}};
    p.queues.push_back(makeQueue(p, "default", "The work pool's default queue.", 1));
    p.j["default_queue_id"] = p.queues[0]["id"];
    refreshPoolStatus(p);
    pools[name] = p;
    return {201, p.j, {}};
  }

  Reply createDeployment(const json& body) {
    if (!body.is_object() || !body.contains("name") || !body.contains("flow_id")) {
      json d = json::array();
      if (!body.is_object() || !body.contains("name")) d.push_back(missingField({"body", "name"}));
      if (!body.is_object() || !body.contains("flow_id"))
        d.push_back(missingField({"body", "flow_id"}));
      return {422, validationError(d, body), {}};
    }
    std::string poolName = body.value("work_pool_name", json(nullptr)).is_string()
                               ? body["work_pool_name"].get<std::string>()
                               : "";
    if (!poolName.empty() && !pool(poolName))
      return {404, errorDetail("Work pool \"" + poolName + "\" not found."), {}};
    // the real server upserts on (flow_id, name)
    std::string id;
    for (auto& [did, d] : deployments)
      if (d["flow_id"] == body["flow_id"] && d["name"] == body["name"]) id = did;
    if (id.empty()) id = newUuid();
    Micros now = nowMicros();
    json jv = body.value("job_variables", body.value("infra_overrides", json::object()));
    std::string queueName = body.value("work_queue_name", json(nullptr)).is_string()
                                ? body["work_queue_name"].get<std::string>()
                                : "default";
    if (Pool* p = pool(poolName)) {
      bool found = false;
      for (auto& q : p->queues) found = found || q["name"] == queueName;
      if (!found)
        p->queues.push_back(
            makeQueue(*p, queueName, nullptr, static_cast<int>(p->queues.size()) + 1));
    }
    json d = {{"id", id},
              {"created", isoTime(now)},
              {"updated", isoTime(now)},
              {"infra_overrides", jv},
              {"name", body["name"]},
              {"version", body.value("version", json(nullptr))},
              {"description", body.value("description", json(nullptr))},
              {"flow_id", body["flow_id"]},
              {"schedule", nullptr},
              {"is_schedule_active", true},
              {"paused", body.value("paused", false)},
              {"schedules", json::array()},
              {"job_variables", jv},
              {"parameters", body.value("parameters", json::object())},
              {"tags", body.value("tags", json::array())},
              {"work_queue_name",
               poolName.empty() ? body.value("work_queue_name", json(nullptr)) : json(queueName)},
              {"last_polled", nullptr},
              {"parameter_openapi_schema", body.value("parameter_openapi_schema", json(nullptr))},
              {"path", body.value("path", json(nullptr))},
              {"pull_steps", body.value("pull_steps", json(nullptr))},
              {"entrypoint", body.value("entrypoint", json(nullptr))},
              {"manifest_path", nullptr},
              {"storage_document_id", nullptr},
              {"infrastructure_document_id", nullptr},
              {"created_by", nullptr},
              {"updated_by", nullptr},
              {"work_pool_name", poolName.empty() ? json(nullptr) : json(poolName)},
              {"status", "NOT_READY"},
              {"enforce_parameter_schema", body.value("enforce_parameter_schema", false)}};
    deployments[id] = d;
    return {201, deploymentView(d), {}};
  }

  // ---- routing ----
  Reply route(const std::string& method, const std::string& path, const json& body, bool bodyOk,
              const httplib::Request& req) {
    static const std::regex rPool(R"(/api/work_pools/([^/]+))");
    static const std::regex rPoolSub(
        R"(/api/work_pools/([^/]+)/(queues/|queues/filter|workers/heartbeat|workers/filter|get_scheduled_flow_runs))");
    static const std::regex rFlow(R"(/api/flows/([^/]+))");
    static const std::regex rDep(R"(/api/deployments/([^/]+))");
    static const std::regex rDepRun(R"(/api/deployments/([^/]+)/create_flow_run)");
    static const std::regex rRun(R"(/api/flow_runs/([^/]+))");
    static const std::regex rRunState(R"(/api/flow_runs/([^/]+)/set_state)");
    std::smatch m;
    auto needBody = [&]() -> std::optional<Reply> {
      if (bodyOk) return std::nullopt;
      return Reply{
          422,
          validationError(json::array({{{"loc", {"body", 0}},
                                        {"msg", "Expecting value: line 1 column 1 (char 0)"},
                                        {"type", "value_error.jsondecode"},
                                        {"ctx",
                                         {{"msg", "Expecting value"},
                                          {"doc", req.body},
                                          {"pos", 0},
                                          {"lineno", 1},
                                          {"colno", 1}}}}}),
                          req.body),
          {}};
    };
    if (method != "GET" && method != "DELETE")
      if (auto e = needBody()) return *e;
    std::lock_guard<std::mutex> lock(mu);
    if (path == "/api/health" && method == "GET") return {200, true, {}};
    if (path == "/api/admin/version" && method == "GET") return {200, "2.17.1", {}};
    if (path == "/api/csrf-token" && method == "GET")
      return {422, errorDetail("CSRF protection is disabled."), {}};
    if (path == "/api/work_pools/" && method == "POST") return createPool(body);
    if (std::regex_match(path, m, rPoolSub)) {
      std::string name = m[1], sub = m[2];
      Pool* p = pool(name);
      if (!p) return poolNotFound(name);
      if (sub == "queues/" && method == "POST") {
        if (!body.contains("name") || !body["name"].is_string())
          return {422, validationError(json::array({missingField({"body", "name"})}), body), {}};
        for (auto& q : p->queues)
          if (q["name"] == body["name"])
            return {409, errorDetail("A work queue with this name already exists."), {}};
        p->queues.push_back(
            makeQueue(*p, body["name"], body.value("description", json(nullptr)),
                      body.value("priority", static_cast<int>(p->queues.size()) + 1)));
        refreshPoolStatus(*p);
        return {201, p->queues.back(), {}};
      }
      if (sub == "queues/filter" && method == "POST") {
        refreshPoolStatus(*p);
        return {200, p->queues, {}};
      }
      if (sub == "workers/heartbeat" && method == "POST") {
        if (!body.contains("name") || !body["name"].is_string())
          return {422, validationError(json::array({missingField({"body", "name"})}), body), {}};
        std::string now = isoTime(nowMicros());
        json& w = p->workers[body["name"]];
        if (w.is_null())
          w = {{"id", newUuid()},
               {"created", now},
               {"name", body["name"]},
               {"work_pool_id", p->j["id"]}};
        w["updated"] = now;
        w["last_heartbeat_time"] = now;
        w["heartbeat_interval_seconds"] =
            body.contains("heartbeat_interval_seconds") &&
                    body["heartbeat_interval_seconds"].is_number()
                ? json(static_cast<int>(body["heartbeat_interval_seconds"].get<double>()))
                : json(nullptr);
        w["status"] = "ONLINE";
        refreshPoolStatus(*p);
        return {204, nullptr, {}};
      }
      if (sub == "workers/filter" && method == "POST") {
        json out = json::array();
        for (auto& [n, w] : p->workers) out.push_back(w);
        return {200, out, {}};
      }
      if (sub == "get_scheduled_flow_runs" && method == "POST") return scheduled(*p, body);
      return {405, errorDetail("Method Not Allowed"), {}};
    }
    if (std::regex_match(path, m, rPool)) {
      std::string name = m[1];
      Pool* p = pool(name);
      if (!p) return poolNotFound(name);
      if (method == "GET") {
        refreshPoolStatus(*p);
        return {200, p->j, {}};
      }
      if (method == "PATCH") {
        for (const char* k : {"description", "is_paused", "base_job_template", "concurrency_limit"})
          if (body.contains(k)) p->j[k] = body[k];
        p->j["updated"] = isoTime(nowMicros());
        refreshPoolStatus(*p);
        return {204, nullptr, {}};
      }
      if (method == "DELETE") {
        pools.erase(name);
        return {204, nullptr, {}};
      }
      return {405, errorDetail("Method Not Allowed"), {}};
    }
    if (path == "/api/flows/" && method == "POST") {
      if (!body.contains("name") || !body["name"].is_string())
        return {422, validationError(json::array({missingField({"body", "name"})}), body), {}};
      for (auto& [id, f] : flows)
        if (f["name"] == body["name"]) return {200, f, {}};
      std::string now = isoTime(nowMicros());
      json f = {{"id", newUuid()},
                {"created", now},
                {"updated", now},
                {"name", body["name"]},
                {"tags", body.value("tags", json::array())}};
      flows[f["id"]] = f;
      return {201, f, {}};
    }
    if (std::regex_match(path, m, rFlow) && method == "GET") {
      auto it = flows.find(m[1]);
      if (it == flows.end()) return {404, errorDetail("Flow not found"), {}};
      return {200, it->second, {}};
    }
    if (path == "/api/deployments/" && method == "POST") return createDeployment(body);
    if (std::regex_match(path, m, rDepRun) && method == "POST") {
      auto it = deployments.find(m[1]);
      if (it == deployments.end()) return {404, errorDetail("Deployment not found"), {}};
      return createRun(body, &it->second);
    }
    if (std::regex_match(path, m, rDep) && method == "GET") {
      auto it = deployments.find(m[1]);
      if (it == deployments.end()) return {404, errorDetail("Deployment not found"), {}};
      return {200, deploymentView(it->second), {}};
    }
    if (path == "/api/flow_runs/" && method == "POST") {
      if (!body.contains("flow_id"))
        return {422, validationError(json::array({missingField({"body", "flow_id"})}), body), {}};
      if (body.contains("state") && body["state"].is_object()) {
        if (auto err = validateState(body)) return {422, validationError(*err, body), {}};
      }
      const json* d = nullptr;
      if (body.contains("deployment_id") && body["deployment_id"].is_string()) {
        auto it = deployments.find(body["deployment_id"]);
        if (it != deployments.end()) d = &it->second;
      }
      return createRun(body, d);
    }
    if (path == "/api/flow_runs/filter" && method == "POST") return filterRuns(body);
    if (std::regex_match(path, m, rRunState) && method == "POST") {
      if (auto err = validateState(body)) {
        json rb = body;
        return {422, validationError(*err, rb), {}};
      }
      auto it = runs.find(m[1]);
      if (it == runs.end()) return {404, errorDetail("Flow run not found"), {}};
      return setState(it->second, body);
    }
    if (std::regex_match(path, m, rRun)) {
      auto it = runs.find(m[1]);
      if (it == runs.end()) return {404, errorDetail("Flow run not found"), {}};
      if (method == "GET") return {200, runView(it->second), {}};
      if (method == "PATCH") {
        for (const char* k : {"infrastructure_pid", "name", "parameters", "tags", "job_variables",
                              "flow_version", "empirical_policy"})
          if (body.contains(k)) it->second.j[k] = body[k];
        it->second.j["updated"] = isoTime(nowMicros());
        return {204, nullptr, {}};
      }
      if (method == "DELETE") {
        runs.erase(it);
        runOrder.erase(std::remove(runOrder.begin(), runOrder.end(), m[1].str()), runOrder.end());
        return {204, nullptr, {}};
      }
      return {405, errorDetail("Method Not Allowed"), {}};
    }
    if (path == "/api/flow_run_states/" && method == "GET") {
      std::string id = req.get_param_value("flow_run_id");
      if (id.empty())
        return {422,
                validationError(json::array({{{"loc", {"query", "flow_run_id"}},
                                              {"msg", "field required"},
                                              {"type", "value_error.missing"}}}),
                                nullptr),
                {}};
      auto it = runs.find(id);
      return {200, it == runs.end() ? json::array() : json(it->second.states), {}};
    }
    if (path == "/api/logs/" && method == "POST") {
      if (!body.is_array())
        return {422,
                validationError(json::array({{{"loc", {"body"}},
                                              {"msg", "value is not a valid list"},
                                              {"type", "type_error.list"}}}),
                                body),
                {}};
      for (auto& l : body) logs.push_back(l);
      return {201, nullptr, {}};
    }
    return {404, errorDetail("Not Found"), {}};
  }

  void send(httplib::Response& res, const Reply& r) {
    res.status = r.status;
    if (r.raw) {
      res.set_content(*r.raw, "application/json");
    } else if (r.status != 204 && !(r.status == 201 && r.body.is_null())) {
      res.set_content(r.body.dump(), "application/json");
    }
  }

  std::optional<Fault> takeFault(const std::string& method, const std::string& path) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = faults.begin(); it != faults.end(); ++it) {
      if (!it->method.empty() && it->method != method) continue;
      if (path.find(it->path) == std::string::npos) continue;
      Fault f = *it;
      if (it->count > 0 && --it->count == 0) faults.erase(it);
      return f;
    }
    return std::nullopt;
  }

  void handleApi(const httplib::Request& req, httplib::Response& res) {
    json body = nullptr;
    bool bodyOk = true;
    if (!req.body.empty()) {
      body = json::parse(req.body, nullptr, false);
      if (body.is_discarded()) {
        bodyOk = false;
        body = nullptr;
      }
    }
    bool authorized = true;
    if (options.apiKey)
      authorized = req.get_header_value("Authorization") == "Bearer " + *options.apiKey;
    Reply r;
    if (auto f = takeFault(req.method, req.path)) {
      if (f->delayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(f->delayMs));
      r.status = f->status;
      if (f->body)
        r.raw = f->body;
      else
        r.body = errorDetail("prefectsim fault " + std::to_string(f->id));
      if (!f->retryAfter.is_null())
        res.set_header("Retry-After", f->retryAfter.is_string() ? f->retryAfter.get<std::string>()
                                                                : f->retryAfter.dump());
      if (f->close) {
        // Closing without answering is not available through cpp-httplib's handler API; the
        // nearest we can do is an empty body with "Connection: close" (see docs/prefectsim.md).
        res.set_header("Connection", "close");
        r.raw = "";
      }
    } else if (!authorized) {
      r = {401, errorDetail("Unauthorized"), {}};
    } else {
      try {
        r = route(req.method, req.path, body, bodyOk, req);
      } catch (const std::exception& e) {
        r = {500, errorDetail(std::string("prefectsim internal error: ") + e.what()), {}};
      }
    }
    send(res, r);
    std::lock_guard<std::mutex> lock(mu);
    requestLog.push_back({{"time", isoTime(nowMicros())},
                          {"method", req.method},
                          {"path", req.path},
                          {"status", r.status},
                          {"authorized", authorized},
                          {"body", body}});
  }

  void handleControl(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    auto reply = [&](int status, const json& j) {
      res.status = status;
      res.set_content(j.dump(), "application/json");
    };
    if (req.path == "/prefectsim/faults" && req.method == "POST") {
      json b = json::parse(req.body, nullptr, false);
      if (b.is_discarded() || !b.is_object())
        return reply(400, errorDetail("fault must be a JSON object"));
      Fault f;
      f.id = nextFaultId++;
      f.method = b.value("method", "");
      f.path = b.value("path", "");
      f.status = b.value("status", 503);
      f.count = b.value("count", -1);
      f.delayMs = b.value("delay_ms", 0);
      f.retryAfter = b.value("retry_after", json(nullptr));
      if (b.contains("body") && !b["body"].is_null())
        f.body = b["body"].is_string() ? b["body"].get<std::string>() : b["body"].dump();
      f.close = b.value("close", false);
      if (f.count == 0) return reply(400, errorDetail("count must be -1 or positive"));
      faults.push_back(f);
      return reply(201, {{"id", f.id}});
    }
    if (req.path == "/prefectsim/faults" && req.method == "DELETE") {
      faults.clear();
      res.status = 204;
      return;
    }
    if (req.path.rfind("/prefectsim/faults/", 0) == 0 && req.method == "DELETE") {
      int id = std::atoi(req.path.substr(19).c_str());
      auto before = faults.size();
      faults.erase(
          std::remove_if(faults.begin(), faults.end(), [&](const Fault& f) { return f.id == id; }),
          faults.end());
      if (faults.size() == before)
        return reply(404, errorDetail("no fault " + req.path.substr(19)));
      res.status = 204;
      return;
    }
    if (req.path == "/prefectsim/requests" && req.method == "GET") return reply(200, requestLog);
    if (req.path == "/prefectsim/requests" && req.method == "DELETE") {
      requestLog = json::array();
      res.status = 204;
      return;
    }
    if (req.path == "/prefectsim/logs" && req.method == "GET") return reply(200, logs);
    reply(404, errorDetail("Not Found"));
  }
};

Server::Server(ServerOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}

Server::~Server() {
  stop();
}

void Server::start() {
  auto& I = *impl_;
  auto api = [&I](const httplib::Request& req, httplib::Response& res) { I.handleApi(req, res); };
  auto ctl = [&I](const httplib::Request& req, httplib::Response& res) {
    I.handleControl(req, res);
  };
  for (const char* pattern : {R"(/api/.*)", R"(/prefectsim/.*)"}) {
    bool isApi = pattern[1] == 'a';
    httplib::Server::Handler h =
        isApi ? httplib::Server::Handler(api) : httplib::Server::Handler(ctl);
    I.http.Get(pattern, h);
    I.http.Post(pattern, h);
    I.http.Patch(pattern, h);
    I.http.Delete(pattern, h);
    I.http.Put(pattern, h);
  }
  I.boundPort = I.options.port == 0
                    ? I.http.bind_to_any_port(I.options.host)
                    : (I.http.bind_to_port(I.options.host, I.options.port) ? I.options.port : -1);
  if (I.boundPort <= 0)
    throw std::runtime_error("prefectsim: cannot bind " + I.options.host + ":" +
                             std::to_string(I.options.port));
  I.running = true;
  I.thread = std::thread([&I] { I.http.listen_after_bind(); });
}

std::string Server::url() const {
  return "http://" + impl_->options.host + ":" + std::to_string(impl_->boundPort) + "/api";
}

int Server::port() const {
  return impl_->boundPort;
}

void Server::stop() {
  if (!impl_ || !impl_->running.exchange(false)) return;
  impl_->http.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

DemoIds Server::seedDemo() {
  auto& I = *impl_;
  std::lock_guard<std::mutex> lock(I.mu);
  DemoIds ids;
  ids.workPoolName = "demo-pool";
  if (!I.pools.count(ids.workPoolName))
    I.createPool({{"name", ids.workPoolName}, {"type", "kubernetes"}});
  ids.workPoolId = I.pools[ids.workPoolName].j["id"];
  std::string now = isoTime(nowMicros());
  json f = {{"id", newUuid()},
            {"created", now},
            {"updated", now},
            {"name", "demo-flow"},
            {"tags", json::array()}};
  I.flows[f["id"]] = f;
  ids.flowId = f["id"];
  auto r = I.createDeployment({{"name", "demo-deployment"},
                               {"flow_id", ids.flowId},
                               {"work_pool_name", ids.workPoolName},
                               {"work_queue_name", "default"},
                               {"job_variables", {{"image", "busybox:1.36"}}}});
  ids.deploymentId = r.body["id"];
  return ids;
}

}  // namespace prefectsim
