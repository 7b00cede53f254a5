// The scale figures of issue 13, measured against a kubesim process and an operator process
// (both binaries given on the command line, so an older build can be measured the same way).
// Each mode prints table rows "| figure | value | goal | command |"; scripts/bench.sh runs them
// all. Not a test: it asserts nothing about speed, it prints what it measured.
//
//   bench_scale MODE --kubesim BIN --operator BIN [--n N] [--workers W] [--seconds S]
//   MODE: burst | rss | lifecycle | latency
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "operator/kube/client.h"
#include "operator/kube/http_client.h"
#include "operator/kube/kubeconfig.h"
#include "operator/kube/resource.h"
#include "test/support/process.h"

using json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

struct Args {
  std::string mode, kubesim, op;
  int n = 2000;
  int workers = 4;
  double seconds = 30;
  double rate = 100;
  std::string self;  // argv as given, for the "command" column
};

// The kubesim and operator processes started, killed when the bench fails or is stopped (a
// timeout's SIGTERM), so that none outlives it and loads the machine.
constexpr int kMaxChildren = 16;
volatile std::sig_atomic_t g_children[kMaxChildren] = {};

void addChild(int pid) {
  for (auto& c : g_children) {
    if (c == 0) {
      c = pid;
      return;
    }
  }
}

void removeChild(int pid) {
  for (auto& c : g_children) {
    if (c == pid) c = 0;
  }
}

void killChildren() {
  for (auto& c : g_children) {
    if (c > 0) ::kill(c, SIGKILL);
  }
}

extern "C" void onSignal(int sig) {
  killChildren();
  std::_Exit(128 + sig);
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "bench_scale: %s\n", what.c_str());
  killChildren();
  std::exit(1);
}

double secondsSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double>(SteadyClock::now() - t0).count();
}

int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) fail("cannot bind a port");
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

long rssKiB(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// CPU seconds (user + system) a process has used so far.
double cpuSeconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), {});
  std::size_t close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(text.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::atof(field.c_str());
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

void row(const std::string& figure, const std::string& value, const std::string& goal,
         const std::string& command) {
  std::printf("| %s | %s | %s | `%s` |\n", figure.c_str(), value.c_str(), goal.c_str(),
              command.c_str());
  std::fflush(stdout);
}

// kubesim as a process, with its kubeconfig and a client without a client-side rate limit.
struct Sim {
  testsupport::TempDir dir;
  std::unique_ptr<testsupport::BackgroundProcess> proc;
  std::string kubeconfig;
  std::unique_ptr<kube::Client> client;

  explicit Sim(const std::string& bin) {
    kubeconfig = dir.file("kubeconfig");
    proc = std::make_unique<testsupport::BackgroundProcess>(
        std::vector<std::string>{bin, "--port", "0", "--kubeconfig-out", kubeconfig, "--time-scale",
                                 "0.05"},
        dir.file("kubesim.log"));
    addChild(proc->pid());
    if (!testsupport::waitFor(
            [&] {
              std::ifstream f(kubeconfig);
              std::string s((std::istreambuf_iterator<char>(f)), {});
              return s.find("current-context") != std::string::npos;
            },
            20s)) {
      fail("kubesim did not write its kubeconfig: " + proc->log());
    }
    auto cfg = kube::loadRestConfig(kubeconfig);
    if (!cfg.ok()) fail("kubeconfig: " + cfg.error().describe());
    kube::HttpClientOptions o;
    o.qps = 0;
    client = kube::makeHttpClient(*cfg, o);
    auto applied = kubectl({"apply", "-f", testsupport::sourceDir() + "/crds/"});
    if (applied.exitCode != 0) fail("kubectl apply crds: " + applied.err);
    if (!testsupport::waitFor(
            [&] {
              return kubectl({"get", "flowruns", "-A"}).exitCode == 0;
            },
            20s, 50ms)) {
      fail("the FlowRun CRD is not served");
    }
    namespace_("flowrun-operator");
  }
  ~Sim() {
    proc->stop(5s);
    removeChild(proc->pid());
  }
  testsupport::ProcessResult kubectl(const std::vector<std::string>& args) {
    return testsupport::kubectl(kubeconfig, args);
  }
  void namespace_(const std::string& name) {
    auto r = client->create(
        kube::resources::Namespaces, "",
        json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}});
    if (!r.ok() && !r.error().isAlreadyExists()) fail("namespace " + name);
  }
  // The request log, every record so far.
  json requests() {
    auto r = testsupport::runProcess(
        {"kubectl", "--kubeconfig", kubeconfig, "get", "--raw", "/kubesim/requests"}, {}, "", 120s);
    if (r.exitCode != 0) fail("GET /kubesim/requests: " + r.err);
    return json::parse(r.out)["requests"];
  }
};

