#include "controllers/workpool/worker.h"

#include <cstdio>
#include <ctime>
#include <map>

#include "controllers/flowrun/json_util.h"
#include "controllers/flowrun/labels.h"
#include "controllers/workpool/flowrun_for.h"

namespace controllers::workpool {

using nlohmann::json;

namespace {

using flowrun::jsonutil::str;

bool terminal(const std::string& phase) {
  return phase == "Succeeded" || phase == "Failed" || phase == "Crashed" || phase == "Cancelled";
}

std::string annotation(const json& obj, const char* key) {
  return str(obj.value("metadata", json::object()).value("annotations", json::object()), key);
}

std::string describe(const prefect::Response& r, const std::string& what) {
  if (r.status == 0) return what + ": Prefect API unreachable: " + r.error;
  std::string detail = str(r.body, "detail");
  if (detail.empty() && r.body.is_object() && r.body.contains("detail")) {
    detail = r.body.at("detail").dump();
  }
  return what + ": HTTP " + std::to_string(r.status) + (detail.empty() ? "" : ": " + detail) +
         (r.malformed ? ": " + r.error : "");
}

}  // namespace

std::string isoTimestamp(std::chrono::system_clock::time_point t) {
  const auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
  const std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(micros));
  return buf;
}

Worker::Worker(prefect::Api& api, kube::Client& kube, std::string ns, std::string workPoolName,
               WorkPoolSpec spec, std::function<Clock::time_point()> now)
    : api_(api),
      kube_(kube),
      ns_(std::move(ns)),
      workPoolName_(std::move(workPoolName)),
      spec_(std::move(spec)),
      now_(now ? std::move(now) : [] { return Clock::now(); }) {}

std::string claimMessage(const std::string& workerName, const std::string& clusterUid,
                         const std::string& ns, const std::string& workPoolName) {
  return "Claimed by worker " + workerName + " (cluster " + clusterUid + ", WorkPool " + ns + "/" +
         workPoolName + ")";
}

std::string nonZeroExitMessage(int exitCode) {
  return "Flow run infrastructure exited with non-zero status code " + std::to_string(exitCode) +
         ".";
}

kube::Result<std::vector<json>> Worker::poolFlowRuns() {
  kube::ListOptions options;
  options.labelSelector =
      std::string(kLabelWorkPool) + "=" + controllers::flowrun::toLabelValue(workPoolName_);
  auto listed = kube_.list(kube::resources::FlowRuns, ns_, options);
  if (!listed.ok()) return listed.error();
  return listed.value().items;
}

// -1 (and `result.error`) when the FlowRuns cannot be listed.
int Worker::activeFlowRuns(CycleResult& result) {
  auto existing = poolFlowRuns();
  if (!existing.ok()) {
    result.error = "listing FlowRuns: " + existing.error().message;
    return -1;
  }
  int active = 0;
  known_.clear();
  for (const json& fr : existing.value()) {
    active += !terminal(str(fr.value("status", json::object()), "phase"));
    known_.insert(str(fr.value("metadata", json::object()), "name"));
  }
  return active;
}

CycleResult Worker::poll(const json& baseJobTemplate, const std::string& prefectVersion) {
  CycleResult result;
  deployments_.clear();
  flows_.clear();
  result.active = activeFlowRuns(result);
  if (result.active < 0) return result;
  const auto before = now_() + std::chrono::seconds(spec_.prefetchSeconds);
  auto scheduled = api_.scheduledFlowRuns(spec_.poolName, spec_.workQueues, isoTimestamp(before));
  if (!scheduled.ok() || !scheduled.body.is_array()) {
    result.prefectStatus = scheduled.status;
    result.error = describe(scheduled, "get_scheduled_flow_runs");
    return result;
  }
  for (const json& item : scheduled.body) {
    if (spec_.limit > 0 && result.active >= spec_.limit) break;
    const json& run = item.is_object() ? item.value("flow_run", json()) : json();
    if (str(run, "id").empty()) continue;
    if (!submit(run, baseJobTemplate, prefectVersion, result)) break;
  }
  return result;
}

const json* Worker::cachedRead(std::map<std::string, json>& cache, const std::string& id,
                               bool deployment, CycleResult& result) {
  if (auto it = cache.find(id); it != cache.end()) return &it->second;
  auto r = deployment ? api_.readDeployment(id) : api_.readFlow(id);
  if (!r.ok()) {
    result.prefectStatus = r.status;
    result.error =
        describe(r, std::string(deployment ? "reading deployment " : "reading flow ") + id);
    return nullptr;
  }
  return &cache.emplace(id, r.body).first->second;
}

