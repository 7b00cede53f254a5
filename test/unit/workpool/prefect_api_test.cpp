// The Prefect client against a local HTTP server (port 0): the recorded headers and bodies, the
// retries of 429 (Retry-After), 502 and 503, gzip answers, malformed JSON, an unreachable server.
#include <httplib.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "controllers/workpool/prefect/api.h"
#include "controllers/workpool/prefect/http_transport.h"

using namespace controllers::workpool::prefect;
using nlohmann::json;

namespace {

struct Seen {
  std::string method, path, body, auth, version;
};

class LocalServer {
 public:
  explicit LocalServer(std::function<void(const httplib::Request&, httplib::Response&)> handler)
      : handler_(std::move(handler)) {
    auto h = [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mutex_);
        seen_.push_back({req.method, req.path, req.body, req.get_header_value("Authorization"),
                         req.get_header_value("X-PREFECT-API-VERSION")});
      }
      handler_(req, res);
    };
    server_.Get(".*", h);
    server_.Post(".*", h);
    server_.Patch(".*", h);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~LocalServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api"; }
  std::vector<Seen> seen() {
    std::lock_guard lock(mutex_);
    return seen_;
  }

 private:
  std::function<void(const httplib::Request&, httplib::Response&)> handler_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::vector<Seen> seen_;
};

HttpTransportOptions options(const std::string& url, std::vector<long long>* waits = nullptr) {
  HttpTransportOptions o;
  o.apiUrl = url;
  o.apiKey = "pnu_test_key";
  o.timeout = std::chrono::milliseconds{2000};
  o.sleep = [waits](std::chrono::milliseconds d) {
    if (waits) waits->push_back(d.count());
  };
  return o;
}

}  // namespace

TEST_CASE("Prefect requests carry the recorded headers, paths and bodies", "[workpool][prefect]") {
  LocalServer server([](const httplib::Request& req, httplib::Response& res) {
    if (req.path.find("/set_state") != std::string::npos) {
      res.status = 201;
      res.set_content(R"({"state": {"type": "PENDING", "name": "Pending"}, "status": "ACCEPT",
                          "details": {"type": "accept_details"}})",
                      "application/json");
    } else if (req.method == "PATCH" || req.path.find("heartbeat") != std::string::npos) {
      res.status = 204;
    } else {
      res.set_content("[]", "application/json");
    }
  });
  HttpTransport transport(options(server.url()));
  Api api(transport);

  CHECK(api.heartbeat("k8s pool", "w1", 30).status == 204);
  CHECK(api.scheduledFlowRuns("k8s-pool", {}, "2026-12-01T19:37:41.682654+00:00").ok());
  auto set = api.setState(
      "e583", {.type = "PENDING", .name = "Pending", .message = std::nullopt, .force = false});
  CHECK(set.accepted());
  CHECK(set.state.at("type") == "PENDING");
  CHECK(api.setInfrastructurePid("e583", "uid:flows:job").status == 204);
  CHECK(api.filterFlowRuns("k8s-pool", "CANCELLED", std::string("Cancelling")).ok());

  const auto seen = server.seen();
  REQUIRE(seen.size() == 5);
  for (const auto& s : seen) {
    CHECK(s.auth == "Bearer pnu_test_key");
    CHECK(s.version == "0.8.4");
  }
  CHECK(seen[0].path == "/api/work_pools/k8s pool/workers/heartbeat");  // decoded by the server
  CHECK(encodePathSegment("k8s pool/x") == "k8s%20pool%2Fx");
  CHECK(json::parse(seen[0].body) == json{{"name", "w1"}, {"heartbeat_interval_seconds", 30.0}});
  CHECK(seen[1].path == "/api/work_pools/k8s-pool/get_scheduled_flow_runs");
  CHECK(json::parse(seen[1].body) ==
        json{{"work_queue_names", json::array()},
             {"scheduled_before", "2026-12-01T19:37:41.682654+00:00"}});
  const json state = json::parse(seen[2].body);
  CHECK(seen[2].path == "/api/flow_runs/e583/set_state");
  CHECK(state.at("force") == false);
  CHECK(state.at("state").at("type") == "PENDING");
  CHECK(state.at("state").at("state_details").at("flow_run_id") == "e583");
  CHECK(state.at("state").at("state_details").at("transition_id").get<std::string>().size() == 36);
  CHECK(seen[3].method == "PATCH");
  CHECK(json::parse(seen[3].body) == json{{"infrastructure_pid", "uid:flows:job"}});
  CHECK(json::parse(seen[4].body) ==
        json::parse(R"({"flows": null, "flow_runs": {"id": {"not_any_": []}, "state": {"type":
          {"any_": ["CANCELLED"]}, "name": {"any_": ["Cancelling"]}}}, "task_runs": null,
          "deployments": null, "work_pools": {"id": null, "name": {"any_": ["k8s-pool"]},
          "type": null}, "work_pool_queues": null, "sort": null, "limit": null, "offset": 0})"));
}

