#pragma once
// A throwaway PKI made with the openssl command line (a CA, a server certificate for
// 127.0.0.1/localhost, a client certificate, and an unrelated CA) and a cpp-httplib HTTPS server
// on port 0, for testing the transport without kubesim.
#include <httplib.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "test/support/process.h"

namespace kubetest {

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Pki {
 public:
  Pki() {
    run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", f("ca.key"), "-out", f("ca.crt"), "-days", "2", "-subj",
         "/CN=test-ca"});
    run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", f("other.key"), "-out", f("other.crt"), "-days", "2", "-subj",
         "/CN=other-ca"});
    issue("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n");
    issue("client", "extendedKeyUsage=clientAuth\n");
  }
  std::string f(const std::string& name) const { return dir_.file(name); }
  std::string pem(const std::string& name) const { return slurp(f(name)); }
  const testsupport::TempDir& dir() const { return dir_; }

 private:
  void run(const std::vector<std::string>& argv) {
    auto r = testsupport::runProcess(argv);
    if (r.exitCode != 0) throw std::runtime_error("openssl failed: " + r.err);
  }
  void issue(const std::string& name, const std::string& ext) {
    std::ofstream(f(name + ".ext")) << ext;
    run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", f(name + ".key"), "-out", f(name + ".csr"), "-subj", "/CN=" + name});
    run({"openssl", "x509", "-req", "-in", f(name + ".csr"), "-CA", f("ca.crt"), "-CAkey",
         f("ca.key"), "-CAcreateserial", "-out", f(name + ".crt"), "-days", "2", "-extfile",
         f(name + ".ext")});
  }
  testsupport::TempDir dir_;
};

// Runs an httplib server on 127.0.0.1:<any port> until destroyed.
class TestServer {
 public:
  explicit TestServer(std::unique_ptr<httplib::Server> server) : svr_(std::move(server)) {}
  ~TestServer() { stop(); }
  httplib::Server& http() { return *svr_; }
  void start() {
    port_ = svr_->bind_to_any_port("127.0.0.1");
    if (port_ <= 0) throw std::runtime_error("cannot bind");
    thread_ = std::thread([this] { svr_->listen_after_bind(); });
    if (!testsupport::waitFor([this] { return svr_->is_running(); })) {
      throw std::runtime_error("server did not start");
    }
  }
  void stop() {
    if (thread_.joinable()) {
      svr_->stop();
      thread_.join();
    }
  }
  int port() const { return port_; }
  std::string url(const std::string& host = "127.0.0.1") const {
    return "https://" + host + ":" + std::to_string(port_);
  }

 private:
  std::unique_ptr<httplib::Server> svr_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace kubetest
