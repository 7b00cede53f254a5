#pragma once
// Transport over HTTP(S) with cpp-httplib: the headers of the real Prefect client
// (Authorization: Bearer, X-PREFECT-API-VERSION, Accept-Encoding gzip), TLS verified with the
// system CAs for https URLs, and the client's retries: 429 (honouring Retry-After), 502 and 503
// with exponential backoff, at most `maxAttempts` tries.
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "controllers/workpool/prefect/transport.h"

namespace controllers::workpool::prefect {

struct HttpTransportOptions {
  std::string apiUrl;  // e.g. http://prefect:4200/api or
                       // https://api.prefect.cloud/api/accounts/A/workspaces/W
  std::string apiKey;  // empty: no Authorization header
  std::chrono::milliseconds timeout{10000};
  int maxAttempts = 4;
  std::chrono::milliseconds firstBackoff{500};
  std::chrono::milliseconds maxBackoff{10000};
  // Waits between retries (tests pass a recorder); null means std::this_thread::sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// Splits "scheme://host:port/prefix" into its parts; false when it is not an http(s) URL.
struct ParsedUrl {
  std::string scheme;  // http or https
  std::string host;
  int port = 0;
  std::string prefix;  // path without a trailing '/', e.g. "/api"
};
bool parseApiUrl(const std::string& url, ParsedUrl& out);

class HttpTransport : public Transport {
 public:
  explicit HttpTransport(HttpTransportOptions options);
  ~HttpTransport() override;
  Response request(const std::string& method, const std::string& path,
                   const nlohmann::json& body) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// The delay a 429/503 answer asks for: Retry-After in seconds (integer or fraction), capped.
std::chrono::milliseconds retryAfterDelay(const std::string& header, std::chrono::milliseconds cap);

}  // namespace controllers::workpool::prefect
