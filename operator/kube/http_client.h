#pragma once
// kube::Client over HTTP: authentication (static token, rotating token file, exec plugin,
// client certificate), client-side rate limiting, retries with jittered backoff for requests
// that are safe to repeat, and API errors decoded from the server's Status.
#include <chrono>
#include <memory>
#include <optional>

#include "operator/kube/backoff.h"
#include "operator/kube/client.h"
#include "operator/kube/kubeconfig.h"

namespace kube {

struct HttpClientOptions {
  std::optional<double> qps;  // override RestConfig::qps (<= 0 disables the limiter)
  std::optional<int> burst;   // override RestConfig::burst
  int maxRetries = 5;         // further attempts after the first, for retryable failures
  BackoffPolicy retryBackoff{std::chrono::milliseconds(200), std::chrono::milliseconds(10000), 2.0,
                             0.2};
  std::chrono::seconds maxRetryAfter{60};  // a longer Retry-After is capped at this
  std::chrono::milliseconds connectTimeout{10000};
  std::chrono::milliseconds requestTimeout{60000};
  // Added to the server's timeoutSeconds to bound a watch read; with timeoutSeconds 0 a watch
  // has no read timeout (TCP keep-alive still detects a dead peer).
  std::chrono::seconds watchTimeoutMargin{30};
};

// Fails when the configuration is unusable (bad URL, CA or client certificate).
Result<std::unique_ptr<Client>> createHttpClient(RestConfig config, HttpClientOptions options = {});
// As createHttpClient, but never null: on a configuration error it logs it and returns a client
// whose every call fails with that error.
std::unique_ptr<Client> makeHttpClient(RestConfig config, HttpClientOptions options = {});

}  // namespace kube
