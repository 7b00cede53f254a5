#include <httplib.h>
#include <catch2/catch.hpp>

#include <atomic>

#include "operator/runtime/http_server.h"

using runtime::HttpServer;

TEST_CASE("bind addresses parse like the controller-runtime flags", "[http]") {
  auto a = runtime::parseBindAddress(":8080");
  REQUIRE(a);
  CHECK(a->host == "0.0.0.0");
  CHECK(a->port == 8080);
  auto b = runtime::parseBindAddress("127.0.0.1:0");
  REQUIRE(b);
  CHECK(b->host == "127.0.0.1");
  CHECK(b->port == 0);
  auto c = runtime::parseBindAddress("[::1]:9090");
  REQUIRE(c);
  CHECK(c->host == "::1");
  CHECK(runtime::parseBindAddress("0")->disabled);
  std::string err;
  CHECK_FALSE(runtime::parseBindAddress("8080", &err));
  CHECK(err.find("\"8080\"") != std::string::npos);
  CHECK_FALSE(runtime::parseBindAddress(":99999", &err));
  CHECK_FALSE(runtime::parseBindAddress(":http", &err));
  CHECK_FALSE(runtime::parseBindAddress("::1:80", &err));
}

TEST_CASE("healthz is always ok, readyz follows its checks", "[http]") {
  std::atomic<bool> synced{false};
  HttpServer server("health");
  runtime::addHealthProbes(
      server, {{"informer-sync", [&] { return synced.load(); }}, {"always", [] { return true; }}});
  REQUIRE_FALSE(server.start("127.0.0.1:0"));
  REQUIRE(server.port() > 0);
  httplib::Client cli("127.0.0.1", server.port());
  auto h = cli.Get("/healthz");
  REQUIRE(h);
  CHECK(h->status == 200);
  CHECK(h->body == "ok");
  auto r = cli.Get("/readyz");
  REQUIRE(r);
  CHECK(r->status == 500);
  CHECK(r->body == "[-]informer-sync failed\n[+]always ok\nreadyz check failed\n");
  synced = true;
  r = cli.Get("/readyz");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == "ok");
  auto missing = cli.Get("/nope");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  server.stop();
  CHECK_FALSE(server.enabled());
  CHECK_FALSE(cli.Get("/healthz"));  // nothing listens any more
}

TEST_CASE("metrics are served in the Prometheus text format", "[http]") {
  runtime::MetricsRegistry reg;
  reg.counter("controller_runtime_reconcile_total", "Total",
              {{"controller", "c"}, {"result", "success"}})
      .inc(5);
  HttpServer server("metrics");
  runtime::addMetricsEndpoint(server, reg);
  REQUIRE_FALSE(server.start("127.0.0.1:0"));
  httplib::Client cli("127.0.0.1", server.port());
  auto m = cli.Get("/metrics");
  REQUIRE(m);
  CHECK(m->status == 200);
  CHECK(m->get_header_value("Content-Type") == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(m->body == reg.render());
  CHECK(m->body.find("controller_runtime_reconcile_total{controller=\"c\",result=\"success\"} 5") !=
        std::string::npos);
}

TEST_CASE("\"0\" disables a server, bad or busy addresses are errors", "[http]") {
  HttpServer off("metrics");
  CHECK_FALSE(off.start("0"));
  CHECK(off.port() == 0);
  CHECK_FALSE(off.enabled());
  off.stop();

  HttpServer bad("metrics");
  auto err = bad.start("localhost");
  REQUIRE(err);
  CHECK(err->find("invalid bind address") != std::string::npos);

  HttpServer first("a");
  REQUIRE_FALSE(first.start("127.0.0.1:0"));
  HttpServer second("b");
  auto busy = second.start("127.0.0.1:" + std::to_string(first.port()));
  REQUIRE(busy);
  CHECK(busy->find("cannot bind") != std::string::npos);
}

TEST_CASE("a throwing handler answers 500 and the server keeps serving", "[http]") {
  HttpServer server("x");
  server.handle("/boom", []() -> runtime::HttpResponse { throw std::runtime_error("bug"); });
  server.handle("/fine", [] { return runtime::HttpResponse{200, "text/plain", "fine"}; });
  REQUIRE_FALSE(server.start("127.0.0.1:0"));
  httplib::Client cli("127.0.0.1", server.port());
  auto r = cli.Get("/boom");
  REQUIRE(r);
  CHECK(r->status == 500);
  auto f = cli.Get("/fine");
  REQUIRE(f);
  CHECK(f->body == "fine");
}

TEST_CASE("start then immediate stop does not hang", "[http]") {
  for (int i = 0; i < 20; ++i) {
    HttpServer s("quick");
    REQUIRE_FALSE(s.start("127.0.0.1:0"));
    s.stop();
  }
}
