// kubesim under load on this machine: 10,000 ConfigMaps created and read over HTTPS by a few
// keep-alive clients while 50 watches stream every event. Prints requests per second.
//   bench_kubesim [objects=10000] [watches=50] [clients=4]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "test/integration/kubesim_api/api_client.h"
#include "test/support/process.h"

using kubesimtest::ApiClient;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  int objects = argc > 1 ? std::atoi(argv[1]) : 10000;
  int watches = argc > 2 ? std::atoi(argv[2]) : 50;
  int clients = argc > 3 ? std::atoi(argv[3]) : 4;
  kubesim::SimulatorOptions o;
  o.runCluster = false;  // measure the API server alone
  kubesim::Simulator sim(o);
  sim.start();
  {
    ApiClient admin(sim);
    if (admin.request("POST", "/api/v1/namespaces", json{{"metadata", {{"name", "bench"}}}})
            .status != 201) {
      std::fprintf(stderr, "cannot create namespace bench\n");
      return 1;
    }
  }
  const std::string path = "/api/v1/namespaces/bench/configmaps";
  std::atomic<long> delivered{0};
  std::vector<std::thread> watchers;
  std::string rv;
  {
    ApiClient c(sim);
    rv = c.request("GET", path).body["metadata"]["resourceVersion"];
  }
  for (int i = 0; i < watches; ++i) {
    watchers.emplace_back([&] {
      ApiClient w(sim);
      int seen = 0;
      w.watch(
          path + "?watch=true&allowWatchBookmarks=true&timeoutSeconds=600&resourceVersion=" + rv,
          [&](const json& ev) {
            if (ev["type"] == "ADDED") {
              ++seen;
              ++delivered;
            }
            return seen < objects;
          });
    });
  }
  if (!testsupport::waitFor(
          [&] { return sim.requestLog().count("watch") >= static_cast<std::size_t>(watches); },
          std::chrono::seconds(60))) {
    std::fprintf(stderr, "watches did not open\n");
    return 1;
  }
  auto run = [&](auto work) {
    std::vector<std::thread> ts;
    std::atomic<int> failures{0};
    auto t0 = Clock::now();
    for (int c = 0; c < clients; ++c) {
      ts.emplace_back([&, c] {
        ApiClient api(sim);
        for (int i = c; i < objects; i += clients)
          if (!work(api, i)) ++failures;
      });
    }
    for (auto& t : ts) t.join();
    return std::make_pair(seconds(Clock::now() - t0), failures.load());
  };
  auto [createSecs, createFail] = run([&](ApiClient& api, int i) {
    json cm = {{"metadata", {{"name", "cm-" + std::to_string(i)}, {"labels", {{"bench", "yes"}}}}},
               {"data", {{"value", std::string(200, 'x')}}}};
    return api.request("POST", path, cm).status == 201;
  });
  auto deliverStart = Clock::now();
  bool allDelivered =
      testsupport::waitFor([&] { return delivered.load() >= static_cast<long>(objects) * watches; },
                           std::chrono::seconds(300));
  double deliverSecs = seconds(Clock::now() - deliverStart);
  auto [getSecs, getFail] = run([&](ApiClient& api, int i) {
    return api.request("GET", path + "/cm-" + std::to_string(i)).status == 200;
  });
  double listSecs;
  std::size_t listed;
  {
    ApiClient api(sim);
    auto t0 = Clock::now();
    listed = api.request("GET", path).body["items"].size();
    listSecs = seconds(Clock::now() - t0);
  }
  std::printf("kubesim bench: %d objects, %d concurrent watches, %d clients (HTTPS, keep-alive)\n",
              objects, watches, clients);
  std::printf("create: %.0f requests/s (%.2f s, %d failed)\n", objects / createSecs, createSecs,
              createFail);
  std::printf("get:    %.0f requests/s (%.2f s, %d failed)\n", objects / getSecs, getSecs, getFail);
  std::printf("list of %zu objects: %.3f s\n", listed, listSecs);
  std::printf("watch delivery: %ld of %ld events, all delivered %.2f s after the last create\n",
              delivered.load(), static_cast<long>(objects) * watches,
              allDelivered ? deliverSecs : -1.0);
  sim.stop();
  for (auto& t : watchers) t.join();
  return (createFail || getFail || !allDelivered) ? 1 : 0;
}
