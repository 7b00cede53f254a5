// flowrun-chaos: the chaos suite (docs/chaos.md). Runs kubesim in process, the real operator
// binary (one replica, or three with leader election), N FlowRuns of mixed outcomes applied
// with kubectl, and one of three storms:
//   kill-storm  the operator SIGKILLed every KILL_MIN..KILL_MAX seconds and started again;
//   leader      three replicas; the leader SIGKILLed, or SIGSTOPped (hung) then resumed;
//   faults      5xx, 429 with Retry-After, dropped watches, 410 Gone, an outage and a kubesim
//               restart with --data-dir (same port, CA and tokens), one after another.
// It ends with checks against kubesim's request log and a watch of every object, prints result
// lines ("chaos <scenario>: ..."), and exits 0 only when every count that must be 0 is 0.
#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test/chaos/workload.h"
#include "test/kubesim/simulator.h"
#include "test/support/operator_process.h"
#include "test/support/process.h"

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kNs = "chaos";
constexpr const char* kFinalizer = "prefect.io/flowrun-outcome";

struct Options {
  std::string scenario = "kill-storm";
  int flowruns = 40;
  int storms = 6;  // kills (kill-storm, leader) or fault steps (faults) at least
  double stormMin = 1, stormMax = 10;
  unsigned seed = 1;
  double timeScale = 0.05;
  int deadlineSeconds = 900;
};

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--scenario") {
      o.scenario = value();
    } else if (a == "--flowruns") {
      o.flowruns = std::stoi(value());
    } else if (a == "--storms" || a == "--kills") {
      o.storms = std::stoi(value());
    } else if (a == "--interval") {  // MIN-MAX seconds
      std::string v = value();
      auto dash = v.find('-');
      if (dash == std::string::npos) throw std::invalid_argument("--interval expects MIN-MAX");
      o.stormMin = std::stod(v.substr(0, dash));
      o.stormMax = std::stod(v.substr(dash + 1));
    } else if (a == "--seed") {
      o.seed = static_cast<unsigned>(std::stoul(value()));
    } else if (a == "--time-scale") {
      o.timeScale = std::stod(value());
    } else if (a == "--deadline") {
      o.deadlineSeconds = std::stoi(value());
    } else {
      throw std::invalid_argument("unknown flag " + a +
                                  " (use --scenario kill-storm|leader|faults, --flowruns N, "
                                  "--kills N, --interval MIN-MAX, --seed N, --time-scale X, "
                                  "--deadline SECONDS)");
    }
  }
  if (o.scenario != "kill-storm" && o.scenario != "leader" && o.scenario != "faults") {
    throw std::invalid_argument("--scenario must be kill-storm, leader or faults");
  }
  if (o.stormMin <= 0 || o.stormMax < o.stormMin) throw std::invalid_argument("bad --interval");
  return o;
}

bool terminal(const std::string& p) {
  return p == "Succeeded" || p == "Failed" || p == "Crashed" || p == "Cancelled";
}
bool hasFinalizer(const json& obj) {
  for (const auto& f : obj["metadata"].value("finalizers", json::array())) {
    if (f == kFinalizer) return true;
  }
  return false;
}
std::string ownerName(const json& obj) {
  for (const auto& r : obj["metadata"].value("ownerReferences", json::array())) {
    if (r.value("controller", false)) return r.value("name", "");
  }
  return obj["metadata"].value("labels", json::object()).value("prefect.io/flowrun", "");
}

// Every FlowRun status change the store commits: the first terminal outcome, and any later one
// that differs from it.
class Recorder {
 public:
  void onEvent(const kubesim::StoreEvent& e) {
    if (e.resource != "flowruns.prefect.io") return;
    const std::string name = e.object["metadata"].value("name", "");
    std::lock_guard lock(mu_);
    if (e.type == kubesim::StoreEvent::Type::Deleted) return;
    json st = e.object.value("status", json::object());
    std::string p = st.value("phase", "");
    current_[name] = st;
    if (!terminal(p)) {
      if (first_.count(name)) changes_.push_back(name + ": " + first_[name] + " -> " + p);
      return;
    }
    std::string outcome = p + "/" + st.value("reason", "");
    auto it = first_.find(name);
    if (it == first_.end()) {
      first_[name] = outcome;
    } else if (it->second != outcome) {
      changes_.push_back(name + ": " + it->second + " -> " + outcome);
    }
  }
  json status(const std::string& name) {
    std::lock_guard lock(mu_);
    auto it = current_.find(name);
    return it == current_.end() ? json::object() : it->second;
  }
  std::vector<std::string> changes() {
    std::lock_guard lock(mu_);
    return changes_;
  }