// The operator as a process with a health port; readiness is polled on /readyz.
struct Operator {
  std::unique_ptr<testsupport::BackgroundProcess> proc;
  int port = 0;
  SteadyClock::time_point started;
  Operator(const std::string& bin, Sim& sim, const std::string& logName,
           const std::vector<std::string>& extra) {
    port = freePort();
    std::vector<std::string> argv = {bin,
                                     "--kubeconfig",
                                     sim.kubeconfig,
                                     "--metrics-bind-address",
                                     "0",
                                     "--health-probe-bind-address",
                                     "127.0.0.1:" + std::to_string(port),
                                     "--operator-namespace",
                                     "flowrun-operator",
                                     "--log-format",
                                     "console"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    started = SteadyClock::now();
    proc = std::make_unique<testsupport::BackgroundProcess>(argv, sim.dir.file(logName));
    addChild(proc->pid());
  }
  ~Operator() {
    proc->stop(10s);
    removeChild(proc->pid());
  }
  // Seconds from the start to the first 200 of /readyz; -1 after the deadline.
  double waitReady(std::chrono::seconds deadline = 300s) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(0, 200000);
    c.set_read_timeout(1, 0);
    auto end = SteadyClock::now() + deadline;
    while (SteadyClock::now() < end) {
      auto r = c.Get("/readyz");
      if (r && r->status == 200) return secondsSince(started);
      if (!proc->running()) fail("the operator exited: " + proc->log());
      std::this_thread::sleep_for(5ms);
    }
    return -1;
  }
};

// A watch on one resource in one namespace, calling back for every event, re-opened when the
// server ends it.
class Watcher {
 public:
  using Callback = std::function<void(const std::string& type, const json& obj)>;
  Watcher(kube::Client& client, const kube::ResourceType& type, std::string ns, Callback cb)
      : client_(client), type_(type), ns_(std::move(ns)), cb_(std::move(cb)) {
    auto list = client_.list(type_, ns_);
    if (!list.ok()) fail("list for a watch: " + list.error().describe());
    rv_ = list->resourceVersion;
    thread_ = std::thread([this] { run(); });
  }
  ~Watcher() {
    stop_ = true;
    {
      std::lock_guard lock(mu_);
      if (stream_) stream_->cancel();
    }
    thread_.join();
  }

 private:
  void run() {
    while (!stop_) {
      kube::WatchOptions o;
      o.resourceVersion = rv_;
      o.timeoutSeconds = 3600;
      auto s = client_.watch(type_, ns_, o);
      if (!s.ok()) {
        std::this_thread::sleep_for(100ms);
        continue;
      }
      {
        std::lock_guard lock(mu_);
        stream_ = std::move(*s);
        if (stop_) return;
      }
      while (!stop_) {
        auto ev = stream_->next();
        if (!ev || !ev->ok()) break;
        const kube::WatchEvent& e = **ev;
        if (e.type == "ERROR") break;
        std::string rv = e.object["metadata"].value("resourceVersion", "");
        if (!rv.empty()) rv_ = rv;
        if (e.type != "BOOKMARK") cb_(e.type, e.object);
      }
    }
  }
  kube::Client& client_;
  const kube::ResourceType& type_;
  std::string ns_;
  Callback cb_;
  std::string rv_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::unique_ptr<kube::WatchStream> stream_;
  std::thread thread_;
};

