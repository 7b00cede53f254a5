// The transport and HTTP client against a local HTTPS server (cpp-httplib) with a generated
// PKI: TLS verification, client certificates, keep-alive reuse, retries, Retry-After, exec
// plugin refresh on 401, watch streaming and cancellation, and that no token reaches a log.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>

#include "operator/kube/http_client.h"
#include "operator/kube/log.h"
#include "operator/kube/transport.h"
#include "test/integration/kube/tls_fixture.h"

using namespace kubetest;
using kube::json;
using namespace std::chrono_literals;

namespace {

std::unique_ptr<httplib::Server> tlsServer(const Pki& pki, bool requireClientCert = false) {
  auto s =
      std::make_unique<httplib::SSLServer>(pki.f("server.crt").c_str(), pki.f("server.key").c_str(),
                                           requireClientCert ? pki.f("ca.crt").c_str() : nullptr);
  REQUIRE(s->is_valid());
  return s;
}

kube::RestConfig restConfig(const Pki& pki, const TestServer& srv) {
  kube::RestConfig c;
  c.server = srv.url();
  c.caPem = pki.pem("ca.crt");
  c.bearerToken = "static-token-0123456789";
  c.qps = 0;  // no client-side limit in tests unless asked for
  return c;
}

kube::HttpClientOptions fastRetries() {
  kube::HttpClientOptions o;
  o.retryBackoff = {5ms, 20ms, 2.0, 0.0};
  return o;
}

const kube::ResourceType& cms = kube::resources::ConfigMaps;

}  // namespace

TEST_CASE("TLS is verified against the configured CA, with IP and DNS names") {
  Pki pki;
  TestServer srv(tlsServer(pki));
  srv.http().Get("/api/v1/namespaces/default/configmaps/x", [](const httplib::Request&,
                                                               httplib::Response& res) {
    res.set_content(R"({"kind":"ConfigMap","metadata":{"name":"x"}})", "application/json");
  });
  srv.start();

  auto good = kube::makeHttpClient(restConfig(pki, srv));
  auto r = good->get(cms, "default", "x");
  REQUIRE(r.ok());
  CHECK((*r)["metadata"]["name"] == "x");

  auto viaName = restConfig(pki, srv);
  viaName.server = srv.url("localhost");  // DNS SAN, sent as SNI
  REQUIRE(kube::makeHttpClient(viaName)->get(cms, "default", "x").ok());

  auto wrongCa = restConfig(pki, srv);
  wrongCa.caPem = pki.pem("other.crt");
  wrongCa.caSource = "kubeconfig /k/config: clusters[0].cluster.certificate-authority-data";
  auto bad = kube::makeHttpClient(wrongCa)->get(cms, "default", "x");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().reason == "TLSError");
  CHECK(bad.error().message.find("TLS handshake with https://127.0.0.1:") != std::string::npos);
  // The message names the CA it was verified with: the file and the field.
  CHECK_THAT(bad.error().message,
             Catch::EndsWith(", verifying with the certificate authority (from kubeconfig "
                             "/k/config: clusters[0].cluster.certificate-authority-data)"));

  auto wrongName = restConfig(pki, srv);
  wrongName.tlsServerName = "not-the-server.example";
  auto mismatch = kube::makeHttpClient(wrongName)->get(cms, "default", "x");
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error().reason == "TLSError");
  CHECK(mismatch.error().message.find("hostname mismatch") != std::string::npos);

  auto insecure = wrongCa;
  insecure.insecureSkipTlsVerify = true;
  CHECK(kube::makeHttpClient(insecure)->get(cms, "default", "x").ok());

  auto badPem = restConfig(pki, srv);
  badPem.caPem = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
  auto created = kube::createHttpClient(badPem);
  REQUIRE_FALSE(created.ok());
  CHECK(created.error().reason == "TLSError");
}