 private:
  std::mutex mu_;
  std::map<std::string, json> current_;
  std::map<std::string, std::string> first_;
  std::vector<std::string> changes_;
};

class Suite {
 public:
  explicit Suite(Options o) : o_(std::move(o)), rng_(o_.seed) {}

  int run() {
    auto started = Clock::now();
    startKubesim(0);
    setUp();
    plan_ = chaos::planWorkload(o_.flowruns, kNs, rng_);
    const int replicas = o_.scenario == "leader" ? 3 : 1;
    for (int i = 0; i < replicas; ++i) startReplica(i);
    std::thread feeder([this] { feed(); });
    std::thread canceller([this] { cancels(); });
    storm();
    feeder.join();
    done_ = true;
    canceller.join();
    // Calm: every replica up, faults off; then every run must end.
    clearFaults();
    for (int i = 0; i < replicas; ++i) ensureReplica(i);
    waitAllTerminal(std::chrono::seconds(o_.deadlineSeconds));
    int rc = check(Clock::now() - started);
    for (auto& r : replicas_) {
      if (r) r->stop(5s);
    }
    sim_->stop();
    return rc;
  }

 private:
  // --- kubesim -------------------------------------------------------------------------------
  void startKubesim(int port) {
    kubesim::SimulatorOptions so;
    so.timeScale = o_.timeScale;
    so.port = port;
    // The faults storm restarts kubesim: its state, CA and tokens live in the data dir.
    if (o_.scenario == "faults") so.dataDir = dir_.file("kubesim-data");
    sim_ = std::make_unique<kubesim::Simulator>(so);
    // Before start(): a write the operator makes the moment the server answers must be seen.
    sim_->store().subscribe([this](const kubesim::StoreEvent& e) { recorder_.onEvent(e); });
    sim_->start();
    // A restart reloads the state without events: what the data dir holds is the truth.
    for (const auto& fr : list("flowruns.prefect.io")) {
      recorder_.onEvent({kubesim::StoreEvent::Type::Modified, "flowruns.prefect.io", fr, json()});
    }
    if (port == 0) kubeconfig_ = sim_->writeKubeconfig(dir_.file("kubeconfig"));
  }

  void restartKubesim() {
    const int port = sim_->port();
    auto records = sim_->requestLog().snapshot();
    {
      std::lock_guard lock(logMu_);
      oldLog_.insert(oldLog_.end(), records.begin(), records.end());
    }
    sim_->stop();
    std::unique_ptr<kubesim::Simulator> old = std::move(sim_);
    for (int attempt = 0;; ++attempt) {
      try {
        startKubesim(port);
        break;
      } catch (const std::exception& e) {
        if (attempt > 50) throw;
        std::this_thread::sleep_for(100ms);  // the port is still being released
      }
    }
    // The operator's kubeconfig (written by the first run) must still work: same port, CA and
    // token.
    auto r = kubectl({"get", "ns", kNs, "-o", "name"});
    if (r.exitCode != 0) {
      fail("after the kubesim restart the old kubeconfig fails: " + r.err);
    }
    ++restarts_;
  }

  std::vector<kubesim::RequestRecord> requestLog() {
    std::lock_guard lock(logMu_);
    auto all = oldLog_;
    auto now = sim_->requestLog().snapshot();
    all.insert(all.end(), now.begin(), now.end());
    return all;
  }

  testsupport::ProcessResult kubectl(const std::vector<std::string>& args,
                                     const std::string& input = "") {
    return testsupport::kubectl(kubeconfig_, args, input);
  }

  void setUp() {
    auto r = kubectl({"apply", "-f", testsupport::sourceDir() + "/crds/"});
    if (r.exitCode != 0) throw std::runtime_error("applying crds/: " + r.err);
    for (const char* ns : {"flowrun-operator", kNs}) {
      r = kubectl({"apply", "-f", "-"},
                  std::string("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ") + ns + "\n");
      if (r.exitCode != 0) throw std::runtime_error(std::string("creating namespace: ") + r.err);
    }
    if (!testsupport::waitFor(
            [&] {
              return kubectl({"get", "flowruns", "-A"}).exitCode == 0;
            },
            20s, 50ms)) {
      throw std::runtime_error("the FlowRun CRD is not served");
    }
  }

