#include "controllers/workpool/runner.h"

#include <algorithm>

#include "controllers/flowrun/job_renderer.h"
#include "controllers/workpool/prefect/http_transport.h"
#include "controllers/workpool/worker.h"
#include "controllers/workpool/workpool_spec.h"
#include "operator/kube/base64.h"
#include "operator/runtime/logging.h"

namespace controllers::workpool {

using nlohmann::json;
using Clock = std::chrono::system_clock;

const kube::ResourceType& workPoolsResource() {
  static const kube::ResourceType t{"prefect.io", "v1alpha1", "workpools", "WorkPool", true};
  return t;
}

namespace {

std::string str(const json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

// A connection problem as a condition reason a person can act on.
std::string reasonFor(int status) {
  if (status == 0) return "Unreachable";
  if (status == 401 || status == 403) return "Unauthorized";
  if (status == 404) return "PoolNotFound";
  return "ServerError";
}

bool emptyTemplate(const json& t) {
  return !t.is_object() || t.empty() || !t.contains("job_configuration");
}

struct Outcome {
  bool connected = false;
  std::string reason;   // when not ready
  std::string message;  // for a person; never the key
};

}  // namespace

struct WorkPoolRunner::Pool {
  std::string specText;  // the spec and key fingerprint the client was built for
  WorkPoolSpec spec;
  std::unique_ptr<prefect::HttpTransport> transport;
  std::unique_ptr<prefect::Api> api;
  std::unique_ptr<Worker> worker;
  Clock::time_point lastHeartbeat{}, lastPoll{};
  Clock::time_point nextHeartbeat{};  // the heartbeat's next attempt (backs off on failure)
  int heartbeatFailures = 0;
  bool repairDue = true;     // repair() once the identity is known, then after each heartbeat
  Outcome heartbeatOutcome;  // the last heartbeat attempt's verdict, kept until the next one
  std::string lastHeartbeatIso, lastPollIso;
  json baseJobTemplate;
  std::string serverVersion;
  std::int64_t submitted = 0;
  std::int64_t active = 0;
  std::int64_t polls = 0;
  Outcome outcome;     // this tick's verdict
  Outcome apiOutcome;  // the last poll's or report's, kept until the next one
  std::string lastWarning;
};

WorkPoolRunner::WorkPoolRunner(kube::Client& client, runtime::EventRecorder& events,
                               const clusteridentity::IdentityProvider& identity,
                               RunnerOptions options)
    : client_(client), events_(events), identity_(identity), options_(std::move(options)) {}

WorkPoolRunner::~WorkPoolRunner() {
  stop();
}

kube::ResourceType WorkPoolRunner::type() const {
  return workPoolsResource();
}

void WorkPoolRunner::start() {
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      tick();
      lock.lock();
      wake_.wait_for(lock, options_.tick, [this] { return stopping_; });
    }
  });
}

void WorkPoolRunner::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void WorkPoolRunner::tick() {
  std::vector<std::string> nss = options_.namespaces;
  if (nss.empty()) nss.push_back("");
  for (const auto& ns : nss) {
    auto listed = client_.list(type(), ns);
    if (!listed.ok()) {
      if (listed.error().code != 404) {
        runtime::logger().warn("listing WorkPools failed",
                               {{"namespace", ns}, {"error", listed.error().message}});
      }
      continue;
    }
    for (const json& wp : listed.value().items) serve(wp);
  }
}

void WorkPoolRunner::scheduleHeartbeat(Pool& p, Clock::time_point now) {
  p.heartbeatOutcome = p.outcome;
  const auto interval = std::chrono::seconds(std::max(1, p.spec.heartbeatIntervalSeconds));
  if (p.outcome.reason.empty()) {
    p.heartbeatFailures = 0;
    p.nextHeartbeat = now + interval;
    return;
  }
  ++p.heartbeatFailures;
  const auto backoff = std::chrono::seconds(1LL << std::min(p.heartbeatFailures - 1, 10));
  p.nextHeartbeat = now + std::min<Clock::duration>(backoff, interval);
}

