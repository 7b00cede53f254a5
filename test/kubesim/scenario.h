#pragma once
// What a simulated container does, written in the pod (see docs/kubesim-cluster.md):
//   annotation kubesim.io/scenario: "run 2s; exit 3"
// or, when the pod has no such annotation, chosen by the first container's image:
//   kubesim/exit:3, kubesim/unschedulable, kubesim/image-pull-fail, kubesim/crash-loop, ...
// Anything else runs for 1s and exits 0.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <vector>

namespace kubesim {

inline constexpr const char* kScenarioAnnotation = "kubesim.io/scenario";
inline constexpr const char* kLogAnnotation = "kubesim.io/log";

struct Scenario {
  double runSeconds = 1.0;  // how long the container runs before it exits
  int exitCode = 0;
  bool unschedulable = false;  // the scheduler never finds a node
  bool imagePullFail = false;  // ErrImagePull, then ImagePullBackOff, forever
  // How long after "Failed to pull image" the ImagePullBackOff Events come ("Error: ErrImagePull"
  // halfway): a real kubelet spreads them over seconds. `image-pull-fail over 3s`.
  double pullEventsSpread = 0.5;
  bool oomKilled = false;            // exits 137 with reason OOMKilled after runSeconds
  std::optional<double> evictAfter;  // evicted this long after the container started
  // Evicted as current kubelets leave it: the container terminated with reason
  // ContainerStatusUnknown and exit code 137 (`evict after 2s; unknown-status`).
  bool evictUnknownStatus = false;
  double ignoreSigtermSeconds = 0;  // keeps running this long after SIGTERM
  double pullSeconds = 0.2;         // how long pulling the image takes
  std::vector<std::string> logs;    // what the container prints (pods/log)
  std::string source;               // "annotation", "image" or "default", for messages
};

struct ScenarioParse {
  std::optional<Scenario> scenario;
  std::string error;  // set when scenario is empty: what is wrong, for a person
};

// Parses the scenario language: statements separated by ';' or newlines.
ScenarioParse parseScenario(const std::string& text);
// The scenario an image name selects (kubesim/<what>[:<arg>]); nullopt for other images.
std::optional<Scenario> scenarioFromImage(const std::string& image);
// Annotation first, then the first container's image, then the default.
ScenarioParse scenarioForPod(const nlohmann::json& pod);
// "2s", "500ms", "1.5m", "3" (seconds) -> seconds.
std::optional<double> parseDuration(const std::string& text);

}  // namespace kubesim