  // --- operator replicas ------------------------------------------------------------------------
  std::vector<std::string> operatorArgs() const {
    std::vector<std::string> a = {"--resync-period", "30s"};
    if (o_.scenario == "leader") {
      a.insert(a.end(), {"--leader-elect", "--lease-duration", "3s", "--renew-deadline", "2s",
                         "--retry-period", "250ms"});
    }
    return a;
  }
  void startReplica(int i) {
    if (static_cast<int>(replicas_.size()) <= i) replicas_.resize(i + 1);
    replicas_[i] = std::make_unique<testsupport::OperatorProcess>(
        kubeconfig_,
        dir_.file("operator-" + std::to_string(i) + "-" + std::to_string(starts_++) + ".log"),
        operatorArgs());
  }
  void ensureReplica(int i) {
    if (!replicas_[i] || !replicas_[i]->running()) {
      if (replicas_[i]) replicas_[i]->wait(1s);
      startReplica(i);
    }
  }
  // The replica whose log says it leads; -1 when none does (yet).
  int leader() {
    for (std::size_t i = 0; i < replicas_.size(); ++i) {
      if (replicas_[i] && replicas_[i]->running() && !suspect_.count(static_cast<int>(i)) &&
          replicas_[i]->log().find("controllers started") != std::string::npos) {
        return static_cast<int>(i);
      }
    }
    return -1;
  }

  // --- workload --------------------------------------------------------------------------------
  void feed() {
    const std::size_t batch = 25;
    for (std::size_t i = 0; i < plan_.size(); i += batch) {
      std::string yaml;
      for (std::size_t j = i; j < std::min(plan_.size(), i + batch); ++j) {
        yaml += "---\n" + plan_[j].yaml;
      }
      // Applied as a user would, retried while the API server fails (the faults storm).
      bool ok = testsupport::waitFor(
          [&] {
            return kubectl({"apply", "-f", "-"}, yaml).exitCode == 0;
          },
          120s, 500ms);
      if (!ok) fail("could not apply FlowRuns " + std::to_string(i) + "..");
      auto now = Clock::now();
      {
        std::lock_guard lock(planMu_);
        for (std::size_t j = i; j < std::min(plan_.size(), i + batch); ++j) {
          appliedAt_[plan_[j].name] = now;
        }
      }
      std::this_thread::sleep_for(500ms);  // a steady arrival rate, not a synchronisation
    }
  }

