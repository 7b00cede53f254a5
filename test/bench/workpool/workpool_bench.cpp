// Worker mode under a burst, at the default intervals (query 10 s, prefetch 10 s, heartbeat
// 30 s): prefectsim in-process, kubesim in-process, the operator binary with --enable-workpools.
// N flow runs are scheduled at once on one pool; prints
//   - runs submitted per second (first to last Job, and from the burst to the last Job),
//   - requests to Prefect per run, by endpoint (the worker's only: the flow engine is off),
//   - time from a run being scheduled to its Job existing, p50 / p99 / max.
//   bench_workpool [runs=200] [operator-binary=<build>/operator/flowrun-operator]
//   BENCH_OPERATOR_ARGS="--kube-api-qps 50" adds operator flags.
// The second argument runs another build (e.g. main's) against the same setup for a before/after.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "test/integration/kubesim_api/api_client.h"
#include "test/prefectsim/server.h"
#include "test/support/operator_process.h"
#include "test/support/process.h"
#include "test/support/templates.h"

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

// "/api/flow_runs/<uuid>/set_state" -> "/api/flow_runs/{id}/set_state"
std::string endpoint(const std::string& method, const std::string& path) {
  static const std::regex id("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  return method + " " + std::regex_replace(path, id, "{id}");
}

bool fail(const char* what) {
  std::fprintf(stderr, "bench_workpool: %s\n", what);
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 200;
  const std::string binary = argc > 2 ? argv[2] : testsupport::operatorBinary();
  testsupport::TempDir dir;
  kubesim::SimulatorOptions o;
  kubesim::Simulator sim(o);
  sim.start();
  prefectsim::Server prefect;
  prefect.start();
  const prefectsim::DemoIds demo = prefect.seedDemo();
  const std::string kubeconfig = sim.writeKubeconfig(dir.file("kubeconfig"));
  auto kubectl = [&](const std::vector<std::string>& args, const std::string& input = "") {
    return testsupport::kubectl(kubeconfig, args, input);
  };
  if (kubectl({"apply", "-f", testsupport::sourceDir() + "/crds/"}).exitCode != 0 ||
      kubectl({"create", "namespace", "flowrun-operator"}).exitCode != 0 ||
      kubectl({"create", "namespace", "prefect"}).exitCode != 0) {
    return fail("cannot set up the cluster"), 1;
  }
  testsupport::waitFor([&] { return kubectl({"get", "workpools", "-A"}).exitCode == 0; }, 20s);
  std::vector<std::string> extra = {"--enable-workpools"};
  if (const char* more = std::getenv("BENCH_OPERATOR_ARGS")) {  // e.g. "--kube-api-qps 50"
    std::istringstream words(more);
    for (std::string w; words >> w;) extra.push_back(w);
  }
  auto argvOp = testsupport::operatorArgv(kubeconfig, extra);
  argvOp[0] = binary;
  testsupport::OperatorProcess op(argvOp, dir.file("operator.log"), {});

  // Default intervals: only the template is set (engine off).
  const json pool = {{"apiVersion", "prefect.io/v1alpha1"},
                     {"kind", "WorkPool"},
                     {"metadata", {{"name", demo.workPoolName}, {"namespace", "prefect"}}},
                     {"spec",
                      {{"apiUrl", prefect.url()},
                       {"baseJobTemplate",
                        {{"policy", "Sync"}, {"inline", testsupport::silentEngineTemplate()}}}}}};
  if (kubectl({"apply", "-f", "-"}, pool.dump()).exitCode != 0) return fail("apply WorkPool"), 1;
  const bool ready = testsupport::waitFor(
      [&] {
        return kubectl({"get", "wp", demo.workPoolName, "-n", "prefect", "-o",
                        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"})
                   .out == "True";
      },
      60s, 200ms);
  if (!ready) return fail("the WorkPool never became Ready"), 1;

  httplib::Client api("127.0.0.1", prefect.port());
  api.Delete("/prefectsim/requests");
  sim.requestLog().clear();
  std::map<std::string, Clock::time_point> scheduledAt;  // by FlowRun/Job name
  const auto burst = Clock::now();
  for (int i = 0; i < runs; ++i) {
    auto r = api.Post("/api/deployments/" + demo.deploymentId + "/create_flow_run",
                      json{{"job_variables", {{"image", "kubesim/sleep:1h"}}}}.dump(),
                      "application/json");
    if (!r || r->status != 201) return fail("create_flow_run"), 1;
    scheduledAt["fr-" + json::parse(r->body)["id"].get<std::string>()] = Clock::now();
  }

  kubesimtest::ApiClient kube(sim);
  std::map<std::string, Clock::time_point> jobAt, flowRunAt;
  const auto deadline = burst + std::chrono::seconds(120 + runs);
  while (static_cast<int>(jobAt.size()) < runs && Clock::now() < deadline) {
    auto frs = kube.request("GET", "/apis/prefect.io/v1alpha1/namespaces/prefect/flowruns");
    auto jobs = kube.request("GET", "/apis/batch/v1/namespaces/prefect/jobs");
    const auto now = Clock::now();
    if (frs.status == 200) {
      for (const auto& j : frs.body.value("items", json::array())) {
        flowRunAt.emplace(j["metadata"]["name"].get<std::string>(), now);
      }
    }
    if (jobs.status == 200) {
      for (const auto& j : jobs.body.value("items", json::array())) {
        jobAt.emplace(j["metadata"]["name"].get<std::string>(), now);
      }
    }
    std::this_thread::sleep_for(50ms);  // sampling period of the measurement
  }
  if (static_cast<int>(jobAt.size()) < runs) {
    std::fprintf(stderr, "only %zu of %d Jobs after the deadline\n", jobAt.size(), runs);
  }
  // Let the pids reach Prefect (their PATCH counts as the run's request), then read the log.
  testsupport::waitFor(
      [&] {
        auto f = api.Post("/api/flow_runs/filter", json{{"limit", 200}}.dump(), "application/json");
        if (!f) return false;
        int withPid = 0;
        for (const auto& r : json::parse(f->body)) withPid += r["infrastructure_pid"].is_string();
        return withPid >= std::min(runs, 200);
      },
      60s, 200ms);
  std::this_thread::sleep_for(2s);  // one more report cycle
  auto log = api.Get("/prefectsim/requests");
  std::map<std::string, int> byEndpoint;
  int total = 0;
  if (log) {
    for (const auto& r : json::parse(log->body)) {
      const std::string path = r.value("path", "");
      if (path.find("/create_flow_run") != std::string::npos) continue;  // the bench's own
      const json& body = r.contains("body") ? r["body"] : json();
      if (path == "/api/flow_runs/filter" && body.is_object() && !body.contains("work_pools")) {
        continue;  // the bench's own pid reads
      }
      ++byEndpoint[endpoint(r.value("method", ""), path)];
      ++total;
    }
  }

  struct Figures {
    std::vector<double> latency;
    Clock::time_point first = Clock::time_point::max(), last = Clock::time_point::min();
    double span() const { return latency.size() > 1 ? seconds(last - first) : 0; }
    double rate() const {
      return span() > 0 ? static_cast<double>(latency.size() - 1) / span() : 0.0;
    }
  };
  auto figures = [&](const std::map<std::string, Clock::time_point>& seen) {
    Figures f;
    for (const auto& [name, t] : seen) {
      auto s = scheduledAt.find(name);
      if (s == scheduledAt.end()) continue;
      f.latency.push_back(seconds(t - s->second));
      f.first = std::min(f.first, t);
      f.last = std::max(f.last, t);
    }
    return f;
  };
  const Figures fr = figures(flowRunAt), jb = figures(jobAt);
  std::printf("bench_workpool: %d runs, operator %s\n", runs, binary.c_str());
  std::printf("  FlowRuns / Jobs created:        %zu / %zu\n", flowRunAt.size(), jobAt.size());
  std::printf("  submit rate, first..last FlowRun: %.1f runs/s over %.1f s\n", fr.rate(),
              fr.span());
  std::printf("  submit rate, first..last Job:     %.1f runs/s over %.1f s\n", jb.rate(),
              jb.span());
  std::printf("  burst to last Job:              %.1f s (%.1f runs/s)\n", seconds(jb.last - burst),
              static_cast<double>(jobAt.size()) / seconds(jb.last - burst));
  std::printf("  scheduled -> FlowRun:           p50 %.2f s  p99 %.2f s  max %.2f s\n",
              percentile(fr.latency, 0.5), percentile(fr.latency, 0.99),
              percentile(fr.latency, 1.0));
  std::printf("  scheduled -> Job:               p50 %.2f s  p99 %.2f s  max %.2f s\n",
              percentile(jb.latency, 0.5), percentile(jb.latency, 0.99),
              percentile(jb.latency, 1.0));
  std::printf("  requests to Prefect: %d in all, %.2f per run (incl. heartbeats and polls)\n",
              total, static_cast<double>(total) / runs);
  for (const auto& [ep, n] : byEndpoint) {
    std::printf("    %-55s %6d  %.2f/run\n", ep.c_str(), n, static_cast<double>(n) / runs);
  }
  // The Kubernetes side: requests to kubesim by verb and resource (the operator's and the
  // simulated cluster's; the bench's own unfiltered lists left out), as the QPS budget sees them.
  std::map<std::string, int> kubeCalls;
  for (const auto& r : sim.requestLog().snapshot()) {
    if (r.verb == "list" && r.query.empty()) continue;  // the bench's sampling
    kubeCalls[r.user + " " + r.verb + " " + r.resource +
              (r.subresource.empty() ? "" : "/" + r.subresource)]++;
  }
  std::printf("  requests to Kubernetes (>= 0.1 per run):\n");
  for (const auto& [k, n] : kubeCalls) {
    if (n * 10 >= runs) {
      std::printf("    %-55s %6d  %.2f/run\n", k.c_str(), n, static_cast<double>(n) / runs);
    }
  }
  op.stop(5s);
  prefect.stop();
  return 0;
}