// false stops the cycle (an error the next cycle retries).
bool Worker::submit(const json& run, const json& baseJobTemplate, const std::string& prefectVersion,
                    CycleResult& result) {
  const std::string id = str(run, "id");
  const std::string name = flowRunNameFor(id);
  // Already ours (listed at the start of this cycle): never a second FlowRun. One made since by
  // another replica means Prefect has the run PENDING: the proposal below is ABORTed.
  if (known_.count(name)) return true;
  if (const std::string dep = str(run, "deployment_id"); !dep.empty()) {
    if (!cachedRead(deployments_, dep, true, result)) return false;
  }
  prefect::StateProposal pending{"PENDING", "Pending", std::nullopt, false};
  if (!claim_.empty()) pending.message = claim_;
  auto proposed = api_.setState(id, pending);
  if (!proposed.response.ok()) {
    result.prefectStatus = proposed.response.status;
    result.error = describe(proposed.response, "proposing Pending for " + id);
    return false;
  }
  if (!proposed.accepted()) {  // REJECT / ABORT / WAIT: another worker has it, or it moved on
    ++result.notOurs;
    return true;
  }
  // Dying here leaves the run PENDING with our claim and no FlowRun: repair() finds it.
  return createFlowRun(run, baseJobTemplate, prefectVersion, result);
}

bool Worker::createFlowRun(const json& run, const json& baseJobTemplate,
                           const std::string& prefectVersion, CycleResult& result) {
  const std::string id = str(run, "id");
  const std::string name = flowRunNameFor(id);
  json deployment;
  if (const std::string dep = str(run, "deployment_id"); !dep.empty()) {
    const json* d = cachedRead(deployments_, dep, true, result);
    if (!d) return false;  // PENDING and ours: repair() retries it
    deployment = *d;
  }
  json flow;
  if (const std::string flowId = str(run, "flow_id"); !flowId.empty()) {
    CycleResult ignored;  // only labels need the flow: a failed read does not lose the run
    if (const json* f = cachedRead(flows_, flowId, false, ignored)) flow = *f;
  }
  FlowRunInputs in{workPoolName_, ns_,        &spec_, baseJobTemplate,
                   run,           deployment, flow,   prefectVersion};
  std::string buildError;
  const json object = buildFlowRun(in, buildError);
  if (object.is_null()) {
    api_.setState(id, {"CRASHED", "Crashed",
                       "Flow run could not be submitted to infrastructure: " + buildError, false});
    result.error = buildError;
    return false;
  }
  auto created = kube_.create(kube::resources::FlowRuns, ns_, object);
  if (!created.ok() && created.error().code != 409) {
    // Left PENDING with our claim and without a FlowRun: repair() creates it later.
    result.error = "creating FlowRun " + name + ": " + created.error().message;
    return false;
  }
  ++result.submitted;
  ++result.active;
  return true;
}

CycleResult Worker::repair(const json& baseJobTemplate, const std::string& prefectVersion) {
  CycleResult result;
  if (claim_.empty()) return result;
  deployments_.clear();
  flows_.clear();
  result.active = activeFlowRuns(result);
  if (result.active < 0) return result;
  constexpr int kPage = 200;  // the server's largest page (PREFECT_API_DEFAULT_LIMIT)
  std::vector<json> ours;
  for (int offset = 0; offset < 50 * kPage; offset += kPage) {
    auto page = api_.filterFlowRuns(spec_.poolName, "PENDING", std::nullopt, offset, kPage);
    if (!page.ok() || !page.body.is_array()) {
      result.prefectStatus = page.status;
      result.error = describe(page, "flow_runs/filter PENDING");
      return result;
    }
    for (const json& run : page.body) {
      const json state = run.is_object() ? run.value("state", json::object()) : json::object();
      // Ours only if the state is exactly our claim and no Job was reported for it yet.
      if (str(state, "message") == claim_ && str(run, "infrastructure_pid").empty() &&
          !str(run, "id").empty()) {
        ours.push_back(run);
      }
    }
    if (page.body.size() < static_cast<std::size_t>(kPage)) break;
  }
  for (const json& run : ours) {
    if (spec_.limit > 0 && result.active >= spec_.limit) break;  // repaired when a slot frees
    const std::string name = flowRunNameFor(str(run, "id"));
    auto found = kube_.get(kube::resources::FlowRuns, ns_, name);
    if (found.ok()) continue;  // created; only the pid is still to come
    if (found.error().code != 404) {
      result.error = "reading FlowRun " + name + ": " + found.error().message;
      return result;
    }
    const int before = result.submitted;
    if (!createFlowRun(run, baseJobTemplate, prefectVersion, result)) return result;
    result.repaired += result.submitted - before;
  }
  return result;
}

