#pragma once
// kubesim's HTTP(S) front: authentication, authorization, fault injection, routing of the
// Kubernetes REST paths onto Storage, discovery/OpenAPI, Table output, watches, the request log.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "test/kubesim/cluster.h"
#include "test/kubesim/simulator.h"
#include "test/kubesim/storage.h"
#include "test/kubesim/tls.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace kubesim {

struct ServerOptions {
  std::string bindAddress = "127.0.0.1";
  int port = 0;
  bool tls = true;
  std::chrono::milliseconds bookmarkInterval{1000};
  std::size_t threads = 160;  // every open watch holds one
  // The OwnerReferencesPermissionEnforcement admission plugin (with an authorizer only).
  bool ownerReferencesPermissionEnforcement = false;
  // GET /kubesim/kubeconfig?user=USER answers with this (a kubeconfig with USER's token).
  std::function<std::string(const std::string& user)> kubeconfigFor;
  // Serve as a freshly restarted kube-apiserver for this long (see startingFor).
  std::chrono::milliseconds startingFor{0};
};

class ApiServer {
 public:
  // certs may be null when !options.tls.
  ApiServer(Storage& store, Cluster& cluster, RequestLog& log, ServerOptions options,
            const ServingCertificates* certs);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  void start();  // binds and serves on a thread; throws std::runtime_error when it cannot bind
  void stop();   // ends watches and stops serving; idempotent
  int port() const { return port_; }
  // For `d` from now the server answers as a restarting kube-apiserver whose CRD informer has
  // not synced: custom resources get 503 "server is starting" (Retry-After: 10) and /readyz
  // fails; built-in kinds are served. POST /kubesim/apiserver/restart {"startingSeconds": N}.
  void restart(std::chrono::milliseconds d);
  bool starting() const;

 private:
  void handle(const httplib::Request& req, httplib::Response& res);
  struct Impl;
  std::unique_ptr<Impl> impl_;
  Storage& store_;
  Cluster& cluster_;
  RequestLog& log_;
  ServerOptions options_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::int64_t> startingUntilMs_{0};  // steady_clock, ms since its epoch
};

}  // namespace kubesim
