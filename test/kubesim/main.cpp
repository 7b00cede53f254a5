// kubesim: the Kubernetes API simulator as a program, for the demo and for kubectl by hand.
//   kubesim --port 0 --kubeconfig-out /tmp/kubeconfig
// prints "kubesim listening on https://127.0.0.1:PORT" and serves until SIGTERM/SIGINT.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "test/kubesim/faults.h"
#include "test/kubesim/simulator.h"
#include "test/kubesim/util.h"

namespace {

void usage() {
  std::fprintf(
      stderr,
      "usage: kubesim [--port N] [--bind-address ADDR] [--kubeconfig-out FILE] [--plain-http]\n"
      "               [--time-scale X] [--authorization rbac] [--data-dir DIR] [--no-cluster]\n"
      "               [--watch-window N] [--bookmark-interval-ms N]\n"
      "               [--fault RULE]... [--fault-seed N]\n"
      "               [--enable-admission-plugins OwnerReferencesPermissionEnforcement]\n"
      "               [--starting-seconds S] [--gc-discovery-delay S]\n"
      "  --starting-seconds S  answer as a just restarted kube-apiserver for S seconds: custom\n"
      "                resources get 503 \"server is starting\", /readyz fails\n"
      "  --gc-discovery-delay S  the garbage collector learns CRDs created after the start S\n"
      "                seconds late, as a real one waits for its discovery refresh (30 s)\n"
      "  --fault RULE  fail or delay matching requests from the start; RULE is the JSON of\n"
      "                POST /kubesim/faults or key=value pairs, e.g.\n"
      "                --fault verb=create,resource=jobs,code=503,fraction=0.5\n"
      "                --fault verbs=list|watch,resource=pods,delayMs=200\n"
      "                (see docs/kubesim-cluster.md, \"Faults\")\n");
}

}  // namespace

int main(int argc, char** argv) {
  kubesim::SimulatorOptions o;
  std::string kubeconfigOut;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      auto eq = a.find('=');
      if (eq != std::string::npos) return a.substr(eq + 1);
      if (i + 1 >= argc) {
        std::fprintf(stderr, "kubesim: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    std::string flag = a.substr(0, a.find('='));
    try {
      if (flag == "--port")
        o.port = std::stoi(value());
      else if (flag == "--bind-address")
        o.bindAddress = value();
      else if (flag == "--kubeconfig-out")
        kubeconfigOut = value();
      else if (flag == "--plain-http")
        o.tls = false;
      else if (flag == "--time-scale")
        o.timeScale = std::stod(value());
      else if (flag == "--authorization") {
        std::string v = value();
        if (v != "rbac" && v != "none") {
          std::fprintf(stderr, "kubesim: --authorization must be rbac or none, not %s\n",
                       v.c_str());
          return 2;
        }
        o.rbac = v == "rbac";
      } else if (flag == "--data-dir")
        o.dataDir = value();
      else if (flag == "--no-cluster")
        o.runCluster = false;
      else if (flag == "--watch-window")
        o.watchWindow = std::stoul(value());
      else if (flag == "--bookmark-interval-ms")
        o.bookmarkInterval = std::chrono::milliseconds(std::stol(value()));
      else if (flag == "--fault") {
        std::string v = value();
        try {
          o.faultRules.push_back(kubesim::faultFlagToJson(v));
        } catch (const kubesim::ApiException& e) {
          std::fprintf(stderr, "kubesim: --fault %s: %s\n", v.c_str(), e.what());
          return 2;
        }
      } else if (flag == "--enable-admission-plugins") {
        for (const auto& plugin : kubesim::split(value(), ',')) {
          if (plugin != "OwnerReferencesPermissionEnforcement") {
            std::fprintf(stderr,
                         "kubesim: --enable-admission-plugins: %s is not simulated (only "
                         "OwnerReferencesPermissionEnforcement is)\n",
                         plugin.c_str());
            return 2;
          }
          o.ownerReferencesPermissionEnforcement = true;
        }
      } else if (flag == "--fault-seed")
        o.faultSeed = std::stoull(value());
      else if (flag == "--gc-discovery-delay")
        o.gcDiscoveryDelaySeconds = std::stod(value());
      else if (flag == "--starting-seconds")
        o.startingFor =
            std::chrono::milliseconds(static_cast<long long>(std::stod(value()) * 1000));
      else if (flag == "--help" || flag == "-h") {
        usage();
        return 0;
      } else {
        std::fprintf(stderr, "kubesim: unknown flag %s\n", a.c_str());
        usage();
        return 2;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "kubesim: bad value for %s\n", flag.c_str());
      return 2;
    }
  }
  // Block the signals in every thread; the main thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  try {
    kubesim::Simulator sim(o);
    sim.start();
    if (!kubeconfigOut.empty()) sim.writeKubeconfig(kubeconfigOut);
    std::cout << "kubesim listening on " << sim.url() << std::endl;
    int sig = 0;
    sigwait(&set, &sig);
    std::cerr << "kubesim: " << (sig == SIGTERM ? "SIGTERM" : "SIGINT") << ", stopping"
              << std::endl;
    sim.stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kubesim: %s\n", e.what());
    return 1;
  }
  return 0;
}