TEST_CASE("the CANCELLING filter is the recorded one", "[workpool][prefect]") {
  CHECK(filterBody("k8s-run2", "CANCELLING", std::nullopt).at("flow_runs") ==
        json::parse(R"({"id": {"not_any_": []}, "state": {"type": {"any_": ["CANCELLING"]}}})"));
}

TEST_CASE("without a key no Authorization header is sent", "[workpool][prefect]") {
  LocalServer server([](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"("2.17.1")", "application/json");
  });
  auto o = options(server.url());
  o.apiKey.clear();
  HttpTransport transport(o);
  auto r = Api(transport).version();
  CHECK(r.ok());
  CHECK(r.body == "2.17.1");
  CHECK(server.seen().at(0).auth.empty());
  CHECK(server.seen().at(0).path == "/api/admin/version");
}

TEST_CASE("429 with Retry-After, 502 and 503 are retried but 500 and 404 are not",
          "[workpool][prefect]") {
  std::atomic<int> calls{0};
  LocalServer server([&](const httplib::Request& req, httplib::Response& res) {
    const int n = ++calls;
    if (req.path == "/api/work_pools/missing") {
      res.status = 404;
      res.set_content(R"({"detail": "Work pool \"missing\" not found."})", "application/json");
    } else if (req.path == "/api/broken") {
      res.status = 500;
    } else if (n == 1) {
      res.status = 429;
      res.set_header("Retry-After", "2");
    } else if (n == 2) {
      res.status = 502;
    } else if (n == 3) {
      res.status = 503;
    } else {
      res.set_content(R"({"name": "k8s-pool"})", "application/json");
    }
  });
  std::vector<long long> waits;
  HttpTransport transport(options(server.url(), &waits));
  auto r = Api(transport).readWorkPool("k8s-pool");
  CHECK(r.ok());
  CHECK(r.body.at("name") == "k8s-pool");
  CHECK(waits == std::vector<long long>{2000, 500, 1000});  // Retry-After, then backoff

  waits.clear();
  auto missing = Api(transport).readWorkPool("missing");
  CHECK(missing.status == 404);
  CHECK(missing.body.at("detail") == "Work pool \"missing\" not found.");
  CHECK(transport.request("GET", "/broken", nullptr).status == 500);
  CHECK(waits.empty());
}

TEST_CASE("retries stop after maxAttempts", "[workpool][prefect]") {
  LocalServer server([](const httplib::Request&, httplib::Response& res) { res.status = 503; });
  std::vector<long long> waits;
  HttpTransport transport(options(server.url(), &waits));
  CHECK(transport.request("GET", "/health", nullptr).status == 503);
  CHECK(server.seen().size() == 4);
  CHECK(waits.size() == 3);
}

TEST_CASE("gzip answers are read, malformed JSON is an error, not a crash", "[workpool][prefect]") {
  LocalServer server([](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/api/bad") {
      res.set_content("<html>proxy error</html>", "text/html");
    } else {
      // httplib compresses when the client accepts gzip and the content type is text-like.
      res.set_content(R"({"ok": true, "pad": ")" + std::string(2000, 'x') + R"("})",
                      "application/json");
    }
  });
  HttpTransport transport(options(server.url()));
  auto good = transport.request("GET", "/good", nullptr);
  CHECK(good.ok());
  CHECK(good.body.at("ok") == true);
  auto bad = transport.request("GET", "/bad", nullptr);
  CHECK_FALSE(bad.ok());
  CHECK(bad.malformed);
  CHECK_THAT(bad.error, Catch::Contains("not JSON"));
}

TEST_CASE("an unreachable server is status 0 with a message, and the key is never in it",
          "[workpool][prefect]") {
  int port = 0;
  {
    httplib::Server s;
    port = s.bind_to_any_port("127.0.0.1");
  }  // closed again: nothing listens there
  auto o = options("http://127.0.0.1:" + std::to_string(port) + "/api");
  o.maxAttempts = 1;
  HttpTransport transport(o);
  auto r = transport.request("GET", "/work_pools/x", nullptr);
  CHECK(r.status == 0);
  CHECK_FALSE(r.error.empty());
  CHECK_THAT(r.error, !Catch::Contains("pnu_test_key"));
  HttpTransport notUrl(options("prefect:4200"));
  CHECK_THAT(notUrl.request("GET", "/x", nullptr).error, Catch::Contains("not an http"));
}

TEST_CASE("API URLs are split into scheme, host, port and prefix", "[workpool][prefect]") {
  ParsedUrl u;
  REQUIRE(parseApiUrl("https://api.prefect.cloud/api/accounts/a/workspaces/w/", u));
  CHECK(u.scheme == "https");
  CHECK(u.host == "api.prefect.cloud");
  CHECK(u.port == 443);
  CHECK(u.prefix == "/api/accounts/a/workspaces/w");
  REQUIRE(parseApiUrl("http://prefect-server.prefect:4200/api", u));
  CHECK(u.port == 4200);
  CHECK_FALSE(parseApiUrl("ftp://x/api", u));
  CHECK_FALSE(parseApiUrl("http://x:notaport/api", u));
}