  void cancels() {
    std::set<std::string> sent;
    while (!done_ || sent.size() < cancelCount()) {
      for (const auto& r : plan_) {
        if (sent.count(r.name)) continue;
        bool due = false;
        {
          std::lock_guard lock(planMu_);
          auto it = appliedAt_.find(r.name);
          if (it == appliedAt_.end()) continue;
          if (r.cancelAfterSeconds) {
            due = Clock::now() >=
                  it->second + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(*r.cancelAfterSeconds));
          }
        }
        if (r.cancelOnceFinished) due = phaseIs(r.name, "Succeeded");
        if (!due) continue;
        auto p = kubectl({"patch", "flowrun", r.name, "-n", kNs, "--type", "merge", "-p",
                          R"({"spec":{"cancel":true}})"});
        if (p.exitCode == 0) sent.insert(r.name);
      }
      if (done_ && Clock::now() > cancelDeadline_) break;
      std::this_thread::sleep_for(200ms);
    }
    cancelsSent_ = sent.size();
  }
  std::size_t cancelCount() const {
    std::size_t n = 0;
    for (const auto& r : plan_) n += (r.cancelAfterSeconds || r.cancelOnceFinished) ? 1 : 0;
    return n;
  }
  bool phaseIs(const std::string& name, const std::string& phase) {
    return recorder_.status(name).value("phase", "") == phase;
  }
  std::size_t terminalCount() {
    std::size_t n = 0;
    for (const auto& r : plan_) n += terminal(recorder_.status(r.name).value("phase", "")) ? 1 : 0;
    return n;
  }

  // --- storms -----------------------------------------------------------------------------------
  void pause() {
    std::uniform_real_distribution<double> d(o_.stormMin, o_.stormMax);
    std::this_thread::sleep_for(std::chrono::duration<double>(d(rng_)));
  }

  void storm() {
    // The storm lasts its steps, and on until every run ended, but never more than half the
    // deadline: the calm after it must let every run end.
    const auto end = Clock::now() + std::chrono::seconds(o_.deadlineSeconds) / 2;
    int step = 0;
    while (Clock::now() < end && (step < o_.storms || terminalCount() < plan_.size())) {
      pause();
      if (o_.scenario == "kill-storm") {
        replicas_[0]->kill();
        ++kills_;
        startReplica(0);
      } else if (o_.scenario == "leader") {
        leaderStep(step);
      } else {
        faultStep(step);
      }
      ++step;
    }
    cancelDeadline_ = Clock::now() + 120s;
  }

  void leaderStep(int step) {
    // Replicas that exited (a resumed leader that lost its lease exits) start again.
    for (std::size_t i = 0; i < replicas_.size(); ++i) {
      if (replicas_[i] && !replicas_[i]->running()) {
        suspect_.erase(static_cast<int>(i));
        ensureReplica(static_cast<int>(i));
      }
    }
    int l = -1;
    testsupport::waitFor([&] { return (l = leader()) >= 0; }, 30s, 100ms);
    if (l < 0) {
      fail("no leader within 30s at step " + std::to_string(step));
      return;
    }
    if (step % 2 == 0) {
      replicas_[l]->kill();
      ++kills_;
      startReplica(l);
    } else {
      // Hung for longer than the lease: another replica leads; resumed, this one must notice
      // it lost the lease and stop (it exits), never reconcile next to the new leader.
      replicas_[l]->signal(SIGSTOP);
      ++hangs_;
      std::this_thread::sleep_for(5s);
      replicas_[l]->signal(SIGCONT);
      suspect_.insert(l);
      if (!testsupport::waitFor([&] { return !replicas_[l]->running(); }, 20s, 100ms)) {
        fail("a resumed leader (replica " + std::to_string(l) +
             ") kept running after losing its lease");
        replicas_[l]->kill();
      }
    }
  }

  void admin(const std::string& path, const std::string& body) {
    std::string file = dir_.file("fault.json");
    { std::ofstream(file) << body; }
    auto r = kubectl({"create", "--raw", path, "-f", file});
    if (r.exitCode != 0) fail("admin " + path + ": " + r.err);
    ++faultSteps_;
  }
  void clearFaults() {
    if (o_.scenario != "faults") return;
    kubectl({"delete", "--raw", "/kubesim/faults"});
  }

  void faultStep(int step) {
    switch (step % 7) {
      case 0:  // 5xx on Job creates and FlowRun status writes
        admin("/kubesim/faults",
              R"({"verb":"create","resource":"jobs","code":503,"fraction":0.3,"count":30})");
        admin(
            "/kubesim/faults",
            R"({"verb":"update","resource":"flowruns/status","code":500,"fraction":0.2,"count":30})");
        break;
      case 1:  // 429 with Retry-After on reads and writes
        admin(
            "/kubesim/faults",
            R"({"verbs":["get","list","patch"],"code":429,"retryAfterSeconds":1,"fraction":0.3,"count":40})");
        break;
      case 2:  // every watch dropped
        admin("/kubesim/watches/close", "{}");
        break;
      case 3:  // the next watches answered 410 Gone: relists
        admin("/kubesim/watches/expire-next", R"({"count":3})");
        break;
      case 4:  // an outage: requests hang, watches close
        admin("/kubesim/outage", R"({"seconds":3})");
        break;
      case 5:  // slow Job creates (longer than nothing, shorter than the client timeout)
        admin("/kubesim/faults",
              R"({"verb":"create","resource":"jobs","delayMs":1500,"count":10})");
        break;
      case 6:
        restartKubesim();
        ++faultSteps_;
        break;
    }
  }

  // --- the end ----------------------------------------------------------------------------------
  void waitAllTerminal(std::chrono::seconds deadline) {
    testsupport::waitFor([&] { return terminalCount() == plan_.size(); }, deadline, 500ms);
  }

  std::vector<json> list(const std::string& resource) {
    try {
      return sim_->store().list(resource, kNs);
    } catch (const std::exception&) {
      return {};
    }
  }

  // Jobs not finished and not being deleted, and pods not finished and not being deleted, whose
  // FlowRun is terminal.
  std::vector<std::string> activeBehindTerminal() {
    std::vector<std::string> out;
    auto finished = [](const json& job) {
      for (const auto& c : job.value("status", json::object()).value("conditions", json::array()))
        if ((c.value("type", "") == "Complete" || c.value("type", "") == "Failed") &&
            c.value("status", "") == "True")
          return true;
      return false;
    };
    for (const auto& j : list("jobs.batch")) {
      if (j["metadata"].contains("deletionTimestamp") || finished(j)) continue;
      if (terminal(recorder_.status(ownerName(j)).value("phase", "")))
        out.push_back("Job " + j["metadata"].value("name", ""));
    }
    for (const auto& p : list("pods")) {
      std::string ph = p.value("status", json::object()).value("phase", "");
      if (p["metadata"].contains("deletionTimestamp") || ph == "Succeeded" || ph == "Failed")
        continue;
      std::string fr =
          p["metadata"].value("labels", json::object()).value("prefect.io/flowrun", "");
      if (terminal(recorder_.status(fr).value("phase", "")))
        out.push_back("pod " + p["metadata"].value("name", ""));
    }
    return out;
  }

  // What the API server holds for a FlowRun: its Job and pods, in short.
  std::string objectsOf(const std::string& flowRun) {
    std::string out;
    for (const char* res : {"jobs.batch", "pods"}) {
      for (const auto& obj : list(res)) {
        const json& md = obj["metadata"];
        if (md.value("labels", json::object()).value("prefect.io/flowrun", "") != flowRun) continue;
        json brief = {{"kind", res},
                      {"name", md.value("name", "")},
                      {"finalizers", md.value("finalizers", json::array())},
                      {"deletionTimestamp", md.value("deletionTimestamp", "")},
                      {"status", obj.value("status", json::object())}};
        out += brief.dump() + " ";
      }
    }
    return out.empty() ? "none" : out;
  }

  std::vector<std::string> finalizersHeld() {
    std::vector<std::string> out;
    for (const char* res : {"jobs.batch", "pods"}) {
      for (const auto& obj : list(res)) {
        if (!hasFinalizer(obj)) continue;
        std::string fr =
            obj["metadata"].value("labels", json::object()).value("prefect.io/flowrun", "");
        if (terminal(recorder_.status(fr).value("phase", "")))
          out.push_back(std::string(res) + " " + obj["metadata"].value("name", ""));
      }
    }
    return out;
  }

  static std::string join(const std::vector<std::string>& v, std::size_t max = 10) {
    std::string s;
    for (std::size_t i = 0; i < v.size() && i < max; ++i) s += (i ? "; " : "") + v[i];
    if (v.size() > max) s += "; ...";
    return s;
  }

  int check(Clock::duration took) {
    const std::string tag = "chaos " + o_.scenario + ": ";
    // Duplicates: every Job the API server accepted, by name (generateName included).
    std::map<std::string, int> creates;
    std::size_t requests = 0, injected = 0;
    for (const auto& r : requestLog()) {
      ++requests;
      if (r.code == 429 || r.code >= 500) ++injected;
      if (r.verb == "create" && r.resource == "jobs" && r.code == 201)
        ++creates[r.ns + "/" + (r.objectName.empty() ? r.name : r.objectName)];
    }
    std::size_t duplicates = 0;
    for (const auto& [name, n] : creates) duplicates += n > 1 ? n - 1 : 0;

    std::size_t stuck = 0, wrong = 0, lostCancels = 0;
    std::vector<std::string> wrongList, stuckList;
    std::map<std::string, int> outcomes;
    for (const auto& r : plan_) {
      json st = recorder_.status(r.name);
      std::string p = st.value("phase", "");
      if (!terminal(p)) {
        ++stuck;
        stuckList.push_back(r.name + " (" + r.kind + ") " + st.dump() +
                            " objects: " + objectsOf(r.name));
        continue;
      }
      ++outcomes[p];
      std::optional<int> code;
      if (st.contains("exitCode") && st["exitCode"].is_number_integer()) code = st["exitCode"];
      bool ok =
          p == r.want.phase && st.value("reason", "") == r.want.reason && code == r.want.exitCode;
      if (!ok) {
        if (r.kind == "cancel") {
          ++lostCancels;
        } else {
          ++wrong;
        }
        wrongList.push_back(r.name + " (" + r.kind + ") want " + r.want.phase + "/" +
                            r.want.reason + " got " + p + "/" + st.value("reason", "") +
                            " exitCode " + (code ? std::to_string(*code) : "none") + ": " +
                            st.value("message", ""));
      }
    }
    auto changes = recorder_.changes();
    std::vector<std::string> active, held;
    testsupport::waitFor([&] { return (active = activeBehindTerminal()).empty(); }, 30s, 500ms);
    testsupport::waitFor([&] { return (held = finalizersHeld()).empty(); }, 30s, 500ms);

    // Orphans: once every FlowRun is deleted, nothing of theirs may stay behind.
    kubectl({"delete", "flowruns", "--all", "-n", kNs, "--wait=false"});
    std::vector<std::string> orphans;
    testsupport::waitFor(
        [&] {
          orphans.clear();
          for (const auto& j : list("jobs.batch"))
            orphans.push_back("Job " + j["metadata"].value("name", ""));
          for (const auto& p : list("pods"))
            orphans.push_back("pod " + p["metadata"].value("name", ""));
          return orphans.empty();
        },
        60s, 500ms);

    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(took).count();
    std::cout << tag << "flowruns=" << plan_.size() << " kills=" << kills_ << " hangs=" << hangs_
              << " fault-steps=" << faultSteps_ << " kubesim-restarts=" << restarts_
              << " cancels-sent=" << cancelsSent_ << " seconds=" << secs << "\n";
    std::cout << tag << "requests=" << requests << " answered-429-or-5xx=" << injected
              << " jobs-created=" << creates.size() << "\n";
    std::cout << tag << "outcomes";
    for (const auto& [p, n] : outcomes) std::cout << " " << p << "=" << n;
    std::cout << "\n";
    std::cout << tag << "duplicate-jobs=" << duplicates << " orphans=" << orphans.size()
              << " stuck=" << stuck << " lost-cancels=" << lostCancels << " wrong-outcome=" << wrong
              << " terminal-changed=" << changes.size()
              << " active-behind-terminal=" << active.size() << " finalizers-held=" << held.size()
              << " harness-failures=" << failures_.size() << "\n";
    if (!stuckList.empty()) std::cout << tag << "stuck: " << join(stuckList, 3) << "\n";
    if (!wrongList.empty()) std::cout << tag << "wrong: " << join(wrongList) << "\n";
    if (!changes.empty()) std::cout << tag << "terminal changed: " << join(changes) << "\n";
    if (!active.empty()) std::cout << tag << "active behind terminal: " << join(active) << "\n";
    if (!held.empty()) std::cout << tag << "finalizers held: " << join(held) << "\n";
    if (!orphans.empty()) std::cout << tag << "orphans: " << join(orphans) << "\n";
    if (!failures_.empty()) std::cout << tag << "harness: " << join(failures_) << "\n";
    const bool pass = duplicates == 0 && orphans.empty() && stuck == 0 && lostCancels == 0 &&
                      wrong == 0 && changes.empty() && active.empty() && held.empty() &&
                      failures_.empty() && creates.size() > 0;
    std::cout << tag << (pass ? "PASS" : "FAIL") << "\n";
    if (!pass) {
      std::cout << tag << "operator logs kept in " << dir_.path() << " until exit; last log:\n";
      for (auto& r : replicas_) {
        if (!r) continue;
        std::string log = r->log();
        std::cout << log.substr(log.size() > 4000 ? log.size() - 4000 : 0) << "\n";
      }
    }
    return pass ? 0 : 1;
  }

  void fail(const std::string& what) {
    std::lock_guard lock(failMu_);
    failures_.push_back(what);
  }

  Options o_;
  std::mt19937 rng_;
  testsupport::TempDir dir_;
  std::unique_ptr<kubesim::Simulator> sim_;
  std::string kubeconfig_;
  Recorder recorder_;
  std::vector<chaos::PlannedRun> plan_;
  std::mutex planMu_;
  std::map<std::string, Clock::time_point> appliedAt_;
  std::vector<std::unique_ptr<testsupport::OperatorProcess>> replicas_;
  std::set<int> suspect_;
  int starts_ = 0;
  std::atomic<bool> done_{false};
  Clock::time_point cancelDeadline_ = Clock::now() + std::chrono::hours(24);
  std::mutex logMu_;
  std::vector<kubesim::RequestRecord> oldLog_;
  std::mutex failMu_;
  std::vector<std::string> failures_;  // guarded by failMu_ while the threads run
  int kills_ = 0, hangs_ = 0, faultSteps_ = 0, restarts_ = 0;
  std::size_t cancelsSent_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::optional<Options> o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "flowrun-chaos: " << e.what() << "\n";
    return 2;
  }
  try {
    return Suite(*o).run();
  } catch (const std::exception& e) {
    std::cerr << "flowrun-chaos: " << e.what() << "\n";
    return 1;
  }
}
