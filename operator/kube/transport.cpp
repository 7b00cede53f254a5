#include "operator/kube/transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

#include "operator/kube/log.h"

namespace kube {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr std::uint64_t kMaxBodyBytes = 1ull << 30;  // a list of many large objects still fits

bool isIpAddress(const std::string& host) {
  boost::system::error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

std::string opensslErrors() {
  std::string s;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!s.empty()) s += "; ";
    s += buf;
  }
  return s;
}

}  // namespace

Result<ParsedUrl> parseServerUrl(const std::string& url) {
  ParsedUrl u;
  auto bad = [&](const std::string& why) {
    return ApiError::transport("BadConfig", "server URL \"" + url + "\": " + why);
  };
  auto sep = url.find("://");
  if (sep == std::string::npos) return bad("expected http:// or https://");
  u.scheme = url.substr(0, sep);
  if (u.scheme != "http" && u.scheme != "https") return bad("expected http:// or https://");
  std::string rest = url.substr(sep + 3);
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    u.pathPrefix = rest.substr(slash);
    while (!u.pathPrefix.empty() && u.pathPrefix.back() == '/') u.pathPrefix.pop_back();
  }
  if (authority.find('@') != std::string::npos) return bad("user info in the URL is not supported");
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string::npos) return bad("unterminated IPv6 address");
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("unexpected text after the IPv6 address");
      u.port = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) u.port = authority.substr(colon + 1);
  }
  if (u.host.empty()) return bad("missing host");
  if (u.port.empty()) u.port = u.scheme == "https" ? "443" : "80";
  for (char c : u.port) {
    if (c < '0' || c > '9') return bad("invalid port");
  }
  return u;
}

// One connection with its own io_context: every operation is an async Beast call run to
// completion on the calling thread, which gives per-operation timeouts (tcp_stream expiry) and
// lets another thread cancel a blocked read by posting to the io_context.
struct Transport::Connection {
  asio::io_context ioc;
  std::shared_ptr<void> tlsKeepAlive;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  std::chrono::steady_clock::time_point idleSince;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }

  void expire(std::chrono::milliseconds timeout) {
    if (timeout.count() > 0) {
      lowest().expires_after(timeout);
    } else {
      lowest().expires_never();
    }
  }

  // Runs the operation started by `start(handler)` to completion.
  template <class Start>
  beast::error_code run(std::chrono::milliseconds timeout, Start&& start) {
    beast::error_code result = asio::error::would_block;
    expire(timeout);
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  // True when the peer closed or sent something unexpected while the connection sat idle.
  bool staleWhileIdle() {
    pollfd p{lowest().socket().native_handle(), POLLIN, 0};
    return ::poll(&p, 1, 0) != 0;
  }

  void close() {
    boost::system::error_code ec;
    lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    lowest().socket().close(ec);
  }
};

Transport::Transport(TransportConfig config, ParsedUrl url)
    : config_(std::move(config)), url_(std::move(url)) {}

Transport::~Transport() = default;

namespace {

// " (from kubeconfig /x/config: clusters[0].cluster.certificate-authority-data)", or the trust
// store: which CA a TLS failure was checked against is the first thing a person needs.
std::string caOrigin(const TransportConfig& config) {
  if (config.caPem.empty()) return " (the system trust store)";
  return config.caSource.empty() ? "" : " (from " + config.caSource + ")";
}

Result<std::shared_ptr<ssl::context>> makeTlsContext(const TransportConfig& config) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  boost::system::error_code ec;
  if (!config.caPem.empty()) {
    ctx->add_certificate_authority(asio::buffer(config.caPem), ec);
    if (ec) {
      return ApiError::transport("TLSError",
                                 "the certificate authority" + caOrigin(config) +
                                     " is not a valid PEM certificate: " + ec.message());
    }
  } else {
    ctx->set_default_verify_paths(ec);
  }
  if (!config.clientCertPem.empty()) {
    ctx->use_certificate_chain(asio::buffer(config.clientCertPem), ec);
    if (ec) {
      return ApiError::transport("TLSError",
                                 "the client certificate is not valid PEM: " + ec.message());
    }
    ctx->use_private_key(asio::buffer(config.clientKeyPem), ssl::context::pem, ec);
    if (ec) {
      // The message is OpenSSL's; it never quotes the key.
      return ApiError::transport("TLSError",
                                 "the client key is not valid PEM or does not match "
                                 "the certificate: " +
                                     ec.message());
    }
  }
  ctx->set_verify_mode(config.insecureSkipTlsVerify ? ssl::verify_none : ssl::verify_peer);
  return ctx;
}

