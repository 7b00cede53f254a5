#pragma once
// Runs a program (kubectl, flowrun-operator) from tests, with a deadline; no shell involved.
#include <chrono>
#include <map>
#include <string>
#include <vector>

namespace testsupport {

struct ProcessResult {
  int exitCode = -1;  // -1 when killed at the deadline
  std::string out;
  std::string err;
  bool timedOut = false;
};

// Runs argv[0] (looked up in PATH) with the extra environment, feeding `input` to stdin.
ProcessResult runProcess(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {},
                         const std::string& input = "",
                         std::chrono::milliseconds deadline = std::chrono::seconds(60));

// kubectl --kubeconfig KUBECONFIG ARGS...
ProcessResult kubectl(const std::string& kubeconfig, const std::vector<std::string>& args,
                      const std::string& input = "");

// A program running in the background (an operator replica, kubesim) whose output goes to a file.
// Its stdin is /dev/null; it starts with no signals blocked or ignored. The destructor kills it
// (SIGKILL) if it still runs.
class BackgroundProcess {
 public:
  // Starts argv (argv[0] looked up in PATH) with `env` added to this process's environment; stdout
  // and stderr go to `logFile` (truncated). Throws std::runtime_error when it cannot start.
  BackgroundProcess(const std::vector<std::string>& argv, const std::string& logFile,
                    const std::map<std::string, std::string>& env = {});
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  int pid() const { return pid_; }
  bool running();
  void signal(int sig);
  // Waits for the exit; returns the exit code, 128+signal when killed, -1 on timeout.
  int wait(std::chrono::milliseconds deadline = std::chrono::seconds(30));
  // SIGTERM, then SIGKILL when it has not exited after `grace`, as Kubernetes stops a container.
  // Returns what wait() returns (128+SIGKILL when it had to be killed). Idempotent.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(10));
  // SIGKILL at once, as a crash or an OOM kill would: no cleanup runs. Waits for it to end.
  void kill();
  std::string log() const;  // everything written so far

 private:
  int exitCode() const;  // of the reaped process

  int pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
  std::string logFile_;
};

// Polls `condition` until it is true or the deadline passes. Returns the last value.
template <class F>
bool waitFor(F condition, std::chrono::milliseconds deadline = std::chrono::seconds(20),
             std::chrono::milliseconds poll = std::chrono::milliseconds(20));

// A fresh temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The source tree (FLOWRUN_SOURCE_DIR) and build tree (FLOWRUN_BINARY_DIR), for crds/, examples/
// and built binaries.
std::string sourceDir();
std::string binaryDir();

}  // namespace testsupport

#include <thread>

template <class F>
bool testsupport::waitFor(F condition, std::chrono::milliseconds deadline,
                          std::chrono::milliseconds poll) {
  auto end = std::chrono::steady_clock::now() + deadline;
  while (true) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= end) return false;
    std::this_thread::sleep_for(poll);
  }
}
