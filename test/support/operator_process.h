#pragma once
// The flowrun-operator binary running in the background for the length of a test, its output in
// a file (for the failure message).
#include <map>
#include <string>
#include <vector>

#include "test/support/process.h"

namespace testsupport {

// <binaryDir>/operator/flowrun-operator
std::string operatorBinary();

// The operator binary against `kubeconfig`, with no metrics or health ports, namespace
// flowrun-operator and console logs, then `extraArgs`.
std::vector<std::string> operatorArgv(const std::string& kubeconfig,
                                      const std::vector<std::string>& extraArgs = {});

// Unlike a plain BackgroundProcess, the destructor stops it as Kubernetes would (stop(): SIGTERM,
// then SIGKILL after the grace period), so it shuts down cleanly when a test ends early.
class OperatorProcess : public BackgroundProcess {
 public:
  // Starts operatorArgv(kubeconfig, extraArgs). Throws std::runtime_error when it cannot start.
  OperatorProcess(const std::string& kubeconfig, const std::string& logFile,
                  const std::vector<std::string>& extraArgs = {},
                  const std::map<std::string, std::string>& env = {});
  // Starts argv as given (argv[0] the binary), e.g. with the arguments a manifest passes.
  OperatorProcess(const std::vector<std::string>& argv, const std::string& logFile,
                  const std::map<std::string, std::string>& env);
  ~OperatorProcess();  // stop()
};

}  // namespace testsupport