void setKeepAlive(tcp::socket& s) {
  int fd = s.native_handle();
  int on = 1, idle = 30, interval = 10, count = 3;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

ApiError ioError(const std::string& what, const beast::error_code& ec) {
  if (ec == beast::error::timeout) return ApiError::transport("Timeout", what + ": timed out");
  // TLS 1.3 servers reject a missing or bad client certificate after the handshake, with an
  // alert that surfaces on the first read.
  if (ec.category() == asio::error::get_ssl_category()) {
    return ApiError::transport("TLSError", what + ": " + ec.message());
  }
  return ApiError::transport("ConnectionFailed", what + ": " + ec.message());
}

}  // namespace

Result<std::unique_ptr<Transport>> Transport::create(TransportConfig config) {
  auto url = parseServerUrl(config.server);
  if (!url) return url.error();
  std::unique_ptr<Transport> t(new Transport(std::move(config), std::move(url.value())));
  if (t->url_.scheme == "https") {
    auto ctx = makeTlsContext(t->config_);
    if (!ctx) return ctx.error();
    t->tls_ = std::move(ctx.value());
    if (t->config_.insecureSkipTlsVerify) {
      log(LogLevel::Warn, "TLS verification is disabled (insecure-skip-tls-verify)",
          {{"server", t->config_.server}});
    }
  }
  return t;
}

Status Transport::setClientCertificate(const std::string& certPem, const std::string& keyPem) {
  if (url_.scheme != "https") return Unit{};
  TransportConfig c = config_;
  c.clientCertPem = certPem;
  c.clientKeyPem = keyPem;
  auto ctx = makeTlsContext(c);
  if (!ctx) return ctx.error();
  std::lock_guard<std::mutex> lock(mu_);
  config_.clientCertPem = certPem;
  config_.clientKeyPem = keyPem;
  tls_ = std::move(ctx.value());
  idle_.clear();  // pooled connections authenticated with the old certificate
  return Unit{};
}

std::string Transport::hostHeader() const {
  std::string h = url_.host.find(':') != std::string::npos ? "[" + url_.host + "]" : url_.host;
  bool defaultPort = (url_.scheme == "https" && url_.port == "443") ||
                     (url_.scheme == "http" && url_.port == "80");
  return defaultPort ? h : h + ":" + url_.port;
}

Result<std::unique_ptr<Transport::Connection>> Transport::connect() {
  auto c = std::make_unique<Connection>();
  std::shared_ptr<void> tlsCtx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tlsCtx = tls_;
  }
  std::string where = url_.scheme + "://" + hostHeader();
  auto deadline = std::chrono::steady_clock::now() + config_.connectTimeout;
  auto left = [&] {
    return std::max(std::chrono::milliseconds(1),
                    std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now()));
  };

  tcp::resolver resolver(c->ioc);
  boost::system::error_code ec;
  auto endpoints = resolver.resolve(url_.host, url_.port, ec);
  if (ec)
    return ApiError::transport("ConnectionFailed", "cannot resolve " + where + ": " + ec.message());

  if (tlsCtx) {
    auto& ctx = *std::static_pointer_cast<ssl::context>(tlsCtx);
    c->tls.emplace(c->ioc, ctx);
    c->tlsKeepAlive = tlsCtx;
  } else {
    c->plain.emplace(c->ioc);
  }
  ec = c->run(left(), [&](auto handler) {
    c->lowest().async_connect(
        endpoints, [handler](beast::error_code e, const tcp::endpoint&) mutable { handler(e); });
  });
  if (ec) return ioError("cannot connect to " + where, ec);
  setKeepAlive(c->lowest().socket());

  if (c->tls) {
    SSL* ssl = c->tls->native_handle();
    std::string name = config_.tlsServerName.empty() ? url_.host : config_.tlsServerName;
    // SNI carries DNS names only, never IP addresses (RFC 6066).
    if (!isIpAddress(name) && !SSL_set_tlsext_host_name(ssl, name.c_str())) {
      return ApiError::transport("TLSError", "cannot set SNI: " + opensslErrors());
    }
    if (!config_.insecureSkipTlsVerify) {
      X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
      X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      int ok = isIpAddress(name) ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str())
                                 : X509_VERIFY_PARAM_set1_host(param, name.c_str(), 0);
      if (!ok) return ApiError::transport("TLSError", "cannot set the name to verify: " + name);
    }
    ec = c->run(left(),
                [&](auto handler) { c->tls->async_handshake(ssl::stream_base::client, handler); });
    if (ec) {
      std::string why = ec.message();
      long verify = SSL_get_verify_result(ssl);
      if (verify != X509_V_OK) why = X509_verify_cert_error_string(verify);
      if (ec == beast::error::timeout) {
        return ApiError::transport("Timeout", "TLS handshake with " + where + ": timed out");
      }
      if (verify != X509_V_OK)
        why += ", verifying with the certificate authority" + caOrigin(config_);
      return ApiError::transport("TLSError", "TLS handshake with " + where + " failed: " + why);
    }
  }
  ++connectionsOpened_;
  return c;
}