void WorkPoolRunner::repair(const json& wp, Pool& p, const std::string& clusterUid) {
  auto r = p.worker->repair(p.baseJobTemplate, p.serverVersion);
  p.submitted += r.submitted;
  const std::string key =
      str(wp.at("metadata"), "namespace") + "/" + str(wp.at("metadata"), "name");
  if (r.repaired > 0) {
    const std::string message =
        std::to_string(r.repaired) +
        " flow run(s) claimed (Pending) without a FlowRun got their FlowRun";
    events_.record(wp, "Normal", "Repaired", message);
    runtime::logger().info("repaired claimed flow runs", {{"workpool", key}, {"message", message}});
  }
  if (!r.ok()) {
    runtime::logger().warn("repairing claimed flow runs failed (retried after the next heartbeat)",
                           {{"workpool", key}, {"error", r.error}});
  }
  auto d = p.worker->deletedOnCluster(clusterUid);
  if (d.cancelledDeleted > 0) {
    const std::string message = std::to_string(d.cancelledDeleted) +
                                " flow run(s) set Cancelled in Prefect: their FlowRun was deleted";
    events_.record(wp, "Normal", "DeletedFlowRunsCancelled", message);
    runtime::logger().info("cancelled flow runs of deleted FlowRuns",
                           {{"workpool", key}, {"message", message}});
  }
  if (!d.ok()) {
    runtime::logger().warn(
        "looking for flow runs of deleted FlowRuns failed (retried after the next heartbeat)",
        {{"workpool", key}, {"error", d.error}});
  }
}

