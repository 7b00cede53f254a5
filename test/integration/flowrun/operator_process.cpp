#include "test/integration/flowrun/operator_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "test/support/process.h"

namespace flowruntest {

std::string OperatorProcess::binaryPath() {
  return testsupport::binaryDir() + "/operator/flowrun-operator";
}

OperatorProcess::OperatorProcess(const std::string& kubeconfig, const std::string& logPath,
                                 const std::vector<std::string>& extraArgs,
                                 const std::map<std::string, std::string>& env)
    : logPath_(logPath) {
  std::vector<std::string> argv = {binaryPath(),
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
  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  std::vector<std::string> envStrings;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    if (!env.count(kv.substr(0, kv.find('=')))) envStrings.push_back(kv);
  }
  for (const auto& [k, v] : env) envStrings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& e : envStrings) envp.push_back(e.data());
  envp.push_back(nullptr);

  int fd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + logPath);
  pid_ = ::fork();
  if (pid_ < 0) {
    ::close(fd);
    throw std::runtime_error("fork failed");
  }
  if (pid_ == 0) {
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  ::close(fd);
}

OperatorProcess::~OperatorProcess() {
  stop();
}

bool OperatorProcess::running() {
  if (pid_ < 0) return false;
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    exitCode_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
    return false;
  }
  return true;
}

int OperatorProcess::stop(int graceMs) {
  if (!running()) return exitCode_;
  ::kill(pid_, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(graceMs);
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
      pid_ = -1;
      exitCode_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exitCode_;
}

void OperatorProcess::kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  exitCode_ = -1;
}

std::string OperatorProcess::log() const {
  std::ifstream in(logPath_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace flowruntest