std::unique_ptr<Transport::Connection> Transport::takeIdle() {
  std::lock_guard<std::mutex> lock(mu_);
  auto now = std::chrono::steady_clock::now();
  while (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    if (now - c->idleSince > config_.maxIdleTime || c->staleWhileIdle()) continue;
    return c;
  }
  return nullptr;
}

void Transport::putIdle(std::unique_ptr<Connection> c) {
  std::lock_guard<std::mutex> lock(mu_);
  // A connection made with a replaced TLS context (new client certificate) is not reused.
  if (idle_.size() >= config_.maxIdleConnections || (tls_ && c->tlsKeepAlive != tls_)) return;
  c->idleSince = std::chrono::steady_clock::now();
  idle_.push_back(std::move(c));
}

std::size_t Transport::idleConnections() const {
  std::lock_guard<std::mutex> lock(mu_);
  return idle_.size();
}

namespace {

http::verb toVerb(const std::string& method) {
  auto v = http::string_to_verb(method);
  return v == http::verb::unknown ? http::verb::get : v;
}

http::request<http::string_body> buildRequest(const HttpRequest& r, const std::string& prefix,
                                              const std::string& host) {
  http::request<http::string_body> req{toVerb(r.method), prefix + r.target, 11};
  req.set(http::field::host, host);
  for (const auto& [k, v] : r.headers) req.set(k, v);
  if (!r.body.empty() || r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
    req.body() = r.body;
    req.prepare_payload();
  }
  req.keep_alive(true);
  return req;
}

template <class Message>
std::map<std::string, std::string> lowerHeaders(const Message& m) {
  std::map<std::string, std::string> h;
  for (const auto& f : m) {
    std::string name(f.name_string());
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    h[name] = std::string(f.value());
  }
  return h;
}

}  // namespace

Result<HttpResponse> Transport::roundTrip(const HttpRequest& request, bool* requestSent) {
  if (requestSent) *requestSent = false;
  auto req = buildRequest(request, url_.pathPrefix, hostHeader());
  for (int attempt = 0;; ++attempt) {
    auto conn = takeIdle();
    bool reused = conn != nullptr;
    if (!conn) {
      auto fresh = connect();
      if (!fresh) return fresh.error();
      conn = std::move(fresh.value());
    }
    Connection& c = *conn;
    std::size_t written = 0;
    auto ec = c.run(config_.requestTimeout, [&](auto handler) {
      auto callback = [handler, &written](beast::error_code e, std::size_t n) mutable {
        written = n;
        handler(e);
      };
      if (c.tls) {
        http::async_write(*c.tls, req, callback);
      } else {
        http::async_write(*c.plain, req, callback);
      }
    });
    if (written > 0 && requestSent) *requestSent = true;
    // A keep-alive connection the server closed meanwhile fails on first use: try once more
    // on a fresh connection when that cannot run the request twice.
    auto retryFresh = [&] {
      return reused && attempt == 0 && (request.idempotent || written == 0);
    };
    if (ec) {
      if (retryFresh()) continue;
      return ioError("sending " + request.method + " request", ec);
    }
    if (requestSent) *requestSent = true;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBodyBytes);
    parser.header_limit(64 * 1024);
    ec = c.run(config_.requestTimeout, [&](auto handler) {
      if (c.tls) {
        http::async_read(*c.tls, c.buffer, parser, handler);
      } else {
        http::async_read(*c.plain, c.buffer, parser, handler);
      }
    });
    if (ec) {
      bool nothingRead = !parser.got_some();
      if (nothingRead && retryFresh()) continue;
      if (ec == http::error::body_limit) {
        return ApiError::transport("BadResponse", "the response body exceeds 1 GiB");
      }
      if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
        return ApiError::transport("BadResponse", "malformed HTTP response: " + ec.message());
      }
      return ioError("reading the response to " + request.method, ec);
    }
    auto res = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    out.headers = lowerHeaders(res);
    out.body = std::move(res.body());
    if (res.keep_alive() && !res.need_eof()) putIdle(std::move(conn));
    return out;
  }
}