// A merge patch of the one annotation, with the resourceVersion as a precondition (409 when the
// FlowRun changed since it was read): the FlowRun read from the cache is trimmed (no full spec),
// so it is never written back whole.
bool Worker::markReported(json& fr, const char* key, const std::string& value) {
  const json& md = fr.value("metadata", json::object());
  json patch = {
      {"metadata",
       {{"resourceVersion", md.value("resourceVersion", "")}, {"annotations", {{key, value}}}}}};
  auto updated = kube_.patch(kube::resources::FlowRuns, ns_, md.value("name", ""), patch, {});
  if (!updated.ok()) return false;
  fr["metadata"]["annotations"][key] = value;
  // The new resourceVersion, for a second report in the same pass.
  fr["metadata"]["resourceVersion"] = updated.value()["metadata"].value("resourceVersion", "");
  return true;
}

CycleResult Worker::report() {
  CycleResult result;
  auto frs = poolFlowRuns();
  if (!frs.ok()) {
    result.error = "listing FlowRuns: " + frs.error().message;
    return result;
  }
  for (json fr : frs.value()) {
    const json status = fr.value("status", json::object());
    const std::string id = str(fr.value("spec", json::object()), "flowRunId");
    const std::string phase = str(status, "phase");
    if (id.empty()) continue;
    result.active += !terminal(phase);
    const std::string pid = str(status, "infrastructurePid");
    if (!pid.empty() && !str(status, "jobName").empty() &&
        annotation(fr, kAnnotationReportedPid) != pid) {
      auto r = api_.setInfrastructurePid(id, pid);
      if (!r.ok() && r.status != 404) {
        result.prefectStatus = r.status;
        result.error = describe(r, "setting infrastructure_pid of " + id);
        return result;
      }
      if (!markReported(fr, kAnnotationReportedPid, pid)) continue;
      ++result.reported;
    }
    std::optional<prefect::StateProposal> proposal;
    if (phase == "Crashed") {
      proposal = prefect::StateProposal{"CRASHED", "Crashed", str(status, "message"), false};
    } else if (phase == "Failed") {
      // As the Python worker after a non-zero exit: proposed whatever the engine said; the
      // server ABORTs it when the engine already reported a terminal state.
      const json& code = status.contains("exitCode") ? status["exitCode"] : json();
      std::string message = nonZeroExitMessage(code.is_number_integer() ? code.get<int>() : -1);
      if (!code.is_number_integer() && !str(status, "message").empty()) {
        message += " " + str(status, "message");  // what the cluster knows instead of a code
      }
      proposal = prefect::StateProposal{"CRASHED", "Crashed", message, false};
    } else if (phase == "Cancelled") {
      proposal = prefect::StateProposal{"CANCELLED", "Cancelled", str(status, "message"), true};
    }
    if (!proposal || annotation(fr, kAnnotationReportedState) == proposal->type) continue;
    auto r = api_.setState(id, *proposal);
    // REJECT/ABORT: Prefect says the run is already terminal or cancelling; never retried.
    if (!r.response.ok() && r.response.status != 404) {
      result.prefectStatus = r.response.status;
      result.error = describe(r.response, "reporting " + proposal->type + " for " + id);
      return result;
    }
    if (markReported(fr, kAnnotationReportedState, proposal->type)) ++result.reported;
  }
  return result;
}

namespace {
// "<cluster uid>:<namespace>:<job name>" of a Job in `ns` of the cluster `clusterUid`.
bool pidNames(const std::string& pid, const std::string& clusterUid, const std::string& ns) {
  const auto first = pid.find(':');
  const auto last = pid.rfind(':');
  if (first == std::string::npos || first == last) return false;
  return pid.substr(0, first) == clusterUid && pid.substr(first + 1, last - first - 1) == ns;
}
}  // namespace