// When each Job of a namespace was first seen, and each FlowRun's phase.
struct Tracker {
  std::mutex mu;
  std::map<std::string, SteadyClock::time_point> jobSeen;  // by Job name
  std::map<std::string, std::string> phase;                // FlowRun name -> phase
  std::size_t terminal = 0;
  std::unique_ptr<Watcher> jobs, flowRuns;
  Tracker(Sim& sim, const std::string& ns) {
    jobs = std::make_unique<Watcher>(
        *sim.client, kube::resources::Jobs, ns, [this](const std::string& type, const json& j) {
          if (type != "ADDED") return;
          std::lock_guard lock(mu);
          jobSeen.emplace(j["metadata"].value("name", ""), SteadyClock::now());
        });
    flowRuns = std::make_unique<Watcher>(*sim.client, kube::resources::FlowRuns, ns,
                                         [this](const std::string& type, const json& fr) {
                                           if (type == "DELETED") return;
                                           std::string p;
                                           if (fr.contains("status") && fr["status"].is_object()) {
                                             p = fr["status"].value("phase", "");
                                           }
                                           std::lock_guard lock(mu);
                                           auto& old = phase[fr["metadata"].value("name", "")];
                                           auto term = [](const std::string& s) {
                                             return s == "Succeeded" || s == "Failed" ||
                                                    s == "Crashed" || s == "Cancelled";
                                           };
                                           if (term(p) && !term(old)) ++terminal;
                                           old = p;
                                         });
  }
  std::size_t jobCount() {
    std::lock_guard lock(mu);
    return jobSeen.size();
  }
  std::size_t terminalCount() {
    std::lock_guard lock(mu);
    return terminal;
  }
  std::size_t succeededCount() {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (const auto& [name, p] : phase) n += p == "Succeeded";
    return n;
  }
};

json flowRun(const std::string& ns, const std::string& name,
             const std::string& image = "kubesim/ok") {
  return {{"apiVersion", "prefect.io/v1alpha1"},
          {"kind", "FlowRun"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"flowRunId", "0b8c1b5e-0000-4000-8000-000000000001"}, {"image", image}}}};
}

// Runs work(i) for i in [0, n) on `workers` threads.
double parallel(int n, int workers, const std::function<bool(int)>& work, int& failures) {
  std::atomic<int> next{0}, failed{0};
  auto t0 = SteadyClock::now();
  std::vector<std::thread> ts;
  for (int w = 0; w < workers; ++w) {
    ts.emplace_back([&] {
      for (int i = next++; i < n; i = next++) {
        if (!work(i)) ++failed;
      }
    });
  }
  for (auto& t : ts) t.join();
  failures = failed;
  return secondsSince(t0);
}

void createFlowRuns(Sim& sim, const std::string& ns, int from, int to, int workers) {
  int failures = 0;
  parallel(
      to - from, workers,
      [&](int i) {
        return sim.client
            ->create(kube::resources::FlowRuns, ns, flowRun(ns, "fr-" + std::to_string(from + i)))
            .ok();
      },
      failures);
  if (failures) fail(std::to_string(failures) + " FlowRun creates failed");
}

