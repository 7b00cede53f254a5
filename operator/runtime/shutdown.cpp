#include "operator/runtime/shutdown.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "operator/runtime/logging.h"

namespace runtime {

ShutdownSignal::ShutdownSignal() = default;

ShutdownSignal::~ShutdownSignal() {
  if (watcher_.joinable()) {
    char b = 1;
    // Wake the watcher through its pipe; it exits without touching the signal mask.
    [[maybe_unused]] auto n = ::write(stopPipe_[1], &b, 1);
    watcher_.join();
  }
  for (int fd : {signalFd_, stopPipe_[0], stopPipe_[1]})
    if (fd >= 0) ::close(fd);
}

ShutdownSignal& ShutdownSignal::install() {
  // Leaked on purpose: the watcher may still run while statics are destroyed at exit.
  static ShutdownSignal* instance = [] {
    auto* s = new ShutdownSignal();
    std::string error;
    if (!s->watchSignals(&error)) {
      logger().error("Cannot watch SIGTERM/SIGINT; graceful shutdown disabled", {{"error", error}});
    }
    return s;
  }();
  return *instance;
}

bool ShutdownSignal::watchSignals(std::string* error) {
  std::lock_guard lock(mu_);
  if (watcher_.joinable()) return true;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  // Block in this thread (and so in every thread it creates from now on), then read the
  // signals synchronously from a file descriptor.
  if (int rc = pthread_sigmask(SIG_BLOCK, &set, nullptr); rc != 0) {
    if (error) *error = std::string("pthread_sigmask: ") + std::strerror(rc);
    return false;
  }
  signalFd_ = ::signalfd(-1, &set, SFD_CLOEXEC);
  if (signalFd_ < 0) {
    if (error) *error = std::string("signalfd: ") + std::strerror(errno);
    return false;
  }
  if (::pipe2(stopPipe_, O_CLOEXEC) != 0) {
    if (error) *error = std::string("pipe2: ") + std::strerror(errno);
    return false;
  }
  watcher_ = std::thread([this] { watchLoop(); });
  return true;
}

void ShutdownSignal::watchLoop() {
  while (true) {
    pollfd fds[2] = {{signalFd_, POLLIN, 0}, {stopPipe_[0], POLLIN, 0}};
    int rc = ::poll(fds, 2, -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    signalfd_siginfo info{};
    if (::read(signalFd_, &info, sizeof info) != static_cast<ssize_t>(sizeof info)) continue;
    const char* name = info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT";
    if (requested()) {
      // Second signal: the operator is stuck shutting down; leave now, like controller-runtime.
      logger().error("Second signal received, exiting immediately", {{"signal", name}});
      ::_exit(1);
    }
    logger().info("Shutdown signal received", {{"signal", name}});
    request(name);
  }
}

void ShutdownSignal::request(const std::string& reason) {
  std::lock_guard lock(mu_);
  if (requested_) return;
  requested_ = true;
  reason_ = reason;
  cv_.notify_all();
}

bool ShutdownSignal::requested() const {
  std::lock_guard lock(mu_);
  return requested_;
}

std::string ShutdownSignal::reason() const {
  std::lock_guard lock(mu_);
  return reason_;
}

void ShutdownSignal::wait() const {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return requested_; });
}

bool ShutdownSignal::waitFor(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requested_; });
}

}  // namespace runtime
