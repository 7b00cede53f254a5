#include "controllers/workpool/prefect/http_transport.h"

#include <httplib.h>

#include <algorithm>
#include <mutex>
#include <thread>

namespace controllers::workpool::prefect {

bool parseApiUrl(const std::string& url, ParsedUrl& out) {
  const auto sep = url.find("://");
  if (sep == std::string::npos) return false;
  out.scheme = url.substr(0, sep);
  if (out.scheme != "http" && out.scheme != "https") return false;
  const auto rest = url.substr(sep + 3);
  const auto slash = rest.find('/');
  const std::string hostPort = rest.substr(0, slash);
  out.prefix = slash == std::string::npos ? "" : rest.substr(slash);
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  const auto colon = hostPort.rfind(':');
  if (colon != std::string::npos && hostPort.find(']') == std::string::npos) {
    out.host = hostPort.substr(0, colon);
    try {
      out.port = std::stoi(hostPort.substr(colon + 1));
    } catch (...) {
      return false;
    }
  } else {
    out.host = hostPort;
    out.port = out.scheme == "https" ? 443 : 80;
  }
  return !out.host.empty() && out.port > 0 && out.port < 65536;
}

std::chrono::milliseconds retryAfterDelay(const std::string& header,
                                          std::chrono::milliseconds cap) {
  try {
    const double seconds = std::stod(header);
    if (seconds < 0) return std::chrono::milliseconds{0};
    return std::min(cap, std::chrono::milliseconds{static_cast<long long>(seconds * 1000)});
  } catch (...) {
    return std::chrono::milliseconds{-1};  // not a number (an HTTP date): use the backoff
  }
}

struct HttpTransport::Impl {
  HttpTransportOptions options;
  ParsedUrl url;
  bool validUrl = false;
  std::mutex mutex;  // httplib::Client is not safe for concurrent requests
  std::unique_ptr<httplib::Client> client;

  explicit Impl(HttpTransportOptions o) : options(std::move(o)) {
    validUrl = parseApiUrl(options.apiUrl, url);
    if (!validUrl) return;
    client = std::make_unique<httplib::Client>(url.scheme + "://" + url.host + ":" +
                                               std::to_string(url.port));
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(options.timeout);
    const auto usecs =
        std::chrono::duration_cast<std::chrono::microseconds>(options.timeout - secs);
    client->set_connection_timeout(secs.count(), usecs.count());
    client->set_read_timeout(secs.count(), usecs.count());
    client->set_write_timeout(secs.count(), usecs.count());
    client->set_keep_alive(true);
    client->set_decompress(true);
    if (url.scheme == "https") client->enable_server_certificate_verification(true);
  }

  httplib::Headers headers() const {
    httplib::Headers h{{"X-PREFECT-API-VERSION", kApiVersion},
                       {"Accept", "application/json"},
                       {"Accept-Encoding", "gzip, deflate"},
                       {"User-Agent", "flowrun-operator (API 0.8.4)"}};
    if (!options.apiKey.empty()) h.emplace("Authorization", "Bearer " + options.apiKey);
    return h;
  }

  httplib::Result send(const std::string& method, const std::string& path,
                       const std::string& payload, bool hasBody) {
    const std::string full = url.prefix + path;
    const char* type = "application/json";
    if (method == "GET") return client->Get(full, headers());
    if (method == "DELETE") return client->Delete(full, headers());
    if (method == "PATCH") return client->Patch(full, headers(), hasBody ? payload : "", type);
    if (method == "PUT") return client->Put(full, headers(), hasBody ? payload : "", type);
    return client->Post(full, headers(), hasBody ? payload : "", type);
  }

  void pause(std::chrono::milliseconds d) const {
    if (options.sleep) {
      options.sleep(d);
    } else {
      std::this_thread::sleep_for(d);
    }
  }

  Response once(const std::string& method, const std::string& path, const nlohmann::json& body,
                std::string& retryAfter) {
    Response r;
    const bool hasBody = !body.is_null();
    auto res = send(method, path, hasBody ? body.dump() : std::string{}, hasBody);
    if (!res) {
      r.error = method + " " + path + ": " + httplib::to_string(res.error());
      return r;
    }
    r.status = res->status;
    retryAfter = res->get_header_value("Retry-After");
    if (!res->body.empty()) {
      r.body = nlohmann::json::parse(res->body, nullptr, false);
      if (r.body.is_discarded()) {
        r.body = nullptr;
        r.malformed = true;
        r.error = method + " " + path + ": HTTP " + std::to_string(r.status) +
                  " with a body that is not JSON: " + res->body.substr(0, 200);
      }
    }
    return r;
  }
};

HttpTransport::HttpTransport(HttpTransportOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpTransport::~HttpTransport() = default;

Response HttpTransport::request(const std::string& method, const std::string& path,
                                const nlohmann::json& body) {
  Impl& d = *impl_;
  if (!d.validUrl) {
    Response r;
    r.error = "the API URL \"" + d.options.apiUrl + "\" is not an http:// or https:// URL";
    return r;
  }
  std::lock_guard lock(d.mutex);
  auto backoff = d.options.firstBackoff;
  Response r;
  for (int attempt = 1;; ++attempt) {
    std::string retryAfter;
    r = d.once(method, path, body, retryAfter);
    const bool retriable = r.status == 429 || r.status == 502 || r.status == 503;
    if (!retriable || attempt >= d.options.maxAttempts) return r;
    auto wait = retryAfter.empty() ? std::chrono::milliseconds{-1}
                                   : retryAfterDelay(retryAfter, d.options.maxBackoff);
    if (wait.count() < 0) {  // no usable Retry-After: exponential backoff
      wait = backoff;
      backoff = std::min(d.options.maxBackoff, backoff * 2);
    }
    d.pause(wait);
  }
}

}  // namespace controllers::workpool::prefect
