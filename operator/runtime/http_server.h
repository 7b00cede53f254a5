#pragma once
// The operator's own HTTP endpoints (cpp-httplib): /healthz and /readyz on
// --health-probe-bind-address, /metrics on --metrics-bind-address.
//
//   runtime::HttpServer probes("health");
//   runtime::addHealthProbes(probes, {{"informer-sync", [&] { return informersSynced(); }}});
//   if (auto err = probes.start(options.healthProbeBindAddress)) { ...exit 1... }
//   runtime::HttpServer metrics("metrics");
//   runtime::addMetricsEndpoint(metrics, runtime::MetricsRegistry::global());
//   metrics.start(options.metricsBindAddress);   // "0" disables: start() succeeds, port() == 0
//
// When both flags name the same address, register everything on one server.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "operator/runtime/metrics.h"

namespace runtime {

struct HttpResponse {
  int status = 200;
  std::string contentType = "text/plain; charset=utf-8";
  std::string body;
};
using HttpHandler = std::function<HttpResponse()>;

struct BindAddress {
  bool disabled = false;  // "0"
  std::string host;       // "0.0.0.0" for ":8080"
  int port = 0;           // 0: any free port
};
// ":8080", "127.0.0.1:0", "[::1]:9090", "0" (disabled). nullopt with `error` set when malformed.
std::optional<BindAddress> parseBindAddress(const std::string& text, std::string* error = nullptr);

class HttpServer {
 public:
  explicit HttpServer(std::string name);
  ~HttpServer();  // stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // GET (and HEAD) on an exact path. Register before start().
  void handle(const std::string& path, HttpHandler handler);
  // Binds (synchronously, so the port is known on return) and serves on its own thread.
  // Returns an error message naming the address when it cannot bind or parse it.
  std::optional<std::string> start(const std::string& bindAddress);
  void stop();  // idempotent

  bool enabled() const { return running_; }
  int port() const { return port_; }  // the bound port; 0 when disabled or not started
  const std::string& name() const { return name_; }

 private:
  struct Impl;
  std::string name_;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  int port_ = 0;
};

// A readiness check: true when ready. Named so that /readyz can say which one failed.
using ReadyCheck = std::pair<std::string, std::function<bool()>>;

// /healthz: "ok" while the process serves. /readyz: "ok" when every check passes, else 500
// with one "[+]name ok" / "[-]name failed" line per check (the API server's format).
void addHealthProbes(HttpServer& server, std::vector<ReadyCheck> readyChecks);
// /metrics: the registry in the Prometheus text format 0.0.4.
void addMetricsEndpoint(HttpServer& server, MetricsRegistry& registry);

}  // namespace runtime
