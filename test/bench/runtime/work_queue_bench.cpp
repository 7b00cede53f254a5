// Work queue throughput: keys handed out per second with N workers, and how many adds the
// de-duplication absorbed. Prints one line per configuration.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "operator/runtime/work_queue.h"

int main() {
  using Clock = std::chrono::steady_clock;
  for (int workers : {1, 4}) {
    for (int keys : {100, 10000}) {
      runtime::MetricsRegistry reg;
      runtime::WorkQueue q({"bench", nullptr, &reg});
      std::atomic<long> processed{0};
      std::vector<std::thread> ts;
      for (int w = 0; w < workers; ++w)
        ts.emplace_back([&] {
          while (auto k = q.get()) {
            ++processed;
            q.done(*k);
          }
        });
      const long adds = 1000000;
      auto t0 = Clock::now();
      for (long i = 0; i < adds; ++i) q.add("ns/key-" + std::to_string(i % keys));
      while (q.len() > 0 || q.processing() > 0) std::this_thread::yield();
      double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      q.shutdown();
      for (auto& t : ts) t.join();
      std::printf(
          "workers=%d keys=%d adds=%ld in %.3f s: %.0f adds/s, %ld keys processed "
          "(%.1f%% absorbed by de-duplication)\n",
          workers, keys, adds, secs, adds / secs, processed.load(),
          100.0 * (1.0 - double(processed.load()) / adds));
    }
  }
}
