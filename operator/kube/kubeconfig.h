#pragma once
// Where the client connects and how it authenticates, loaded like client-go does: an explicit
// kubeconfig, else $KUBECONFIG (a colon-separated list merged with "first file wins" per
// name), else ~/.kube/config, else the in-cluster service account.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "operator/kube/api_error.h"

namespace kube {

// users[].user.exec: a client.authentication.k8s.io credential plugin.
struct ExecConfig {
  std::string apiVersion;  // client.authentication.k8s.io/v1 or /v1beta1
  std::string command;     // resolved against the kubeconfig's directory when it has a '/'
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;
  bool provideClusterInfo = false;
  std::string installHint;
};

struct RestConfig {
  std::string server;         // https://host:port, maybe with a path prefix
  std::string tlsServerName;  // overrides the SNI/verified name when set
  std::string caPem;          // empty: the system trust store
  std::string caSource;       // where caPem came from, for TLS messages ("" : the trust store)
  std::string clientCertPem;  // client certificate (PEM), with clientKeyPem
  std::string clientKeyPem;
  std::string bearerToken;         // static token
  std::string tokenFile;           // re-read when it changes (rotated service account tokens)
  std::optional<ExecConfig> exec;  // credential plugin
  bool insecureSkipTlsVerify = false;
  std::string ns;   // the context's namespace (in-cluster: the pod's), "" if unset
  double qps = 20;  // client-side rate limit; <= 0 disables it
  int burst = 30;
  std::string userAgent = "flowrun-operator";
  std::string source;       // where this came from, for messages: "kubeconfig /x/config"
  std::string contextName;  // the context used ("" in-cluster)
  std::string userName;     // the kubeconfig user the context names ("" in-cluster or none)
};

// kubeconfigPath "" -> $KUBECONFIG list, ~/.kube/config, then in-cluster.
// context "" -> current-context. Errors (reason InvalidKubeconfig) name the file, the field and
// the problem, e.g. "kubeconfig /x/config: users[0].user.client-key-data: invalid base64".
Result<RestConfig> loadRestConfig(const std::string& kubeconfigPath = "",
                                  const std::string& context = "");

inline constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";
// From KUBERNETES_SERVICE_HOST/PORT and the mounted service account (token, ca.crt, namespace).
Result<RestConfig> inClusterConfig(const std::string& serviceAccountDir = kServiceAccountDir);

// Which credential a request carried, for the message of a 401: "the token of user \"admin\" in
// kubeconfig /x/config (context sim)", "the token file /var/run/.../token (in-cluster service
// account ...)", "the exec plugin aws (user ...)", or "no credential (anonymous)".
std::string describeCredential(const RestConfig& config);

// Base64 (standard alphabet, padding optional, whitespace ignored); nullopt when invalid.

}  // namespace kube
