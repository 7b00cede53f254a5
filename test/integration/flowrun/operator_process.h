#pragma once
// (A copy of test/integration/clusteridentity's helper, plus kill().)
// The flowrun-operator binary running in the background for the length of a test, its output in
// a file (for the failure message).
#include <map>
#include <string>
#include <vector>

namespace flowruntest {

class OperatorProcess {
 public:
  // Starts <binaryDir>/operator/flowrun-operator with the kubeconfig, no metrics or health ports,
  // and `extraArgs`. Throws std::runtime_error when it cannot start.
  OperatorProcess(const std::string& kubeconfig, const std::string& logPath,
                  const std::vector<std::string>& extraArgs = {},
                  const std::map<std::string, std::string>& env = {});
  ~OperatorProcess();  // stop()
  OperatorProcess(const OperatorProcess&) = delete;
  OperatorProcess& operator=(const OperatorProcess&) = delete;

  // SIGTERM, then SIGKILL after graceMs. Returns the exit code, -1 when killed by a signal.
  int stop(int graceMs = 10000);
  // SIGKILL at once, as a crash or an OOM kill would: no cleanup runs.
  void kill();
  bool running();
  std::string log() const;

  static std::string binaryPath();

 private:
  int pid_ = -1;
  int exitCode_ = -1;
  std::string logPath_;
};

}  // namespace flowruntest