TEST_CASE("client certificates authenticate to a server that requires them") {
  Pki pki;
  TestServer srv(tlsServer(pki, true));
  srv.http().Get("/api/v1/namespaces/default/configmaps/x",
                 [](const httplib::Request&, httplib::Response& res) {
                   res.set_content(R"({"metadata":{"name":"x"}})", "application/json");
                 });
  srv.start();
  auto cfg = restConfig(pki, srv);
  cfg.bearerToken.clear();
  auto without = kube::makeHttpClient(cfg)->get(cms, "default", "x");
  REQUIRE_FALSE(without.ok());
  CHECK(without.error().reason == "TLSError");
  CHECK(without.error().message.find("certificate required") != std::string::npos);
  cfg.clientCertPem = pki.pem("client.crt");
  cfg.clientKeyPem = pki.pem("client.key");
  auto with = kube::makeHttpClient(cfg)->get(cms, "default", "x");
  REQUIRE(with.ok());
}

TEST_CASE("keep-alive connections are reused across requests and threads") {
  Pki pki;
  TestServer srv(tlsServer(pki));
  srv.http().Get("/ok", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("{}", "application/json");
  });
  srv.http().set_keep_alive_max_count(1000);  // httplib closes after 5 requests by default
  srv.start();
  kube::TransportConfig tc;
  tc.server = srv.url();
  tc.caPem = pki.pem("ca.crt");
  auto t = kube::Transport::create(tc);
  REQUIRE(t.ok());
  for (int i = 0; i < 10; ++i) {
    auto r = t.value()->roundTrip({"GET", "/ok", {}, "", true});
    REQUIRE(r.ok());
    CHECK(r->status == 200);
  }
  CHECK(t.value()->connectionsOpened() == 1);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 20; ++j) {
        if (t.value()->roundTrip({"GET", "/ok", {}, "", true}).ok()) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok == 80);
  CHECK(t.value()->connectionsOpened() <= 5);
  CHECK(t.value()->idleConnections() >= 1);
}

TEST_CASE("429 with Retry-After is honoured, 5xx retried for GET only") {
  Pki pki;
  TestServer srv(tlsServer(pki));
  std::atomic<int> gets{0}, posts{0}, limited{0};
  std::mutex mu;
  std::vector<std::chrono::steady_clock::time_point> limitedAt;
  srv.http().Get("/api/v1/namespaces/default/configmaps/limited", [&](const httplib::Request&,
                                                                      httplib::Response& res) {
    {
      std::lock_guard<std::mutex> l(mu);
      limitedAt.push_back(std::chrono::steady_clock::now());
    }
    if (limited++ == 0) {
      res.status = 429;
      res.set_header("Retry-After", "1");
      res.set_content(
          R"({"kind":"Status","code":429,"reason":"TooManyRequests","message":"slow down"})",
          "application/json");
      return;
    }
    res.set_content(R"({"metadata":{"name":"limited"}})", "application/json");
  });
  srv.http().Get("/api/v1/namespaces/default/configmaps/flaky",
                 [&](const httplib::Request&, httplib::Response& res) {
                   if (gets++ < 2) {
                     res.status = 503;
                     return;
                   }
                   res.set_content(R"({"metadata":{"name":"flaky"}})", "application/json");
                 });
  srv.http().Post("/api/v1/namespaces/default/configmaps", [&](const httplib::Request&,
                                                               httplib::Response& res) {
    ++posts;
    res.status = 500;
    res.set_content(R"({"kind":"Status","code":500,"reason":"InternalError","message":"boom"})",
                    "application/json");
  });
  srv.start();
  std::atomic<int> observed429{0};
  kube::setRequestObserver([&](const std::string& method, int code, std::chrono::duration<double>) {
    if (method == "GET" && code == 429) ++observed429;
  });
  auto client = kube::makeHttpClient(restConfig(pki, srv), fastRetries());

  auto r = client->get(cms, "default", "limited");
  REQUIRE(r.ok());
  REQUIRE(limitedAt.size() == 2);
  CHECK(limitedAt[1] - limitedAt[0] >= 950ms);  // waited for Retry-After, not our 5 ms backoff
  CHECK(observed429 == 1);
  kube::setRequestObserver(nullptr);

  auto flaky = client->get(cms, "default", "flaky");
  REQUIRE(flaky.ok());
  CHECK(gets == 3);

  auto created = client->create(cms, "default", {{"metadata", {{"name", "y"}}}});
  REQUIRE_FALSE(created.ok());
  CHECK(created.error().code == 500);
  CHECK(created.error().message == "boom");
  CHECK(posts == 1);  // a POST that reached the server is never repeated
}

