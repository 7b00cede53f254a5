#pragma once
// The Prefect flow engine inside a simulated pod (`prefect flow-run execute`): for a pod whose
// first container's env has PREFECT_API_URL and PREFECT__FLOW_RUN_ID, it reports the flow run's
// states to that API as the engine does: set_state RUNNING when the container starts, COMPLETED
// (exit 0) or FAILED (non-zero) when it exits, with "Authorization: Bearer $PREFECT_API_KEY" when
// the key is set. The pod annotation kubesim.io/prefect-engine: "off" models an engine that never
// reports. The HTTP calls run on the engine's own thread, off the kubelet, with short timeouts; a
// failing Prefect API is logged to stderr and never affects the pod.
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace kubesim {

inline constexpr const char* kPrefectEngineAnnotation = "kubesim.io/prefect-engine";

class FlowEngine {
 public:
  FlowEngine();
  ~FlowEngine();
  FlowEngine(const FlowEngine&) = delete;
  FlowEngine& operator=(const FlowEngine&) = delete;

  // Called by the kubelet after it wrote a pod: reports what changed since the last call for this
  // pod uid (start and exit of the first container). `env` is that container's resolved env.
  void observe(const nlohmann::json& pod, const std::map<std::string, std::string>& env);
  // Waits until every queued report was sent or given up (tests).
  void drain();

 private:
  struct Report {
    std::string apiUrl, apiKey, flowRunId, type, name;
    nlohmann::json message;
  };
  void run();
  static void send(const Report& r);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Report> queue_;
  std::map<std::string, int> reported_;  // pod uid -> 1 running reported, 2 final reported
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace kubesim