void WorkPoolRunner::serve(const json& wp) {
  const json& md = wp.at("metadata");
  const std::string ns = str(md, "namespace"), name = str(md, "name");
  auto& slot = pools_[ns + "/" + name];
  if (!slot) {
    slot = std::make_unique<Pool>();
    // The count survives restarts and leader changes: it lives in status.
    const json& st = wp.value("status", json::object());
    if (st.contains("submitted") && st["submitted"].is_number_integer()) {
      slot->submitted = st["submitted"].get<std::int64_t>();
    }
  }
  Pool& p = *slot;
  const auto now = Clock::now();

  auto parsed = parseWorkPoolSpec(wp);
  std::string apiKey;
  if (auto* err = std::get_if<SpecError>(&parsed)) {
    p.outcome = {false, "InvalidSpec", err->describe()};
  } else {
    p.spec = std::get<WorkPoolSpec>(parsed);
    p.outcome = {};
    if (p.spec.apiKeySecretName) {
      auto secret = client_.get(kube::resources::Secrets, ns, *p.spec.apiKeySecretName);
      const json data = secret.ok() ? secret.value().value("data", json::object()) : json();
      const std::string encoded = str(data, p.spec.apiKeySecretKey.c_str());
      auto decoded = kube::base64Decode(encoded);
      if (!secret.ok() || encoded.empty() || !decoded) {
        p.outcome = {false, "SecretNotFound",
                     "spec.apiKeySecret: Secret " + ns + "/" + *p.spec.apiKeySecretName +
                         (secret.ok() ? " has no key \"" + p.spec.apiKeySecretKey + "\""
                                      : ": " + secret.error().message)};
      } else {
        apiKey = *decoded;
      }
    }
  }
  if (p.outcome.reason.empty()) {
    const std::string fingerprint = wp.at("spec").dump() + "\n" + apiKey;
    if (fingerprint != p.specText || !p.worker) {
      p.specText = fingerprint;
      prefect::HttpTransportOptions o;
      o.apiUrl = p.spec.apiUrl;
      o.apiKey = apiKey;
      p.transport = std::make_unique<prefect::HttpTransport>(o);
      p.api = std::make_unique<prefect::Api>(*p.transport);
      p.worker = std::make_unique<Worker>(*p.api, client_, ns, name, p.spec);
      p.lastHeartbeat = {};
      p.nextHeartbeat = {};
      p.heartbeatFailures = 0;
      p.heartbeatOutcome = {};
      p.repairDue = true;
      p.lastPoll = {};
    }
    const std::string clusterUid = identity_.clusterUid().value_or("");
    const std::string workerName =
        p.spec.workerName.empty() ? defaultWorkerName(clusterUid, ns, name) : p.spec.workerName;
    p.worker->claimAs(clusterUid.empty() ? "" : claimMessage(workerName, clusterUid, ns, name));
    if (now >= p.nextHeartbeat) {
      p.heartbeatOutcome = {};
      if (p.serverVersion.empty()) {
        auto v = p.api->version();
        if (v.ok() && v.body.is_string()) p.serverVersion = v.body.get<std::string>();
      }
      auto pool = p.api->readWorkPool(p.spec.poolName);
      if (!pool.ok()) {
        const std::string detail = str(pool.body, "detail");
        p.outcome = {false, reasonFor(pool.status),
                     "GET work pool " + p.spec.poolName + ": " +
                         (pool.status ? "HTTP " + std::to_string(pool.status) : pool.error) +
                         (detail.empty() ? "" : ": " + detail)};
      } else {
        json desired = controllers::flowrun::defaultBaseJobTemplate();
        bool haveDesired = true;
        if (p.spec.inlineTemplate) {
          desired = *p.spec.inlineTemplate;
        } else if (p.spec.templateConfigMap) {
          auto cm = client_.get(kube::resources::ConfigMaps, ns, *p.spec.templateConfigMap);
          if (!cm.ok()) {
            p.outcome = {false, "InvalidTemplate",
                         "spec.baseJobTemplate.configMapRef: " + cm.error().message};
            haveDesired = false;
          } else {
            auto t = controllers::flowrun::baseJobTemplateFromConfigMap(
                cm.value(), p.spec.templateConfigMapKey);
            if (auto* e = std::get_if<controllers::flowrun::RenderError>(&t)) {
              p.outcome = {false, "InvalidTemplate", e->describe()};
              haveDesired = false;
            } else {
              desired = std::get<json>(t);
            }
          }
        }
        json current = pool.body.value("base_job_template", json::object());
        const bool fill = emptyTemplate(current) ||
                          (p.spec.templatePolicy == TemplatePolicy::Sync && current != desired);
        if (haveDesired && fill) {
          auto patched = p.api->setBaseJobTemplate(p.spec.poolName, desired);
          if (patched.ok()) current = desired;
        }
        p.baseJobTemplate = current;
        if (p.outcome.reason.empty() && emptyTemplate(current)) {
          p.outcome = {false, "InvalidTemplate", "the work pool has no base job template"};
        }
        auto hb = p.api->heartbeat(p.spec.poolName, workerName,
                                   static_cast<double>(p.spec.heartbeatIntervalSeconds));
        if (hb.ok()) {
          p.lastHeartbeat = now;
          p.lastHeartbeatIso = isoTimestamp(now);
        } else if (p.outcome.reason.empty()) {
          p.outcome = {
              false, reasonFor(hb.status),
              "heartbeat: " + (hb.status ? "HTTP " + std::to_string(hb.status) : hb.error)};
        }
      }
      scheduleHeartbeat(p, now);
      p.repairDue = p.repairDue || p.outcome.reason.empty();
    } else {
      p.outcome = p.heartbeatOutcome;  // a failed heartbeat holds until its retry
    }
    // Without the cluster's uid nothing is claimed: a claim must name the cluster (repair) and
    // the pid too. It is known within a moment of the operator's start.
    if (p.outcome.reason.empty() && !p.baseJobTemplate.is_null() && !clusterUid.empty()) {
      if (p.repairDue) {  // on start, then after each heartbeat
        p.repairDue = false;
        repair(wp, p, clusterUid);
      }
      // Poll each query interval (also after a failure: no hammering of a failing API).
      if (now - p.lastPoll >= std::chrono::seconds(p.spec.queryIntervalSeconds)) {
        p.lastPoll = now;
        auto polled = p.worker->poll(p.baseJobTemplate, p.serverVersion);
        p.submitted += polled.submitted;
        CycleResult cancelled;
        if (polled.ok() && (++p.polls % 2) == 0) {  // every 2 x query interval, as Prefect
          cancelled = p.worker->cancellations(clusterUid);
        }
        const CycleResult& bad = !polled.ok() ? polled : cancelled;
        if (!bad.ok()) {
          p.apiOutcome = {false, bad.prefectStatus ? reasonFor(bad.prefectStatus) : "Unreachable",
                          bad.error};
        } else {
          p.apiOutcome = {};
          p.lastPollIso = isoTimestamp(now);
        }
      }
      // Report every tick: it reads FlowRuns and calls Prefect only when there is news (a pid
      // right after the Job appears, a Crashed or Cancelled run).
      auto reported = p.worker->report();
      if (reported.ok()) {
        p.active = reported.active;
      } else {
        p.apiOutcome = {false,
                        reported.prefectStatus ? reasonFor(reported.prefectStatus) : "Unreachable",
                        reported.error};
      }
      if (!p.apiOutcome.reason.empty()) p.outcome = p.apiOutcome;
    }
    if (p.outcome.reason.empty()) p.outcome = {true, "", ""};
  }

  if (!p.outcome.connected && p.outcome.message != p.lastWarning) {
    events_.record(wp, "Warning", p.outcome.reason, p.outcome.message);
    runtime::logger().warn("work pool not ready", {{"workpool", ns + "/" + name},
                                                   {"reason", p.outcome.reason},
                                                   {"message", p.outcome.message}});
  }
  p.lastWarning = p.outcome.connected ? "" : p.outcome.message;

  // Status, written when it changed.
  const json old = wp.value("status", json::object());
  auto condition = [&](const std::string& type, bool ok, const std::string& reason,
                       const std::string& message) {
    json c = {{"type", type},
              {"status", ok ? "True" : "False"},
              {"reason", reason},
              {"message", message},
              {"observedGeneration", md.value("generation", 0)},
              {"lastTransitionTime", isoTimestamp(now).substr(0, 19) + "Z"}};
    for (const auto& o : old.value("conditions", json::array())) {
      if (str(o, "type") == type && str(o, "status") == c["status"]) {
        c["lastTransitionTime"] = o.value("lastTransitionTime", c["lastTransitionTime"]);
      }
    }
    return c;
  };
  const bool specBad = p.outcome.reason == "InvalidSpec" || p.outcome.reason == "SecretNotFound" ||
                       p.outcome.reason == "InvalidTemplate";
  const bool connected = p.outcome.connected || p.outcome.reason == "InvalidTemplate";
  json status = old;
  status["poolName"] = p.spec.poolName;
  status["observedGeneration"] = md.value("generation", 0);
  status["submitted"] = p.submitted;
  status["active"] = p.active;
  if (!p.serverVersion.empty()) status["serverVersion"] = p.serverVersion;
  if (!p.lastPollIso.empty()) status["lastPollTime"] = p.lastPollIso.substr(0, 19) + "Z";
  if (!p.lastHeartbeatIso.empty()) {
    status["lastHeartbeatTime"] = p.lastHeartbeatIso.substr(0, 19) + "Z";
  }
  status["conditions"] = json::array(
      {condition("Ready", p.outcome.connected, p.outcome.connected ? "Polling" : p.outcome.reason,
                 p.outcome.connected ? "polling work pool " + p.spec.poolName : p.outcome.message),
       condition("Connected", connected,
                 connected ? "Connected" : (specBad ? "NotAttempted" : p.outcome.reason),
                 connected ? "the Prefect API answered" : p.outcome.message)});
  if (status != old) {
    json updated = wp;
    updated["status"] = status;
    auto w = client_.updateStatus(type(), updated);
    if (!w.ok() && w.error().code != 409) {
      runtime::logger().warn("writing WorkPool status failed",
                             {{"workpool", ns + "/" + name}, {"error", w.error().message}});
    }
  }
}

}  // namespace controllers::workpool