TEST_CASE("connection refused is retried, then reported as a transport error") {
  // Find a port nobody listens on: bind, note it, close.
  int port = 0;
  {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
    ::close(fd);  // bound, never listening, now closed: connecting is refused
  }
  kube::RestConfig cfg;
  cfg.server = "http://127.0.0.1:" + std::to_string(port);
  cfg.qps = 0;
  auto opts = fastRetries();
  opts.maxRetries = 2;
  std::atomic<int> attempts{0};
  kube::setRequestObserver([&](const std::string&, int code, std::chrono::duration<double>) {
    if (code == 0) ++attempts;
  });
  auto client = kube::makeHttpClient(cfg, opts);
  auto r = client->create(cms, "default", {{"metadata", {{"name", "y"}}}});
  kube::setRequestObserver(nullptr);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().isTransport());
  CHECK(r.error().reason == "ConnectionFailed");
  CHECK(r.error().message.find("Connection refused") != std::string::npos);
  CHECK(attempts == 3);  // nothing was sent, so even a POST may be retried
}

TEST_CASE("the client-side rate limiter paces requests") {
  Pki pki;
  TestServer srv(tlsServer(pki));
  srv.http().Get("/api/v1/namespaces/default/configmaps/x",
                 [](const httplib::Request&, httplib::Response& res) {
                   res.set_content("{}", "application/json");
                 });
  srv.start();
  auto cfg = restConfig(pki, srv);
  cfg.qps = 20;
  cfg.burst = 2;
  auto client = kube::makeHttpClient(cfg);
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 6; ++i) REQUIRE(client->get(cms, "default", "x").ok());
  // Two go at once, the other four wait 50 ms each.
  CHECK(std::chrono::steady_clock::now() - t0 >= 190ms);
}

TEST_CASE("an exec plugin token is refreshed after a 401, and no token reaches the logs") {
  Pki pki;
  TestServer srv(tlsServer(pki));
  std::atomic<int> unauthorized{0};
  srv.http().Get("/api/v1/namespaces/default/configmaps/x", [&](const httplib::Request& req,
                                                                httplib::Response& res) {
    if (req.get_header_value("Authorization") != "Bearer fresh-token-222222") {
      ++unauthorized;
      res.status = 401;
      res.set_content(
          R"({"kind":"Status","code":401,"reason":"Unauthorized","message":"Unauthorized"})",
          "application/json");
      return;
    }
    res.set_content(R"({"metadata":{"name":"x"}})", "application/json");
  });
  srv.start();
  std::string script = pki.f("plugin.sh");
  std::ofstream(script) << "#!/bin/sh\n"
                           "if [ -f "
                        << pki.f("ran")
                        << " ]; then T=fresh-token-222222; else "
                           "T=stale-token-111111; touch "
                        << pki.f("ran")
                        << "; fi\n"
                           "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                           "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"'$T'\"}}'\n";
  ::chmod(script.c_str(), 0755);
  std::mutex logMu;
  std::string logs;
  kube::setLogSink([&](kube::LogLevel, const std::string& msg, const kube::LogFields& fields) {
    std::lock_guard<std::mutex> l(logMu);
    logs += msg;
    for (const auto& [k, v] : fields) logs += " " + k + "=" + v;
    logs += "\n";
  });
  auto cfg = restConfig(pki, srv);
  cfg.bearerToken.clear();
  cfg.exec = kube::ExecConfig{"client.authentication.k8s.io/v1", script, {}, {}, false, ""};
  auto client = kube::makeHttpClient(cfg, fastRetries());
  auto r = client->get(cms, "default", "x");
  REQUIRE(r.ok());
  CHECK(unauthorized == 1);
  // With a static token that the server refuses, the error carries no token either.
  auto staticCfg = restConfig(pki, srv);
  staticCfg.source = "kubeconfig /tmp/test/config";
  staticCfg.userName = "ci";
  staticCfg.contextName = "ci";
  auto denied = kube::makeHttpClient(staticCfg, fastRetries())->get(cms, "default", "x");
  REQUIRE_FALSE(denied.ok());
  CHECK(denied.error().code == 401);
  // The message names the refused credential and where it came from, not the token.
  CHECK_THAT(denied.error().message,
             Catch::EndsWith("; the API server refused the token of user \"ci\" in kubeconfig "
                             "/tmp/test/config (context ci)"));
  kube::setLogSink(nullptr);
  for (std::string secret :
       {"stale-token-111111", "fresh-token-222222", "static-token-0123456789"}) {
    CHECK(logs.find(secret) == std::string::npos);
    CHECK(denied.error().describe().find(secret) == std::string::npos);
  }
}

