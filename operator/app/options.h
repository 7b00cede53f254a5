#pragma once
// The operator's flags, their defaults and their parsing. `--help` prints this table.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace app {

struct Options {
  // Connection
  std::string kubeconfig;  // "" -> $KUBECONFIG, ~/.kube/config, in-cluster
  std::string context;
  // <= 0 turns the client-side rate limiter off: the default, as in controller-runtime since
  // 2025 (kubernetes-sigs/controller-runtime#3119) on SIG API Machinery's advice (API Priority and
  // Fairness protects the server). At 50 a burst of 2,000 FlowRuns queued here at 20 Jobs/s while
  // kubesim took 570 runs/s.
  double kubeApiQps = 0;
  int kubeApiBurst = 100;

  // Scope
  std::vector<std::string> namespaces;  // empty: cluster-wide
  std::string operatorNamespace = "flowrun-operator";

  // Cluster identity
  std::string clusterIdentity = "cluster";
  bool createClusterIdentity = true;
  std::string clusterUid;  // --cluster-uid or $PREFECT_KUBERNETES_CLUSTER_UID: acts as a pin
  bool adoptClusterProperty = false;
  std::string identityBackupConfigMap = "flowrun-operator-cluster-identity";

  // FlowRuns
  bool storeApiKeyInSecret = false;
  // 8: on kubesim a burst of 1,000 went 300 -> 360 Jobs/s from 4 to 8 workers (16: no better on
  // 2 cores); against a real API server each reconcile waits ~2 round trips, so more workers
  // overlap more waiting. See README, Flags.
  int maxConcurrentReconciles = 8;
  // --resync-period: cached objects are reconciled again this often (client-go's resyncPeriod);
  // 0 turns it off.
  std::chrono::milliseconds resyncPeriod{std::chrono::minutes(10)};

  // Leader election
  bool leaderElect = false;
  // --enable-workpools: serve WorkPool objects as the Prefect worker (leader only).
  bool enableWorkPools = false;
  std::string leaderElectionId = "flowrun-operator";
  std::string leaderElectionNamespace;  // "" -> operatorNamespace
  std::chrono::milliseconds leaseDuration{15000};
  std::chrono::milliseconds renewDeadline{10000};
  std::chrono::milliseconds retryPeriod{2000};

  // Serving and logging
  std::string metricsBindAddress = ":8080";  // "0" disables
  std::string healthProbeBindAddress = ":8081";
  std::string logFormat = "json";  // json | console
  std::string logLevel = "info";   // debug | info | warn | error
  std::chrono::milliseconds shutdownTimeout{30000};

  bool help = false;
  bool version = false;
};

struct ParseResult {
  Options options;
  std::optional<std::string> error;  // one line naming the flag
};

// Environment fallbacks: POD_NAMESPACE (operator namespace), PREFECT_KUBERNETES_CLUSTER_UID.
ParseResult parseOptions(int argc, const char* const* argv);
std::string helpText();
// Parses "15s", "500ms", "2m", "1h", or a bare number of seconds.
std::optional<std::chrono::milliseconds> parseDuration(const std::string& text);

}  // namespace app
