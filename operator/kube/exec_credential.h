#pragma once
// client.authentication.k8s.io exec credential plugins (aws eks get-token, gke-gcloud-auth-plugin,
// kubelogin): run the command, read an ExecCredential from its stdout, cache it until it expires.
#include <chrono>
#include <mutex>
#include <optional>
#include <string>

#include "operator/kube/api_error.h"
#include "operator/kube/kubeconfig.h"

namespace kube {

struct ExecCredential {
  std::string token;
  std::string clientCertPem;
  std::string clientKeyPem;
  std::optional<std::chrono::system_clock::time_point> expiry;  // none: valid until a 401
};

// Runs the plugin once (stdin is /dev/null; KUBERNETES_EXEC_INFO describes the request and,
// with provideClusterInfo, the cluster). Errors (reason ExecPluginFailed) name the command and
// quote the start of its stderr.
Result<ExecCredential> runExecPlugin(const ExecConfig& exec, const RestConfig& cluster,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Parses "2026-11-23T19:00:00Z" / "...+01:00" / fractional seconds.
std::optional<std::chrono::system_clock::time_point> parseRfc3339(const std::string& text);

// Thread-safe cache in front of runExecPlugin: re-runs when the credential is within `skew` of
// expiry, or after invalidate() (the client calls it on a 401).
class ExecCredentialProvider {
 public:
  ExecCredentialProvider(ExecConfig exec, RestConfig cluster);
  Result<ExecCredential> get();
  void invalidate();
  int runs() const;  // how many times the plugin ran (tests, diagnostics)

 private:
  ExecConfig exec_;
  RestConfig cluster_;
  mutable std::mutex mu_;
  std::optional<ExecCredential> cached_;
  std::optional<ApiError> lastError_;  // the last run's failure, answered until nextRun_
  std::chrono::steady_clock::time_point nextRun_{};
  int runs_ = 0;
};

}  // namespace kube
