#include "operator/runtime/graceful_shutdown.h"

#include <algorithm>
#include <thread>

#include "operator/runtime/logging.h"

namespace runtime {

bool gracefulShutdown(const ShutdownPlan& plan, std::chrono::milliseconds timeout) {
  using std::chrono::milliseconds;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(
                                         deadline - std::chrono::steady_clock::now()));
  };
  logger().info("Shutting down", {{"timeoutMs", timeout.count()}});

  // Controllers stop in parallel: each one's in-flight reconciles get the whole budget.
  std::vector<std::thread> stoppers;
  std::vector<char> finished(plan.controllers.size(), 1);
  for (std::size_t i = 0; i < plan.controllers.size(); ++i) {
    if (!plan.controllers[i]) continue;
    stoppers.emplace_back(
        [&, i, budget = left()] { finished[i] = plan.controllers[i]->stop(budget) ? 1 : 0; });
  }
  for (auto& t : stoppers) t.join();
  bool allFinished = std::all_of(finished.begin(), finished.end(), [](char f) { return f; });

  if (plan.recorder) plan.recorder->shutdown(std::min(left(), milliseconds(2000)));
  if (plan.elector) plan.elector->stop();
  for (auto* i : plan.informers)
    if (i) i->stop();
  for (auto* s : plan.servers)
    if (s) s->stop();
  if (allFinished) {
    logger().info("Shutdown complete");
  } else {
    logger().error("Shutdown timeout passed with reconciles still running");
  }
  return allFinished;
}

}  // namespace runtime
