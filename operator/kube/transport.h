#pragma once
// HTTP/1.1 over TCP or TLS (Boost.Beast, Asio, OpenSSL) to one API server: verified TLS with SNI
// and host name/IP checks, client certificates, a small thread-safe keep-alive pool, bounded
// connect/read timeouts, and streamed responses (watches) on their own connection.
// Calls are synchronous and may be made from any number of threads at once.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "operator/kube/api_error.h"

namespace kube {

struct TransportConfig {
  std::string server;    // https://host:port[/prefix] or http://...
  std::string caPem;     // empty: system trust store
  std::string caSource;  // where caPem came from, named in TLS errors; "" : the trust store
  std::string clientCertPem;
  std::string clientKeyPem;
  bool insecureSkipTlsVerify = false;
  std::string tlsServerName;  // overrides the name sent in SNI and checked in the certificate
  std::chrono::milliseconds connectTimeout{10000};  // resolve + connect + TLS handshake
  std::chrono::milliseconds requestTimeout{60000};  // each read/write of a non-streamed call
  std::size_t maxIdleConnections = 8;
  std::chrono::milliseconds maxIdleTime{30000};  // idle connections older than this are dropped
};

struct HttpRequest {
  std::string method = "GET";
  std::string target;  // path and query, without the server's path prefix
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Safe to send twice: a request that fails on a reused keep-alive connection is re-sent once
  // on a fresh one only when this is set (or when nothing of it was written).
  bool idempotent = false;
};

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string header(const std::string& lowerName) const {
    auto it = headers.find(lowerName);
    return it == headers.end() ? std::string() : it->second;
  }
};

// A response whose body is read piece by piece (a watch).
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  virtual int status() const = 0;
  virtual std::string header(const std::string& lowerName) const = 0;
  // Appends the next piece of the body to `out`. Returns false at the end of the body, an
  // error when the connection fails or the read times out. After cancel() it returns false.
  virtual Result<bool> read(std::string& out) = 0;
  // Thread-safe: unblocks a read() in progress on another thread promptly.
  virtual void cancel() = 0;
};

struct ParsedUrl {
  std::string scheme;  // http | https
  std::string host;    // without brackets
  std::string port;
  std::string pathPrefix;  // "" or "/prefix"
};
Result<ParsedUrl> parseServerUrl(const std::string& url);

class Transport {
 public:
  // Fails (reason TLSError / BadConfig) when the URL, CA or client certificate is unusable.
  static Result<std::unique_ptr<Transport>> create(TransportConfig config);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // requestSent (optional) is set to true once any byte of the request was written: a request
  // that failed before that was never seen by the server.
  Result<HttpResponse> roundTrip(const HttpRequest& request, bool* requestSent = nullptr);
  // Sends the request on a new connection and returns once the response headers arrived.
  // readTimeout bounds each read (0: none; the connection still has TCP keep-alive).
  Result<std::unique_ptr<HttpStream>> openStream(const HttpRequest& request,
                                                 std::chrono::milliseconds readTimeout);
  // Swaps the client certificate (exec plugins may return one); new connections use it.
  Status setClientCertificate(const std::string& certPem, const std::string& keyPem);

  std::size_t idleConnections() const;
  std::uint64_t connectionsOpened() const { return connectionsOpened_.load(); }
  const ParsedUrl& url() const { return url_; }

  struct Connection;  // defined in transport.cpp

 private:
  explicit Transport(TransportConfig config, ParsedUrl url);
  Result<std::unique_ptr<Connection>> connect();
  std::unique_ptr<Connection> takeIdle();
  void putIdle(std::unique_ptr<Connection> c);
  std::string hostHeader() const;

  TransportConfig config_;
  ParsedUrl url_;
  mutable std::mutex mu_;
  std::shared_ptr<void> tls_;  // the ssl::context in use (type-erased to keep Asio out of here)
  std::vector<std::unique_ptr<Connection>> idle_;
  std::atomic<std::uint64_t> connectionsOpened_{0};
};

}  // namespace kube