// (a) What the contract needs per run, pushed by a load generator alone: FlowRun create, Job
// create, one status write, one Event. The status written is terminal so that an operator
// started later in the same kubesim leaves these FlowRuns alone.
double requestMix(Sim& sim, const std::string& ns, int n, int workers) {
  sim.namespace_(ns);
  // The same observers as in (b): the watches that see each Job appear and each run finish.
  Tracker t(sim, ns);
  int failures = 0;
  double secs = parallel(
      n, workers,
      [&](int i) {
        const std::string name = "mix-" + std::to_string(i);
        auto fr = sim.client->create(kube::resources::FlowRuns, ns, flowRun(ns, name));
        if (!fr.ok()) return false;
        json container = {{"name", "flow"}, {"image", "kubesim/ok"}};
        json podSpec = {{"restartPolicy", "Never"}, {"containers", json::array({container})}};
        json job = {{"apiVersion", "batch/v1"},
                    {"kind", "Job"},
                    {"metadata", {{"name", name}, {"namespace", ns}}},
                    {"spec", {{"backoffLimit", 0}, {"template", {{"spec", podSpec}}}}}};
        if (!sim.client->create(kube::resources::Jobs, ns, job).ok()) return false;
        json obj = *fr;
        obj["status"] = {{"phase", "Succeeded"},
                         {"reason", "JobCreated"},
                         {"message", "Job " + name + " created"},
                         {"jobName", name},
                         {"observedGeneration", 1}};
        if (!sim.client->updateStatus(kube::resources::FlowRuns, obj).ok()) return false;
        json ev = {{"apiVersion", "v1"},
                   {"kind", "Event"},
                   {"metadata", {{"name", name + ".bench"}, {"namespace", ns}}},
                   {"involvedObject",
                    {{"apiVersion", "prefect.io/v1alpha1"},
                     {"kind", "FlowRun"},
                     {"name", name},
                     {"namespace", ns},
                     {"uid", (*fr)["metadata"].value("uid", "")}}},
                   {"reason", "JobCreated"},
                   {"message", "Job " + name + " created"},
                   {"type", "Normal"},
                   {"source", {{"component", "flowrun-operator"}}},
                   {"count", 1}};
        return sim.client->create(kube::resources::CoreEvents, ns, ev).ok();
      },
      failures);
  if (failures) fail(std::to_string(failures) + " of the request mix failed");
  return n / secs;
}

// (b) The operator turning n FlowRuns, created by `workers` threads, into Jobs. Returns Jobs/s
// from the first create to the n-th Job; waits until every run is terminal.
struct BurstCpu {
  double op = 0, sim = 0;
};

double burst(Sim& sim, const std::string& ns, int n, int workers,
             const std::function<void()>& atLastJob) {
  sim.namespace_(ns);
  Tracker t(sim, ns);
  auto t0 = SteadyClock::now();
  createFlowRuns(sim, ns, 0, n, workers);
  if (!testsupport::waitFor([&] { return t.jobCount() >= static_cast<std::size_t>(n); }, 900s,
                            5ms)) {
    fail("only " + std::to_string(t.jobCount()) + " of " + std::to_string(n) + " Jobs appeared");
  }
  double rate = n / secondsSince(t0);
  atLastJob();
  testsupport::waitFor([&] { return t.terminalCount() >= static_cast<std::size_t>(n); }, 600s,
                       50ms);
  return rate;
}

