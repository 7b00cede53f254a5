// prefectsim: a Prefect 2.17 (API 0.8.4) server simulator for the worker-mode tests. It speaks the
// endpoints a worker and the flow engine use, with the status codes, bodies and orchestration
// answers recorded from a real server (test/prefectsim/recordings). See docs/prefectsim.md.
#pragma once

#include <memory>
#include <optional>
#include <string>

namespace prefectsim {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;                       // 0 = ephemeral
  std::optional<std::string> apiKey;  // when set, /api requests need "Authorization: Bearer KEY"
};

struct DemoIds {
  std::string workPoolName, workPoolId, flowId, deploymentId;
};

class Server {
 public:
  explicit Server(ServerOptions options = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();  // binds and serves on a thread; throws std::runtime_error when it cannot bind
  std::string url() const;  // http://HOST:PORT/api
  int port() const;
  void stop();         // idempotent
  DemoIds seedDemo();  // a work pool "demo-pool", a flow and a deployment in it

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace prefectsim
