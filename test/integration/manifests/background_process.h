#pragma once
// A program running in the background for the length of a test (the operator), with its output in
// a file. testsupport::runProcess waits for its program; this one does not.
#include <map>
#include <string>
#include <vector>

namespace manifeststest {

class BackgroundProcess {
 public:
  // Starts argv (argv[0] is a path) with `env` added to this process's environment; stdout and
  // stderr go to `logPath`. Throws std::runtime_error when it cannot start.
  BackgroundProcess(const std::vector<std::string>& argv,
                    const std::map<std::string, std::string>& env, std::string logPath);
  ~BackgroundProcess();  // stop()
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  // SIGTERM, then SIGKILL after `graceMs`; returns the exit code (-1 when killed by a signal).
  // Idempotent.
  int stop(int graceMs = 10000);
  bool running();
  std::string log() const;  // everything it wrote so far

 private:
  int pid_ = -1;
  int exitCode_ = -1;
  std::string logPath_;
};

}  // namespace manifeststest