void modeBurst(const Args& a) {
  Sim sim(a.kubesim);
  const std::string w = std::to_string(a.workers);
  const int simPid = sim.proc->pid();
  double simCpu0 = cpuSeconds(simPid);
  double mix = requestMix(sim, "mix", a.n, a.workers);
  double simCpuMix = (cpuSeconds(simPid) - simCpu0) * 1000 / a.n;
  row("(a) request mix alone (FlowRun create + Job create + status write + Event), " +
          std::to_string(a.n) + " runs, " + w + " clients",
      fmt("%.0f runs/s (kubesim %.2f ms CPU per run)", mix, simCpuMix), "(the server's pace)",
      a.self);
  double rates[2];
  const std::vector<std::string> flags[2] = {{}, {"--kube-api-qps", "0"}};
  const char* names[2] = {"default flags", "--kube-api-qps 0"};
  for (int k = 0; k < 2; ++k) {
    std::vector<std::string> extra = flags[k];
    if (a.workers != 4) {
      extra.push_back("--max-concurrent-reconciles");
      extra.push_back(w);
    }
    Operator op(a.op, sim, "operator-burst-" + std::to_string(k) + ".log", extra);
    if (op.waitReady() < 0) fail("operator not ready");
    double simCpu = cpuSeconds(simPid), opCpu = cpuSeconds(op.proc->pid());
    BurstCpu cpu;
    rates[k] = burst(sim, "burst-" + std::to_string(k), a.n, a.workers, [&] {
      cpu.sim = (cpuSeconds(simPid) - simCpu) * 1000 / a.n;
      cpu.op = (cpuSeconds(op.proc->pid()) - opCpu) * 1000 / a.n;
    });
    row("(b) operator: " + std::to_string(a.n) + " FlowRuns -> Jobs, " + names[k] +
            (a.workers != 4 ? ", " + w + " workers" : "") + ", created by " + w + " clients",
        fmt("%.0f Jobs/s (b/a = %.2f; CPU per run until the last Job: operator %.2f ms, "
            "kubesim %.2f ms)",
            rates[k], rates[k] / mix, cpu.op, cpu.sim),
        k == 0 ? "the server's pace" : "b/a >= 0.8", a.self);
  }
  if (std::getenv("BENCH_REQUESTS")) {  // every request of the run, by verb, resource, code
    std::map<std::string, int> by;
    for (const json& r : sim.requests()) {
      ++by[r.value("verb", "") + " " + r.value("resource", "") + " " +
           std::to_string(r.value("code", 0))];
    }
    for (const auto& [k, v] : by) std::fprintf(stderr, "%8d %s\n", v, k.c_str());
  }
}

long settledRss(int pid) {
  // After a burst the allocator keeps what it used: the figure is what stays, read twice.
  std::this_thread::sleep_for(3s);
  return rssKiB(pid);
}

bool isWrite(const json& r) {
  std::string v = r.value("verb", "");
  return v == "create" || v == "update" || v == "patch" || v == "delete" || v == "deletecollection";
}

void modeRss(const Args& a) {
  Sim sim(a.kubesim);
  sim.namespace_("data");
  int small = std::max(1, a.n / 10);
  double idle = 0;
  long rss1 = 0, rss10 = 0;
  {
    Operator op(a.op, sim, "operator-rss.log", {"--kube-api-qps", "0"});
    if (op.waitReady() < 0) fail("operator not ready");
    idle = static_cast<double>(settledRss(op.proc->pid()));
    Tracker t(sim, "data");
    // In chunks of `small`, each run to its end before the next: the figure is the memory of
    // finished runs, not of a backlog (a burst of 10,000 outruns kubesim's one cluster thread,
    // and pods that miss the 60 s start window end Crashed).
    for (int from = 0; from < a.n; from += small) {
      const int to = std::min(a.n, from + small);
      createFlowRuns(sim, "data", from, to, a.workers);
      if (!testsupport::waitFor([&] { return t.terminalCount() >= static_cast<std::size_t>(to); },
                                600s, 100ms)) {
        fail("only " + std::to_string(t.terminalCount()) + " of " + std::to_string(to) +
             " FlowRuns finished");
      }
      if (from == 0) rss1 = settledRss(op.proc->pid());
    }
    rss10 = settledRss(op.proc->pid());
    std::size_t ok = t.succeededCount();
    row("operator RSS: idle / " + std::to_string(small) + " / " + std::to_string(a.n) +
            " finished FlowRuns (+ Jobs, pods; " + std::to_string(ok) + " Succeeded)",
        fmt("%.1f / %.1f / %.1f MB; %.1f KB per FlowRun", idle / 1024, rss1 / 1024.0,
            rss10 / 1024.0, (rss10 - rss1) / static_cast<double>(a.n - small)),
        "<= 64 MB at 10,000; <= 2 KB per FlowRun", a.self);
  }
  // Restart with every FlowRun terminal: time to /readyz, and the writes it makes (Leases
  // excluded: leader election is off by default anyway).
  std::size_t before = sim.requests().size();
  Operator op(a.op, sim, "operator-restart.log", {});
  double ready = op.waitReady();
  std::this_thread::sleep_for(3s);
  json log = sim.requests();
  std::map<std::string, int> writes;
  int total = 0;
  for (std::size_t i = before; i < log.size(); ++i) {
    const json& r = log[i];
    if (!isWrite(r) || r.value("resource", "") == "leases") continue;
    ++writes[r.value("verb", "") + " " + r.value("resource", "") +
             (r.value("subresource", "").empty() ? "" : "/" + r.value("subresource", ""))];
    ++total;
  }
  std::string which;
  for (const auto& [k, v] : writes) which += " " + k + ":" + std::to_string(v);
  row("restart with " + std::to_string(a.n) + " terminal FlowRuns: time to /readyz, writes " +
          "(until 3 s after ready)",
      fmt("%.2f s, ", ready) + std::to_string(total) + " writes" + which, "<= 2 s, 0 writes",
      a.self);
}