CycleResult Worker::deletedOnCluster(const std::string& clusterUid) {
  CycleResult result;
  result.active = activeFlowRuns(result);  // also refreshes known_, before Prefect is asked
  if (result.active < 0) return result;
  constexpr int kPage = 200;  // the server's largest page
  for (const char* type : {"PENDING", "RUNNING"}) {
    for (int offset = 0; offset < 50 * kPage; offset += kPage) {
      auto page = api_.filterFlowRuns(spec_.poolName, type, std::nullopt, offset, kPage);
      if (!page.ok() || !page.body.is_array()) {
        result.prefectStatus = page.status;
        result.error = describe(page, std::string("flow_runs/filter ") + type);
        return result;
      }
      for (const json& run : page.body) cancelIfDeleted(run, clusterUid, result);
      if (page.body.size() < static_cast<std::size_t>(kPage)) break;
    }
  }
  return result;
}

void Worker::cancelIfDeleted(const json& run, const std::string& clusterUid, CycleResult& result) {
  const std::string id = str(run, "id");
  // A pid is reported only once the FlowRun and its Job exist: a pid of ours without its
  // FlowRun means the FlowRun was deleted on the cluster (its Job went with it).
  if (id.empty() || !pidNames(str(run, "infrastructure_pid"), clusterUid, ns_)) return;
  const std::string name = flowRunNameFor(id);
  if (known_.count(name)) return;
  const prefect::StateProposal cancelled{
      "CANCELLED", "Cancelled",
      "The FlowRun " + ns_ + "/" + name +
          " was deleted on the cluster before the flow run finished; its Job was deleted with it.",
      true};
  auto r = api_.setState(id, cancelled);
  if (r.response.ok()) ++result.cancelledDeleted;
}

CycleResult Worker::cancellations(const std::string& clusterUid) {
  CycleResult result;
  std::vector<json> runs;
  for (const auto& [type, name] :
       {std::pair<std::string, std::optional<std::string>>{"CANCELLING", std::nullopt},
        {"CANCELLED", std::string("Cancelling")}}) {
    auto r = api_.filterFlowRuns(spec_.poolName, type, name);
    if (!r.ok() || !r.body.is_array()) {
      result.prefectStatus = r.status;
      result.error = describe(r, "flow_runs/filter " + type);
      return result;
    }
    for (const json& run : r.body) runs.push_back(run);
  }
  for (const json& run : runs) {
    const std::string id = str(run, "id");
    const std::string pid = str(run, "infrastructure_pid");
    if (id.empty()) continue;
    const prefect::StateProposal cancelled{"CANCELLED", "Cancelled", std::nullopt, true};
    if (pid.empty()) {
      auto fr = kube_.get(kube::resources::FlowRuns, ns_, flowRunNameFor(id));
      if (fr.ok()) {
        // Ours but the pid is not reported yet: cancel the FlowRun like one with a pid.
        if (requestCancel(fr.value())) ++result.reported;
        continue;
      }
      prefect::StateProposal none = cancelled;
      none.message =
          "This flow run is missing infrastructure tracking information and cancellation cannot "
          "be guaranteed.";
      if (api_.setState(id, none).response.ok()) ++result.reported;
      continue;
    }
    if (!pidNames(pid, clusterUid, ns_)) continue;  // another cluster's or namespace's: untouched
    auto fr = kube_.get(kube::resources::FlowRuns, ns_, flowRunNameFor(id));
    if (!fr.ok()) {
      if (fr.error().code == 404 && api_.setState(id, cancelled).response.ok()) {
        ++result.reported;  // nothing left to stop
      }
      continue;
    }
    json object = fr.value();
    const std::string phase = str(object.value("status", json::object()), "phase");
    if (terminal(phase) && phase != "Cancelled") {
      if (api_.setState(id, cancelled).response.ok()) ++result.reported;
      continue;
    }
    if (requestCancel(object)) ++result.reported;
  }
  return result;
}

// spec.cancel set by a merge patch conditional on the resourceVersion just read (409 when the
// FlowRun changed since: the next sweep reads it again). false when it was set already.
bool Worker::requestCancel(const json& fr) {
  if (fr.value("spec", json::object()).value("cancel", false) == true) return false;
  const json& md = fr.value("metadata", json::object());
  json patch = {{"metadata", {{"resourceVersion", md.value("resourceVersion", "")}}},
                {"spec", {{"cancel", true}}}};
  return kube_.patch(kube::resources::FlowRuns, ns_, md.value("name", ""), patch, {}).ok();
}

}  // namespace controllers::workpool
