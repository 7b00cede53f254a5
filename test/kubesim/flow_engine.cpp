#include "test/kubesim/flow_engine.h"

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <random>

namespace kubesim {
namespace {

using json = nlohmann::json;

std::string uuid4() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx";
  const char* hex = "0123456789abcdef";
  for (char& c : s) {
    if (c == 'x') c = hex[rng() % 16];
    if (c == 'y') c = hex[8 + rng() % 4];
  }
  return s;
}

// The body the engine's PrefectClient.set_flow_run_state posts (see the recordings).
json stateBody(const std::string& runId, const std::string& type, const std::string& name,
               const json& message) {
  json details = {{"flow_run_id", runId},         {"task_run_id", nullptr},
                  {"child_flow_run_id", nullptr}, {"scheduled_time", nullptr},
                  {"cache_key", nullptr},         {"cache_expiration", nullptr},
                  {"untrackable_result", false},  {"pause_timeout", nullptr},
                  {"pause_reschedule", false},    {"pause_key", nullptr},
                  {"run_input_keyset", nullptr},  {"refresh_cache", nullptr},
                  {"retriable", nullptr},         {"transition_id", uuid4()},
                  {"task_parameters_id", nullptr}};
  return {{"state",
           {{"type", type},
            {"name", name},
            {"message", message},
            {"state_details", details},
            {"data", nullptr}}},
          {"force", false}};
}

}  // namespace

FlowEngine::FlowEngine() : thread_([this] { run(); }) {}

FlowEngine::~FlowEngine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void FlowEngine::observe(const json& pod, const std::map<std::string, std::string>& env) {
  auto url = env.find("PREFECT_API_URL");
  auto run = env.find("PREFECT__FLOW_RUN_ID");
  if (url == env.end() || run == env.end() || url->second.empty() || run->second.empty()) return;
  const json md = pod.value("metadata", json::object());
  const json annotations = md.value("annotations", json::object());
  if (annotations.is_object() && annotations.value(kPrefectEngineAnnotation, "") == "off") return;
  const json st = pod.value("status", json::object());
  const json cs = st.value("containerStatuses", json::array());
  if (!cs.is_array() || cs.empty() || !cs[0].is_object()) return;
  const json state = cs[0].value("state", json::object());
  const std::string uid = md.value("uid", "");
  auto key = env.find("PREFECT_API_KEY");
  Report r{url->second, key == env.end() ? "" : key->second, run->second, "", "", nullptr};
  std::lock_guard<std::mutex> lock(mu_);
  int& done = reported_[uid];
  if (state.contains("running") && done < 1) {
    done = 1;
    r.type = "RUNNING";
    r.name = "Running";
    queue_.push_back(r);
  } else if (state.contains("terminated") && done < 2) {
    const int code = state["terminated"].value("exitCode", -1);
    if (done < 1) {
      Report running = r;
      running.type = "RUNNING";
      running.name = "Running";
      queue_.push_back(running);
    }
    done = 2;
    r.type = code == 0 ? "COMPLETED" : "FAILED";
    r.name = code == 0 ? "Completed" : "Failed";
    if (code != 0)
      r.message = "Flow run encountered an exception. kubesim: the container exited with code " +
                  std::to_string(code) + ".";
    queue_.push_back(r);
  } else {
    return;
  }
  cv_.notify_all();
}

void FlowEngine::drain() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void FlowEngine::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Report r = queue_.front();
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    send(r);
    lock.lock();
    busy_ = false;
    cv_.notify_all();
  }
}

void FlowEngine::send(const Report& r) {
  // PREFECT_API_URL is scheme://host:port[/prefix]
  const auto schemeEnd = r.apiUrl.find("://");
  const auto pathStart = r.apiUrl.find('/', schemeEnd == std::string::npos ? 0 : schemeEnd + 3);
  const std::string origin = r.apiUrl.substr(0, pathStart);
  std::string prefix = pathStart == std::string::npos ? "" : r.apiUrl.substr(pathStart);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  const std::string path = prefix + "/flow_runs/" + r.flowRunId + "/set_state";
  const std::string body = stateBody(r.flowRunId, r.type, r.name, r.message).dump();
  httplib::Headers headers = {{"X-PREFECT-API-VERSION", "0.8.4"}};
  if (!r.apiKey.empty()) headers.emplace("Authorization", "Bearer " + r.apiKey);
  // The real client retries 429/502/503 and connection errors; three tries, short timeouts.
  std::string last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200 * attempt));
    try {
      httplib::Client client(origin);
      client.set_connection_timeout(1, 0);
      client.set_read_timeout(2, 0);
      client.set_write_timeout(2, 0);
      auto res = client.Post(path, headers, body, "application/json");
      if (!res) {
        last = httplib::to_string(res.error());
        continue;
      }
      if (res->status == 429 || res->status == 502 || res->status == 503) {
        last = "HTTP " + std::to_string(res->status);
        continue;
      }
      if (res->status >= 300)
        std::fprintf(stderr, "kubesim flow engine: %s %s for flow run %s: HTTP %d %s\n",
                     r.type.c_str(), path.c_str(), r.flowRunId.c_str(), res->status,
                     res->body.substr(0, 300).c_str());
      return;
    } catch (const std::exception& e) {
      last = e.what();
    }
  }
  std::fprintf(stderr, "kubesim flow engine: giving up reporting %s for flow run %s to %s: %s\n",
               r.type.c_str(), r.flowRunId.c_str(), r.apiUrl.c_str(), last.c_str());
}

}  // namespace kubesim