void modeLifecycle(const Args& a) {
  Sim sim(a.kubesim);
  sim.namespace_("life");
  Operator op(a.op, sim, "operator-life.log", {});
  if (op.waitReady() < 0) fail("operator not ready");
  Tracker t(sim, "life");
  std::size_t before = sim.requests().size();
  // Paced: one FlowRun every 1/rate s, so that the runs do not queue behind each other.
  const double pace = std::min(a.rate, 20.0);
  auto t0 = SteadyClock::now();
  for (int i = 0; i < a.n; ++i) {
    std::this_thread::sleep_until(t0 + std::chrono::duration_cast<SteadyClock::duration>(
                                           std::chrono::duration<double>(i / pace)));
    if (!sim.client
             ->create(kube::resources::FlowRuns, "life",
                      flowRun("life", "fr-" + std::to_string(i), "kubesim/run:5s"))
             .ok()) {
      fail("FlowRun create failed");
    }
  }
  if (!testsupport::waitFor([&] { return t.terminalCount() >= static_cast<std::size_t>(a.n); },
                            600s, 50ms)) {
    fail("runs did not finish");
  }
  std::this_thread::sleep_for(2s);
  json log = sim.requests();
  std::map<std::string, int> by;
  int writes = 0, reads = 0, conflicts = 0;
  for (std::size_t i = before; i < log.size(); ++i) {
    const json& r = log[i];
    if (r.value("namespace", "") != "life") continue;
    std::string res = r.value("resource", "");
    std::string sub = r.value("subresource", "");
    std::string verb = r.value("verb", "");
    if (verb == "watch" || (verb == "list" && res != "pods" && res != "events")) continue;
    if (res == "flowruns" && verb == "create") continue;  // the bench's own
    if (r.value("code", 0) == 409) ++conflicts;
    if (isWrite(r)) {
      ++writes;
    } else {
      ++reads;
    }
    ++by[verb + " " + res + (sub.empty() ? "" : "/" + sub)];
  }
  std::string detail;
  for (const auto& [k, v] : by) detail += fmt("; %.2f ", static_cast<double>(v) / a.n) + k;
  std::size_t ok = t.succeededCount();
  row("requests per FlowRun to Succeeded (" + std::to_string(a.n) + " runs at " +
          fmt("%.0f", pace) + "/s, " + std::to_string(ok) + " Succeeded, default flags)",
      fmt("%.2f writes + %.2f reads, %.2f conflicts (409)", static_cast<double>(writes) / a.n,
          static_cast<double>(reads) / a.n, static_cast<double>(conflicts) / a.n) +
          detail,
      "<= 1.2 x 7 = 8.4 writes (1 Job create + 3 x (status write + Event))", a.self);
}

