#include "operator/app/options.h"

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <sstream>

namespace app {

namespace {

struct Flag {
  const char* name;
  const char* help;
  bool isBool;
  std::function<std::string(const Options&)> show;
  // Returns an error message, or "" when the value was accepted.
  std::function<std::string(Options&, const std::string&)> set;
};

std::string showDuration(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + "s";
  return std::to_string(d.count()) + "ms";
}

std::string setBool(bool& target, const std::string& v) {
  if (v == "true" || v == "1") {
    target = true;
  } else if (v == "false" || v == "0") {
    target = false;
  } else {
    return "expects true or false, got \"" + v + "\"";
  }
  return "";
}

std::string setInt(int& target, const std::string& v, int min) {
  try {
    std::size_t used = 0;
    int n = std::stoi(v, &used);
    if (used != v.size() || n < min) throw std::invalid_argument(v);
    target = n;
    return "";
  } catch (const std::exception&) {
    return "expects a whole number >= " + std::to_string(min) + ", got \"" + v + "\"";
  }
}

std::string setDuration(std::chrono::milliseconds& target, const std::string& v) {
  auto d = parseDuration(v);
  if (!d || d->count() <= 0) return "expects a duration such as 15s or 500ms, got \"" + v + "\"";
  target = *d;
  return "";
}

// A namespace name is an RFC 1123 label; the message is the API server's for one.
std::string namespaceNameProblem(const std::string& name) {
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  bool ok = !name.empty() && name.size() <= 63 && alnum(name.front()) && alnum(name.back());
  for (char c : name) ok = ok && (alnum(c) || c == '-');
  if (ok) return "";
  if (name.size() > 63) return "\"" + name + "\": must be no more than 63 characters";
  return "\"" + name +
         "\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
         "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
         "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
}

// "" means cluster-wide; otherwise every comma-separated item must be a namespace name, so that
// a stray ",," or a typo never silently widens the operator to the whole cluster.
std::string setNamespaces(std::vector<std::string>& target, const std::string& v) {
  std::vector<std::string> out;
  if (v.empty()) {
    target.clear();
    return "";
  }
  std::stringstream ss(v + ",");
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) {
      return "\"" + v +
             "\" has an empty item (leave the flag out, or give it \"\", to watch the whole "
             "cluster)";
    }
    if (auto problem = namespaceNameProblem(item); !problem.empty()) {
      return problem;
    }
    if (std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
  }
  target = std::move(out);
  return "";
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

const std::vector<Flag>& flags() {
  static const std::vector<Flag> table = {
      {"kubeconfig", "path to a kubeconfig; default $KUBECONFIG, ~/.kube/config, then in-cluster",
       false, [](const Options& o) { return o.kubeconfig; },
       [](Options& o, const std::string& v) {
         o.kubeconfig = v;
         return std::string();
       }},
      {"context", "kubeconfig context to use instead of current-context", false,
       [](const Options& o) { return o.context; },
       [](Options& o, const std::string& v) {
         o.context = v;
         return std::string();
       }},
      {"kube-api-qps",
       "client-side request rate limit (requests/s); 0 turns it off and leaves the pace to the "
       "API server's Priority and Fairness",
       false,
       [](const Options& o) {
         std::ostringstream s;
         s << o.kubeApiQps;
         return s.str();
       },
       [](Options& o, const std::string& v) {
         try {
           std::size_t used = 0;
           double q = std::stod(v, &used);
           if (used != v.size() || q < 0) throw std::invalid_argument(v);
           o.kubeApiQps = q;
           return std::string();
         } catch (const std::exception&) {
           return "expects a number >= 0, got \"" + v + "\"";
         }
       }},
      {"kube-api-burst", "client-side request burst (with --kube-api-qps > 0)", false,
       [](const Options& o) { return std::to_string(o.kubeApiBurst); },
       [](Options& o, const std::string& v) { return setInt(o.kubeApiBurst, v, 1); }},
      {"namespaces",
       "comma-separated namespaces to watch (namespace-pool mode, namespaced Roles only); "
       "empty: cluster-wide",
       false, [](const Options& o) { return join(o.namespaces); },
       [](Options& o, const std::string& v) { return setNamespaces(o.namespaces, v); }},
      {"operator-namespace",
       "the operator's own namespace (identity backup, lease); env POD_NAMESPACE", false,
       [](const Options& o) { return o.operatorNamespace; },
       [](Options& o, const std::string& v) {
         if (v.empty()) return std::string("must not be empty");
         if (auto problem = namespaceNameProblem(v); !problem.empty()) {
           return problem;
         }
         o.operatorNamespace = v;
         return std::string();
       }},
      {"cluster-identity", "name of the ClusterIdentity object the operator uses", false,
       [](const Options& o) { return o.clusterIdentity; },
       [](Options& o, const std::string& v) {
         if (v.empty()) return std::string("must not be empty");
         o.clusterIdentity = v;
         return std::string();
       }},
      {"create-cluster-identity", "create the ClusterIdentity object when it is missing", true,
       [](const Options& o) { return std::string(o.createClusterIdentity ? "true" : "false"); },
       [](Options& o, const std::string& v) { return setBool(o.createClusterIdentity, v); }},
      {"cluster-uid",
       "pin the cluster identity (e.g. the old kube-system UID); env "
       "PREFECT_KUBERNETES_CLUSTER_UID",
       false, [](const Options& o) { return o.clusterUid; },
       [](Options& o, const std::string& v) {
         o.clusterUid = v;
         return std::string();
       }},
      {"adopt-cluster-property",
       "take the identity from the KEP-2149 ClusterProperty cluster.clusterset.k8s.io", true,
       [](const Options& o) { return std::string(o.adoptClusterProperty ? "true" : "false"); },
       [](Options& o, const std::string& v) { return setBool(o.adoptClusterProperty, v); }},
      {"identity-backup-configmap",
       "ConfigMap in the operator namespace that keeps a copy of the identity", false,
       [](const Options& o) { return o.identityBackupConfigMap; },
       [](Options& o, const std::string& v) {
         if (v.empty()) return std::string("must not be empty");
         o.identityBackupConfigMap = v;
         return std::string();
       }},
      {"store-api-key-in-secret",
       "move a literal PREFECT_API_KEY from a FlowRun's env into a Secret owned by the FlowRun",
       true, [](const Options& o) { return std::string(o.storeApiKeyInSecret ? "true" : "false"); },
       [](Options& o, const std::string& v) { return setBool(o.storeApiKeyInSecret, v); }},
      {"max-concurrent-reconciles", "reconcile workers per controller", false,
       [](const Options& o) { return std::to_string(o.maxConcurrentReconciles); },
       [](Options& o, const std::string& v) { return setInt(o.maxConcurrentReconciles, v, 1); }},
      {"resync-period",
       "relist every informer and hand every cached FlowRun, Job and pod to the reconcilers "
       "again this often, so that a lost watch event is recovered; 0 turns it off",
       false, [](const Options& o) { return showDuration(o.resyncPeriod); },
       [](Options& o, const std::string& v) {
         auto d = parseDuration(v);
         if (!d || d->count() < 0) {
           return "expects a duration such as 10m or 30s (0 turns resync off), got \"" + v + "\"";
         }
         o.resyncPeriod = *d;
         return std::string();
       }},
      {"enable-workpools",
       "serve WorkPool objects: poll their Prefect work pools and run flow runs as FlowRuns", true,
       [](const Options& o) { return std::string(o.enableWorkPools ? "true" : "false"); },
       [](Options& o, const std::string& v) { return setBool(o.enableWorkPools, v); }},
      {"leader-elect", "use a coordination.k8s.io Lease so that only one replica reconciles", true,
       [](const Options& o) { return std::string(o.leaderElect ? "true" : "false"); },
       [](Options& o, const std::string& v) { return setBool(o.leaderElect, v); }},
      {"leader-election-id", "name of the Lease", false,
       [](const Options& o) { return o.leaderElectionId; },
       [](Options& o, const std::string& v) {
         if (v.empty()) return std::string("must not be empty");
         o.leaderElectionId = v;
         return std::string();
       }},
      {"leader-election-namespace", "namespace of the Lease; default: the operator namespace",
       false, [](const Options& o) { return o.leaderElectionNamespace; },
       [](Options& o, const std::string& v) {
         o.leaderElectionNamespace = v;
         return std::string();
       }},
      {"lease-duration", "how long a Lease is valid without renewal", false,
       [](const Options& o) { return showDuration(o.leaseDuration); },
       [](Options& o, const std::string& v) { return setDuration(o.leaseDuration, v); }},
      {"renew-deadline", "how long the leader retries renewing before it gives up leadership",
       false, [](const Options& o) { return showDuration(o.renewDeadline); },
       [](Options& o, const std::string& v) { return setDuration(o.renewDeadline, v); }},
      {"retry-period", "interval between Lease acquire/renew attempts", false,
       [](const Options& o) { return showDuration(o.retryPeriod); },
       [](Options& o, const std::string& v) { return setDuration(o.retryPeriod, v); }},
      {"metrics-bind-address", "address of /metrics (host:port, :port; 0 disables)", false,
       [](const Options& o) { return o.metricsBindAddress; },
       [](Options& o, const std::string& v) {
         o.metricsBindAddress = v;
         return std::string();
       }},
      {"health-probe-bind-address", "address of /healthz and /readyz (0 disables)", false,
       [](const Options& o) { return o.healthProbeBindAddress; },
       [](Options& o, const std::string& v) {
         o.healthProbeBindAddress = v;
         return std::string();
       }},
      {"log-format", "json (one object per line) or console", false,
       [](const Options& o) { return o.logFormat; },
       [](Options& o, const std::string& v) {
         if (v != "json" && v != "console") return "expects json or console, got \"" + v + "\"";
         o.logFormat = v;
         return std::string();
       }},
      {"log-level", "debug, info, warn or error", false,
       [](const Options& o) { return o.logLevel; },
       [](Options& o, const std::string& v) {
         if (v != "debug" && v != "info" && v != "warn" && v != "error") {
           return "expects debug, info, warn or error, got \"" + v + "\"";
         }
         o.logLevel = v;
         return std::string();
       }},
      {"shutdown-timeout", "how long in-flight reconciles may run after SIGTERM", false,
       [](const Options& o) { return showDuration(o.shutdownTimeout); },
       [](Options& o, const std::string& v) { return setDuration(o.shutdownTimeout, v); }},
  };
  return table;
}

}  // namespace

std::optional<std::chrono::milliseconds> parseDuration(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) {
    ++i;
  }
  if (i == 0) return std::nullopt;
  double n = 0;
  try {
    n = std::stod(text.substr(0, i));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::string unit = text.substr(i);
  double ms = 0;
  if (unit.empty() || unit == "s") {
    ms = n * 1000;
  } else if (unit == "ms") {
    ms = n;
  } else if (unit == "m") {
    ms = n * 60000;
  } else if (unit == "h") {
    ms = n * 3600000;
  } else {
    return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<long long>(ms));
}

ParseResult parseOptions(int argc, const char* const* argv) {
  ParseResult r;
  if (const char* ns = std::getenv("POD_NAMESPACE"); ns && *ns) r.options.operatorNamespace = ns;
  if (const char* uid = std::getenv("PREFECT_KUBERNETES_CLUSTER_UID"); uid && *uid) {
    r.options.clusterUid = uid;
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      r.options.help = true;
      continue;
    }
    if (arg == "--version") {
      r.options.version = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      r.error = "unexpected argument \"" + arg + "\" (flags start with --; see --help)";
      return r;
    }
    std::string name = arg.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const Flag* flag = nullptr;
    for (const auto& f : flags()) {
      if (name == f.name) flag = &f;
    }
    if (!flag) {
      r.error = "unknown flag --" + name + " (see --help)";
      return r;
    }
    if (!value) {
      if (flag->isBool) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        r.error = "flag --" + name + " needs a value";
        return r;
      }
    }
    if (std::string err = flag->set(r.options, *value); !err.empty()) {
      r.error = "invalid value for --" + name + ": " + err;
      return r;
    }
  }
  return r;
}

std::string helpText() {
  std::ostringstream s;
  s << "flowrun-operator runs Prefect flow runs as Kubernetes Jobs (FlowRun) and keeps a stable\n"
       "cluster identity (ClusterIdentity).\n\n"
       "Usage: flowrun-operator [flags]\n\nFlags:\n";
  Options defaults;
  for (const auto& f : flags()) {
    std::string d = f.show(defaults);
    s << "  --" << f.name << (f.isBool ? "" : " value") << "\n      " << f.help << " (default \""
      << d << "\")\n";
  }
  s << "  --help\n      print this help\n  --version\n      print the version\n";
  return s.str();
}

}  // namespace app
