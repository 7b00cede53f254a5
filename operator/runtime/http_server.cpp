#include "operator/runtime/http_server.h"

#include <httplib.h>

#include <charconv>
#include <chrono>
#include <exception>

#include "operator/runtime/logging.h"

namespace runtime {

std::optional<BindAddress> parseBindAddress(const std::string& text, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<BindAddress> {
    if (error) *error = "invalid bind address \"" + text + "\": " + why;
    return std::nullopt;
  };
  BindAddress out;
  if (text == "0") {
    out.disabled = true;
    return out;
  }
  std::string host, portText;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return fail("expected [IPv6]:PORT");
    host = text.substr(1, close - 1);
    portText = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return fail("expected HOST:PORT, :PORT or 0 to disable");
    host = text.substr(0, colon);
    if (host.find(':') != std::string::npos) return fail("put an IPv6 host in brackets");
    portText = text.substr(colon + 1);
  }
  int port = -1;
  auto [ptr, ec] = std::from_chars(portText.data(), portText.data() + portText.size(), port);
  if (portText.empty() || ec != std::errc() || ptr != portText.data() + portText.size() ||
      port < 0 || port > 65535) {
    return fail("port must be a number from 0 to 65535");
  }
  out.host = host.empty() ? "0.0.0.0" : host;
  out.port = port;
  return out;
}

struct HttpServer::Impl {
  httplib::Server server;
  std::atomic<bool> listenReturned{false};
};

HttpServer::HttpServer(std::string name) : name_(std::move(name)), impl_(std::make_unique<Impl>()) {
  // Probes and scrapes are tiny; short timeouts keep a stuck client from holding a thread.
  impl_->server.set_read_timeout(5, 0);
  impl_->server.set_write_timeout(5, 0);
  impl_->server.set_keep_alive_timeout(5);
  // httplib's default also sets SO_REUSEPORT, which lets a second process bind the same port
  // and silently share it: a misconfigured replica must get "address in use" instead.
  impl_->server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
}

HttpServer::~HttpServer() {
  stop();
}

void HttpServer::handle(const std::string& path, HttpHandler handler) {
  auto serve = [handler = std::move(handler), name = name_](const httplib::Request&,
                                                            httplib::Response& res) {
    HttpResponse r;
    try {
      r = handler();
    } catch (const std::exception& e) {
      logger().error("HTTP handler failed", {{"server", name}, {"error", e.what()}});
      r = {500, "text/plain; charset=utf-8", "internal error\n"};
    } catch (...) {
      r = {500, "text/plain; charset=utf-8", "internal error\n"};
    }
    res.status = r.status;
    res.set_content(r.body, r.contentType.c_str());
  };
  // httplib matches patterns as regular expressions; escape so "/metrics" is literal.
  std::string pattern;
  for (char c : path) {
    if (std::string_view(".[]{}()*+?^$|\\").find(c) != std::string_view::npos) pattern += '\\';
    pattern += c;
  }
  impl_->server.Get(pattern, serve);
}

std::optional<std::string> HttpServer::start(const std::string& bindAddress) {
  if (running_) return name_ + " server already started";
  std::string error;
  auto addr = parseBindAddress(bindAddress, &error);
  if (!addr) return error;
  if (addr->disabled) return std::nullopt;
  int port = addr->port;
  if (port == 0) {
    port = impl_->server.bind_to_any_port(addr->host);
    if (port <= 0) return name_ + " server: cannot bind " + addr->host + " to any port";
  } else if (!impl_->server.bind_to_port(addr->host, port)) {
    return name_ + " server: cannot bind " + bindAddress + " (address in use or not local?)";
  }
  port_ = port;
  impl_->listenReturned = false;
  thread_ = std::thread([impl = impl_.get()] {
    impl->server.listen_after_bind();
    impl->listenReturned = true;
  });
  // cpp-httplib's stop() is a no-op until the accept loop runs; wait for it so that a stop()
  // right after start() cannot be lost. The socket already accepts connections meanwhile.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!impl_->server.is_running() && !impl_->listenReturned &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  running_ = true;
  logger().info("Serving", {{"server", name_}, {"address", addr->host}, {"port", port_}});
  return std::nullopt;
}

void HttpServer::stop() {
  if (!thread_.joinable()) return;
  while (!impl_->listenReturned) {
    if (impl_->server.is_running()) impl_->server.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  thread_.join();
  running_ = false;
}

void addHealthProbes(HttpServer& server, std::vector<ReadyCheck> readyChecks) {
  server.handle("/healthz", [] { return HttpResponse{200, "text/plain; charset=utf-8", "ok"}; });
  server.handle("/livez", [] { return HttpResponse{200, "text/plain; charset=utf-8", "ok"}; });
  server.handle("/readyz", [checks = std::move(readyChecks)] {
    std::string detail;
    bool ok = true;
    for (const auto& [name, check] : checks) {
      bool pass = false;
      try {
        pass = check && check();
      } catch (...) {
        pass = false;
      }
      ok = ok && pass;
      detail += (pass ? "[+]" : "[-]") + name + (pass ? " ok\n" : " failed\n");
    }
    if (ok) return HttpResponse{200, "text/plain; charset=utf-8", "ok"};
    return HttpResponse{500, "text/plain; charset=utf-8", detail + "readyz check failed\n"};
  });
}

void addMetricsEndpoint(HttpServer& server, MetricsRegistry& registry) {
  server.handle("/metrics", [&registry] {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", registry.render()};
  });
}

}  // namespace runtime