TEST_CASE("a watch streams events and cancel() unblocks a blocked next()") {
  Pki pki;
  TestServer srv(tlsServer(pki));
  std::atomic<bool> done{false};
  srv.http().Get("/api/v1/namespaces/default/configmaps", [&](const httplib::Request& req,
                                                              httplib::Response& res) {
    REQUIRE(req.get_param_value("watch") == "1");
    REQUIRE(req.get_param_value("resourceVersion") == "7");
    REQUIRE(req.get_param_value("allowWatchBookmarks") == "true");
    REQUIRE(req.get_param_value("labelSelector") == "app in (a,b)");
    res.set_chunked_content_provider(
        "application/json", [&, sent = false](size_t, httplib::DataSink& sink) mutable {
          if (!sent) {
            sent = true;
            std::string a =
                R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"8"}}})"
                "\n";
            std::string b = R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}})"
                            "\n";
            // One event split over two writes, the next in the same write.
            sink.write(a.data(), 20);
            sink.write(a.data() + 20, a.size() - 20);
            sink.write(b.data(), b.size());
            return true;
          }
          std::this_thread::sleep_for(20ms);
          if (done) {
            sink.done();
            return false;
          }
          return sink.is_writable();
        });
  });
  srv.start();
  auto client = kube::makeHttpClient(restConfig(pki, srv));
  kube::WatchOptions wo;
  wo.resourceVersion = "7";
  wo.labelSelector = "app in (a,b)";
  auto w = client->watch(cms, "default", wo);
  REQUIRE(w.ok());
  auto e1 = w.value()->next();
  REQUIRE(e1);
  REQUIRE(e1->ok());
  CHECK(e1->value().type == "ADDED");
  CHECK(e1->value().object["metadata"]["name"] == "a");
  auto e2 = w.value()->next();
  REQUIRE(e2);
  REQUIRE(e2->ok());
  CHECK(e2->value().type == "BOOKMARK");

  std::atomic<bool> returned{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);  // let next() block first; the check below is on time
    w.value()->cancel();
  });
  auto t0 = std::chrono::steady_clock::now();
  auto e3 = w.value()->next();
  auto took = std::chrono::steady_clock::now() - t0;
  canceller.join();
  CHECK_FALSE(e3.has_value());
  CHECK(took < 2s);
  done = true;
}

TEST_CASE("a watch answered with an error status returns the API error") {
  Pki pki;
  TestServer srv(tlsServer(pki));
  srv.http().Get("/api/v1/namespaces/default/configmaps", [&](const httplib::Request&,
                                                              httplib::Response& res) {
    res.status = 410;
    res.set_content(
        R"j({"kind":"Status","code":410,"reason":"Expired","message":"too old resource version: 1 (5)"})j",
        "application/json");
  });
  srv.start();
  auto w = kube::makeHttpClient(restConfig(pki, srv))->watch(cms, "default", {});
  REQUIRE_FALSE(w.ok());
  CHECK(w.error().isGone());
  CHECK(w.error().message == "too old resource version: 1 (5)");
}
