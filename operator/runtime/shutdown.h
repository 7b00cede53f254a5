#pragma once
// SIGTERM/SIGINT handling for a graceful stop, like controller-runtime's SetupSignalHandler:
// the first signal requests shutdown (everyone waiting on the ShutdownSignal wakes); a second
// signal exits at once with code 1, for an operator stuck in shutdown.
//
//   int main() {
//     auto& shutdown = runtime::ShutdownSignal::install();  // FIRST, before any thread starts
//     ... start everything ...
//     shutdown.wait();                 // returns on SIGTERM/SIGINT or request()
//     controller.stop(options.shutdownTimeout);
//     elector.stop();                  // releases the lease
//     return 0;
//   }
//
// Signals are blocked in every thread (threads inherit the mask of the one that creates them)
// and read from a signalfd by one watcher thread, so no code runs in a signal handler.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace runtime {

class ShutdownSignal {
 public:
  // A shutdown signal with no signal handling: only request() triggers it (tests, embedding).
  ShutdownSignal();
  ~ShutdownSignal();
  ShutdownSignal(const ShutdownSignal&) = delete;
  ShutdownSignal& operator=(const ShutdownSignal&) = delete;

  // The process-wide instance, now handling SIGTERM and SIGINT. Call it from main before any
  // other thread exists, so every thread inherits the blocked mask. Idempotent.
  static ShutdownSignal& install();

  // Starts watching SIGTERM/SIGINT on this instance (install() does this for the global one).
  // Returns false with a reason in `error` when the signalfd cannot be created.
  bool watchSignals(std::string* error = nullptr);

  // Triggers shutdown from code (e.g. leader election lost). The first reason wins.
  void request(const std::string& reason);
  bool requested() const;
  std::string reason() const;  // "SIGTERM", "SIGINT" or the request() reason

  void wait() const;
  // Returns true when shutdown was requested within the timeout.
  bool waitFor(std::chrono::milliseconds timeout) const;

 private:
  void watchLoop();

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool requested_ = false;
  std::string reason_;
  int signalFd_ = -1;
  int stopPipe_[2] = {-1, -1};
  std::thread watcher_;
};

}  // namespace runtime
