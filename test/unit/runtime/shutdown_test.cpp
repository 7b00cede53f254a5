#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include "operator/runtime/shutdown.h"

using namespace std::chrono_literals;

namespace {
// Runs `body` in a forked child and returns its exit code (-1 on timeout). Signals are sent
// to the child's whole process, as kubelet does, without touching the test runner.
int inChild(const std::function<int()>& body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  for (int i = 0; i < 500; ++i) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -2;
    std::this_thread::sleep_for(10ms);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}
}  // namespace

TEST_CASE("request() wakes waiters and keeps the first reason", "[shutdown]") {
  runtime::ShutdownSignal s;
  CHECK_FALSE(s.requested());
  CHECK_FALSE(s.waitFor(10ms));
  std::thread t([&] { s.request("leader election lost"); });
  s.wait();
  t.join();
  s.request("later");
  CHECK(s.requested());
  CHECK(s.reason() == "leader election lost");
}

TEST_CASE("SIGTERM requests shutdown, a second signal exits 1 at once", "[shutdown]") {
  int first = inChild([] {
    auto& s = runtime::ShutdownSignal::install();
    kill(getpid(), SIGTERM);
    if (!s.waitFor(5s)) return 10;
    return s.reason() == "SIGTERM" ? 0 : 11;
  });
  CHECK(first == 0);

  int second = inChild([] {
    auto& s = runtime::ShutdownSignal::install();
    kill(getpid(), SIGINT);
    if (!s.waitFor(5s)) return 10;
    if (s.reason() != "SIGINT") return 11;
    kill(getpid(), SIGTERM);
    std::this_thread::sleep_for(5s);  // the watcher must _exit(1) before this returns
    return 12;
  });
  CHECK(second == 1);
}