namespace {

class BeastStream : public HttpStream {
 public:
  BeastStream(std::unique_ptr<Transport::Connection> conn, std::chrono::milliseconds readTimeout)
      : conn_(std::move(conn)), readTimeout_(readTimeout) {
    parser_.body_limit(boost::none);
    parser_.header_limit(64 * 1024);
  }
  ~BeastStream() override { conn_->close(); }

  beast::error_code readHeader(std::chrono::milliseconds timeout) {
    return conn_->run(timeout, [&](auto handler) {
      if (conn_->tls) {
        http::async_read_header(*conn_->tls, conn_->buffer, parser_, handler);
      } else {
        http::async_read_header(*conn_->plain, conn_->buffer, parser_, handler);
      }
    });
  }

  int status() const override { return static_cast<int>(parser_.get().result_int()); }
  std::string header(const std::string& lowerName) const override {
    auto it = parser_.get().find(lowerName);
    return it == parser_.get().end() ? std::string() : std::string(it->value());
  }

  Result<bool> read(std::string& out) override {
    char buf[64 * 1024];
    while (true) {
      if (cancelled_.load()) return false;
      if (parser_.is_done()) return false;
      parser_.get().body().data = buf;
      parser_.get().body().size = sizeof buf;
      auto ec = conn_->run(readTimeout_, [&](auto handler) {
        if (conn_->tls) {
          http::async_read_some(*conn_->tls, conn_->buffer, parser_, handler);
        } else {
          http::async_read_some(*conn_->plain, conn_->buffer, parser_, handler);
        }
      });
      if (ec == http::error::need_buffer) ec = {};
      std::size_t n = sizeof buf - parser_.get().body().size;
      if (n > 0) out.append(buf, n);
      if (cancelled_.load()) return false;
      if (ec) {
        if (ec == http::error::end_of_stream || ec == asio::error::eof) {
          return ApiError::transport("ConnectionFailed", "the server closed the stream");
        }
        return ioError("reading the stream", ec);
      }
      if (n > 0) return true;
    }
  }

  void cancel() override {
    if (cancelled_.exchange(true)) return;
    // Runs on the reading thread inside its io_context; closing there is race-free.
    asio::post(conn_->ioc, [c = conn_.get()] {
      boost::system::error_code ec;
      c->lowest().socket().cancel(ec);
      c->lowest().socket().shutdown(tcp::socket::shutdown_both, ec);
    });
  }

 private:
  std::unique_ptr<Transport::Connection> conn_;
  std::chrono::milliseconds readTimeout_;
  http::response_parser<http::buffer_body> parser_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

Result<std::unique_ptr<HttpStream>> Transport::openStream(const HttpRequest& request,
                                                          std::chrono::milliseconds readTimeout) {
  auto req = buildRequest(request, url_.pathPrefix, hostHeader());
  auto fresh = connect();
  if (!fresh) return fresh.error();
  auto conn = std::move(fresh.value());
  auto ec = conn->run(config_.requestTimeout, [&](auto handler) {
    if (conn->tls) {
      http::async_write(*conn->tls, req, handler);
    } else {
      http::async_write(*conn->plain, req, handler);
    }
  });
  if (ec) return ioError("sending " + request.method + " request", ec);
  auto stream = std::make_unique<BeastStream>(std::move(conn), readTimeout);
  // The headers of a watch come at once; only the body is long-lived.
  ec = stream->readHeader(config_.requestTimeout);
  if (ec) return ioError("reading the response headers", ec);
  return std::unique_ptr<HttpStream>(std::move(stream));
}

}  // namespace kube