void modeLatency(const Args& a) {
  Sim sim(a.kubesim);
  sim.namespace_("lat");
  Operator op(a.op, sim, "operator-lat.log", {});
  if (op.waitReady() < 0) fail("operator not ready");
  Tracker t(sim, "lat");
  const int n = static_cast<int>(a.rate * a.seconds);
  std::vector<SteadyClock::time_point> created(static_cast<std::size_t>(n));
  std::vector<double> rtt(static_cast<std::size_t>(n));
  std::atomic<int> failed{0};
  auto t0 = SteadyClock::now() + 100ms;
  // Two senders, each on its own schedule, so that one slow answer does not delay the next.
  std::vector<std::thread> senders;
  for (int s = 0; s < 2; ++s) {
    senders.emplace_back([&, s] {
      for (int i = s; i < n; i += 2) {
        std::this_thread::sleep_until(t0 + std::chrono::duration_cast<SteadyClock::duration>(
                                               std::chrono::duration<double>(i / a.rate)));
        auto start = SteadyClock::now();
        auto r = sim.client->create(kube::resources::FlowRuns, "lat",
                                    flowRun("lat", "fr-" + std::to_string(i)));
        created[static_cast<std::size_t>(i)] = SteadyClock::now();
        rtt[static_cast<std::size_t>(i)] = secondsSince(start) * 1000;
        if (!r.ok()) ++failed;
      }
    });
  }
  for (auto& s : senders) s.join();
  if (failed) fail(std::to_string(failed.load()) + " FlowRun creates failed");
  if (!testsupport::waitFor([&] { return t.jobCount() >= static_cast<std::size_t>(n); }, 900s,
                            5ms)) {
    fail("only " + std::to_string(t.jobCount()) + " Jobs appeared");
  }
  std::vector<double> lat;
  {
    std::lock_guard lock(t.mu);
    for (int i = 0; i < n; ++i) {
      auto it = t.jobSeen.find("fr-" + std::to_string(i));
      if (it == t.jobSeen.end()) continue;
      lat.push_back(
          std::chrono::duration<double>(it->second - created[static_cast<std::size_t>(i)]).count() *
          1000);
    }
  }
  row("FlowRun created -> Job created at " + fmt("%.0f", a.rate) + "/s for " +
          fmt("%.0f", a.seconds) + " s, default flags (vs the FlowRun create round trip)",
      fmt("p50 %.1f ms, p99 %.1f ms (create round trip p50 %.1f ms, p99 %.1f ms)",
          percentile(lat, 0.5), percentile(lat, 0.99), percentile(rtt, 0.5), percentile(rtt, 0.99)),
      "p99 <= round trip p99 + 50 ms", a.self);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: bench_scale burst|rss|lifecycle|latency --kubesim BIN --operator BIN "
                 "[--n N] [--workers W] [--seconds S] [--rate R]\n");
    return 2;
  }
  std::signal(SIGTERM, onSignal);
  std::signal(SIGINT, onSignal);
  a.mode = argv[1];
  std::ostringstream self;
  self << "bench_scale " << a.mode;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string f = argv[i], v = argv[i + 1];
    if (f == "--kubesim") {
      a.kubesim = v;
    } else if (f == "--operator") {
      a.op = v;
    } else if (f == "--n") {
      a.n = std::atoi(v.c_str());
    } else if (f == "--workers") {
      a.workers = std::atoi(v.c_str());
    } else if (f == "--seconds") {
      a.seconds = std::atof(v.c_str());
    } else if (f == "--rate") {
      a.rate = std::atof(v.c_str());
    } else {
      fail("unknown flag " + f);
    }
    if (f != "--kubesim" && f != "--operator") self << " " << f << " " << v;
  }
  if (a.kubesim.empty() || a.op.empty()) fail("--kubesim and --operator are required");
  self << " --kubesim K --operator O";
  a.self = self.str();
  if (a.mode == "burst") {
    modeBurst(a);
  } else if (a.mode == "rss") {
    modeRss(a);
  } else if (a.mode == "lifecycle") {
    modeLifecycle(a);
  } else if (a.mode == "latency") {
    modeLatency(a);
  } else {
    fail("unknown mode " + a.mode);
  }
  return 0;
}
