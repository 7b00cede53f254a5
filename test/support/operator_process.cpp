#include "test/support/operator_process.h"

namespace testsupport {

std::string operatorBinary() {
  return binaryDir() + "/operator/flowrun-operator";
}

std::vector<std::string> operatorArgv(const std::string& kubeconfig,
                                      const std::vector<std::string>& extraArgs) {
  std::vector<std::string> argv = {operatorBinary(),
                                   "--kubeconfig",
                                   kubeconfig,
                                   "--metrics-bind-address",
                                   "0",
                                   "--health-probe-bind-address",
                                   "0",
                                   "--operator-namespace",
                                   "flowrun-operator",
                                   "--log-format",
                                   "console"};
  argv.insert(argv.end(), extraArgs.begin(), extraArgs.end());
  return argv;
}

OperatorProcess::OperatorProcess(const std::string& kubeconfig, const std::string& logFile,
                                 const std::vector<std::string>& extraArgs,
                                 const std::map<std::string, std::string>& env)
    : BackgroundProcess(operatorArgv(kubeconfig, extraArgs), logFile, env) {}

OperatorProcess::OperatorProcess(const std::vector<std::string>& argv, const std::string& logFile,
                                 const std::map<std::string, std::string>& env)
    : BackgroundProcess(argv, logFile, env) {}

OperatorProcess::~OperatorProcess() {
  stop();
}

}  // namespace testsupport
