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
  double kubeApiQps = 50;  // <= 0 turns the client-side rate limiter off
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
  int maxConcurrentReconciles = 4;
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
