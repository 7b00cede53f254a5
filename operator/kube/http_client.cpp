#include "operator/kube/http_client.h"

#include <sys/stat.h>

#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "operator/kube/exec_credential.h"
#include "operator/kube/json_decode.h"
#include "operator/kube/log.h"
#include "operator/kube/rate_limiter.h"
#include "operator/kube/redaction.h"
#include "operator/kube/selector.h"
#include "operator/kube/transport.h"
#include "operator/kube/watch_event_decoder.h"

namespace kube {

namespace {

// A string member, "" when absent or not a string (json::value would throw on a bad body).
std::string stringAt(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string trimToken(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// A token file that kubelet rotates (projected service account tokens): re-read when its
// modification time or size changes, at most once a second, and on demand after a 401.
class TokenFile {
 public:
  explicit TokenFile(std::string path) : path_(std::move(path)) {}

  Result<std::string> token(bool force) {
    std::lock_guard<std::mutex> lock(mu_);
    auto now = std::chrono::steady_clock::now();
    if (!force && !token_.empty() && now - checked_ < std::chrono::seconds(1)) return token_;
    checked_ = now;
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
      if (!token_.empty()) return token_;  // keep the last good token through a rotation
      return ApiError::transport("Unauthorized", "cannot read the token file " + path_);
    }
    if (!force && !token_.empty() && st.st_mtim.tv_sec == mtime_.tv_sec &&
        st.st_mtim.tv_nsec == mtime_.tv_nsec && st.st_size == size_) {
      return token_;
    }
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string t = trimToken(ss.str());
    if (t.empty()) {
      if (!token_.empty()) return token_;
      return ApiError::transport("Unauthorized", "the token file " + path_ + " is empty");
    }
    registerSecret(t);
    token_ = t;
    mtime_ = st.st_mtim;
    size_ = st.st_size;
    return token_;
  }

 private:
  std::string path_;
  std::mutex mu_;
  std::string token_;
  std::chrono::steady_clock::time_point checked_{};
  timespec mtime_{};
  off_t size_ = -1;
};

const char* patchContentType(PatchType t) {
  switch (t) {
    case PatchType::Merge:
      return "application/merge-patch+json";
    case PatchType::JsonPatch:
      return "application/json-patch+json";
    case PatchType::StrategicMerge:
      return "application/strategic-merge-patch+json";
    case PatchType::Apply:
      return "application/apply-patch+yaml";
  }
  return "application/merge-patch+json";
}

class QueryBuilder {
 public:
  QueryBuilder& add(const std::string& key, const std::string& value) {
    if (value.empty()) return *this;
    q_ += (q_.empty() ? "?" : "&") + key + "=" + urlEncode(value);
    return *this;
  }
  std::string str() const { return q_; }

 private:
  std::string q_;
};

struct Request {
  std::string method;
  std::string target;
  std::string body;
  std::string contentType;
  bool idempotent = false;
  const json* keep = nullptr;  // trims a 2xx body while it is decoded (json_decode.h)
};

class HttpWatchStream : public WatchStream {
 public:
  HttpWatchStream(std::unique_ptr<HttpStream> stream, std::shared_ptr<const json> keep)
      : stream_(std::move(stream)), keep_(std::move(keep)) {}

  std::optional<Result<WatchEvent>> next() override {
    while (true) {
      if (cancelled_.load()) return std::nullopt;
      auto nl = buffer_.find('\n', scanned_);
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        scanned_ = 0;
        if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
        return decodeWatchEvent(line, keep_.get());
      }
      scanned_ = buffer_.size();
      auto more = stream_->read(buffer_);
      if (cancelled_.load()) return std::nullopt;
      if (!more) return Result<WatchEvent>(more.error());
      if (!more.value()) {
        // End of the stream (the server's timeoutSeconds): a last line without newline counts.
        if (buffer_.find_first_not_of(" \r\t\n") != std::string::npos) {
          std::string line;
          line.swap(buffer_);
          scanned_ = 0;
          return decodeWatchEvent(line, keep_.get());
        }
        return std::nullopt;
      }
    }
  }

  void cancel() override {
    cancelled_.store(true);
    stream_->cancel();
  }

 private:
  std::unique_ptr<HttpStream> stream_;
  std::shared_ptr<const json> keep_;
  std::string buffer_;
  std::size_t scanned_ = 0;
  std::atomic<bool> cancelled_{false};
};

class HttpClient : public Client {
 public:
  HttpClient(RestConfig config, HttpClientOptions options, std::unique_ptr<Transport> transport)
      : config_(std::move(config)),
        options_(options),
        transport_(std::move(transport)),
        limiter_(options.qps.value_or(config_.qps), options.burst.value_or(config_.burst)) {
    registerSecret(config_.bearerToken);
    if (!config_.tokenFile.empty()) tokenFile_ = std::make_unique<TokenFile>(config_.tokenFile);
    if (config_.exec) exec_ = std::make_unique<ExecCredentialProvider>(*config_.exec, config_);
  }

  Result<json> get(const ResourceType& type, const std::string& ns,
                   const std::string& name) override {
    if (name.empty()) return invalidArgument("get " + type.qualifiedName() + ": name is empty");
    return call({"GET", type.path(ns, name), "", "", true});
  }

  Result<ObjectList> list(const ResourceType& type, const std::string& ns,
                          const ListOptions& options) override {
    ObjectList out;
    std::string cont = options.continueToken;
    bool singlePage = !options.continueToken.empty() || !options.allPages;
    std::int64_t limit = options.limit;
    const json listSchema =
        options.keep ? json{{"metadata", true}, {"items", *options.keep}} : json();
    while (true) {
      QueryBuilder q;
      q.add("labelSelector", options.labelSelector).add("fieldSelector", options.fieldSelector);
      if (limit > 0) q.add("limit", std::to_string(limit));
      q.add("continue", cont);
      if (cont.empty()) q.add("resourceVersion", options.resourceVersion);
      auto r = call(
          {"GET", type.path(ns) + q.str(), "", "", true, options.keep ? &listSchema : nullptr});
      if (!r) {
        // The continue token expired while paging: fall back to one full list, as client-go.
        if (r.error().isGone() && !cont.empty() && !singlePage) {
          out = ObjectList{};
          cont.clear();
          limit = 0;
          continue;
        }
        return r.error();
      }
      json& body = r.value();
      if (!body.is_object() || !body.contains("items")) {
        return ApiError::transport("BadResponse",
                                   "list " + type.qualifiedName() + ": the response has no items");
      }
      if (body["items"].is_array()) {
        for (auto& item : body["items"]) {
          // List items omit kind and apiVersion; fill them so items look like watched objects.
          if (item.is_object()) {
            if (!item.contains("kind")) item["kind"] = type.kind;
            if (!item.contains("apiVersion")) item["apiVersion"] = type.apiVersion();
          }
          out.items.push_back(std::move(item));
        }
      }
      const json& md = body.contains("metadata") ? body["metadata"] : json::object();
      // The first page names the snapshot all pages come from (client-go keeps it too).
      if (cont.empty() || out.resourceVersion.empty())
        out.resourceVersion = stringAt(md, "resourceVersion");
      cont = stringAt(md, "continue");
      if (singlePage || limit <= 0 || cont.empty()) {
        out.continueToken = singlePage ? cont : "";
        return out;
      }
    }
  }

  Result<json> create(const ResourceType& type, const std::string& ns,
                      const json& object) override {
    std::string targetNs = ns;
    if (targetNs.empty() && object.is_object() && object.contains("metadata")) {
      targetNs = object["metadata"].value("namespace", "");
    }
    if (type.namespaced && targetNs.empty()) {
      return invalidArgument("create " + type.qualifiedName() + ": namespace is empty");
    }
    return call({"POST", type.path(targetNs), object.dump(), "application/json", false});
  }

  Result<json> update(const ResourceType& type, const json& object) override {
    return put(type, object, "");
  }
  Result<json> updateStatus(const ResourceType& type, const json& object) override {
    return put(type, object, "status");
  }

  Result<json> patch(const ResourceType& type, const std::string& ns, const std::string& name,
                     const json& patch, const PatchOptions& options) override {
    if (name.empty()) return invalidArgument("patch " + type.qualifiedName() + ": name is empty");
    QueryBuilder q;
    if (options.type == PatchType::Apply) {
      if (options.fieldManager.empty()) {
        return invalidArgument("server-side apply of " + type.qualifiedName() + " " + name +
                               ": fieldManager is required");
      }
      if (options.force) q.add("force", "true");
    }
    q.add("fieldManager", options.fieldManager);
    return call({"PATCH", type.path(ns, name, options.subresource) + q.str(), patch.dump(),
                 patchContentType(options.type), false});
  }

  Result<json> remove(const ResourceType& type, const std::string& ns, const std::string& name,
                      const DeleteOptions& options) override {
    if (name.empty()) return invalidArgument("delete " + type.qualifiedName() + ": name is empty");
    json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
    if (options.propagationPolicy) body["propagationPolicy"] = *options.propagationPolicy;
    if (options.gracePeriodSeconds) body["gracePeriodSeconds"] = *options.gracePeriodSeconds;
    if (options.preconditionUid) body["preconditions"]["uid"] = *options.preconditionUid;
    if (options.preconditionResourceVersion) {
      body["preconditions"]["resourceVersion"] = *options.preconditionResourceVersion;
    }
    return call({"DELETE", type.path(ns, name), body.dump(), "application/json", true});
  }

  Result<std::unique_ptr<WatchStream>> watch(const ResourceType& type, const std::string& ns,
                                             const WatchOptions& options) override {
    QueryBuilder q;
    q.add("watch", "1")
        .add("labelSelector", options.labelSelector)
        .add("fieldSelector", options.fieldSelector)
        .add("resourceVersion", options.resourceVersion);
    if (options.allowBookmarks) q.add("allowWatchBookmarks", "true");
    if (options.timeoutSeconds > 0) q.add("timeoutSeconds", std::to_string(options.timeoutSeconds));
    std::chrono::milliseconds readTimeout{0};
    if (options.timeoutSeconds > 0) {
      readTimeout = std::chrono::seconds(options.timeoutSeconds) + options_.watchTimeoutMargin;
    }
    Request req{"GET", type.path(ns) + q.str(), "", "", true};
    std::unique_ptr<HttpStream> opened;
    auto r = withRetries(req, [&](const HttpRequest& http, bool* sent) -> Result<HttpResponse> {
      *sent = true;
      auto s = transport_->openStream(http, readTimeout);
      if (!s) return s.error();
      HttpResponse head;
      head.status = s.value()->status();
      if (head.status != 200) {
        // An error answer: read its (small) body for the Status.
        std::string body;
        while (true) {
          auto more = s.value()->read(body);
          if (!more || !more.value() || body.size() > (1u << 20)) break;
        }
        head.body = std::move(body);
        head.headers["retry-after"] = s.value()->header("retry-after");
        return head;
      }
      opened = std::move(s.value());
      return head;
    });
    if (!r) {
      ApiError e = r.error();
      e.message = "watch " + redactUrl(req.target) + ": " + redactText(e.message);
      return e;
    }
    if (r->status != 200 || !opened) {
      json body = json::parse(r->body, nullptr, false);
      ApiError e = ApiError::fromStatus(r->status, body.is_discarded() ? json() : body);
      if (e.retryAfterSeconds == 0) e.retryAfterSeconds = parseRetryAfter(r->header("retry-after"));
      e.message = redactText(e.message) + unauthorizedHint(e.code);
      return e;
    }
    return std::unique_ptr<WatchStream>(
        std::make_unique<HttpWatchStream>(std::move(opened), options.keep));
  }

 private:
  // A 401 says only "Unauthorized": name the credential that was refused and where it came from,
  // so a person knows which token or plugin to fix (never the credential itself).
  std::string unauthorizedHint(int code) const {
    if (code != 401) return "";
    return "; the API server refused " + describeCredential(config_);
  }

  static ApiError invalidArgument(const std::string& message) {
    return ApiError{400, "BadRequest", message, {}, 0};
  }

  Result<json> put(const ResourceType& type, const json& object, const std::string& sub) {
    if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
      return invalidArgument("update " + type.qualifiedName() + ": the object has no metadata");
    }
    std::string name = object["metadata"].value("name", "");
    std::string ns = object["metadata"].value("namespace", "");
    if (name.empty()) return invalidArgument("update " + type.qualifiedName() + ": name is empty");
    // A PUT carrying a resourceVersion is conditional: replaying it can only end in a 409.
    // Without one it is still not retried (a blind overwrite could clobber a newer write).
    return call({"PUT", type.path(ns, name, sub), object.dump(), "application/json", false});
  }

  // Authorization header for the next attempt; refresh forces re-reading the credential.
  Result<std::string> authorization(bool refresh) {
    if (exec_) {
      if (refresh) exec_->invalidate();
      auto c = exec_->get();
      if (!c) return c.error();
      if (!c->clientCertPem.empty()) {
        std::lock_guard<std::mutex> lock(certMu_);
        if (c->clientCertPem != execCert_) {
          auto s = transport_->setClientCertificate(c->clientCertPem, c->clientKeyPem);
          if (!s) return s.error();
          execCert_ = c->clientCertPem;
        }
      }
      if (!c->token.empty()) return "Bearer " + c->token;
      return std::string();
    }
    if (!config_.bearerToken.empty()) return "Bearer " + config_.bearerToken;
    if (tokenFile_) {
      auto t = tokenFile_->token(refresh);
      if (!t) return t.error();
      return "Bearer " + t.value();
    }
    return std::string();
  }

  template <class Send>
  Result<HttpResponse> withRetries(const Request& r, Send&& send) {
    HttpRequest http;
    http.method = r.method;
    http.target = r.target;
    http.body = r.body;
    http.idempotent = r.idempotent;
    http.headers = {{"Accept", "application/json"}, {"User-Agent", config_.userAgent}};
    if (!r.contentType.empty()) http.headers.emplace_back("Content-Type", r.contentType);
    Backoff backoff(options_.retryBackoff);
    bool refreshedCredential = false;
    bool refreshCredential = false;
    for (int attempt = 0;; ++attempt) {
      auto auth = authorization(refreshCredential);
      if (!auth) return auth.error();
      refreshCredential = false;
      HttpRequest attemptReq = http;
      if (!auth->empty()) attemptReq.headers.emplace_back("Authorization", *auth);
      limiter_.acquire();
      bool sent = false;
      auto start = std::chrono::steady_clock::now();
      Result<HttpResponse> res = send(attemptReq, &sent);
      observeRequest(r.method, res.ok() ? res->status : 0,
                     std::chrono::steady_clock::now() - start);
      std::chrono::milliseconds wait{0};
      if (res.ok()) {
        int code = res->status;
        if (code == 401 && !refreshedCredential && (exec_ || tokenFile_)) {
          // The credential may have expired or rotated: fetch a fresh one and try once more.
          refreshedCredential = refreshCredential = true;
          continue;
        }
        // 429: the server did not process the request, so any method may be re-sent.
        bool retryable = code == 429 || (code >= 500 && r.idempotent);
        if (!retryable || attempt >= options_.maxRetries) return res;
        int retryAfter = parseRetryAfter(res->header("retry-after"));
        wait = retryAfter > 0 ? std::min<std::chrono::milliseconds>(
                                    std::chrono::seconds(retryAfter), options_.maxRetryAfter)
                              : backoff.next();
        log(LogLevel::Debug, "retrying request",
            {{"method", r.method},
             {"path", redactUrl(r.target)},
             {"code", std::to_string(code)},
             {"delayMs", std::to_string(wait.count())}});
      } else {
        // A certificate that fails verification will fail the same way again.
        bool retryable = (r.idempotent || !sent) && res.error().reason != "TLSError";
        if (!retryable || attempt >= options_.maxRetries) return res.error();
        wait = backoff.next();
        log(LogLevel::Debug, "retrying request after a connection failure",
            {{"method", r.method},
             {"path", redactUrl(r.target)},
             {"error", redactText(res.error().message)},
             {"delayMs", std::to_string(wait.count())}});
      }
      std::this_thread::sleep_for(wait);
    }
  }

  static int parseRetryAfter(const std::string& v) {
    if (v.empty()) return 0;
    try {
      std::size_t used = 0;
      int s = std::stoi(v, &used);
      return used == v.size() && s > 0 ? s : 0;
    } catch (...) {
      return 0;  // an HTTP date: fall back to our own backoff
    }
  }

  Result<json> call(const Request& r) {
    auto res = withRetries(r, [this](const HttpRequest& http, bool* sent) {
      return transport_->roundTrip(http, sent);
    });
    if (!res) {
      ApiError e = res.error();
      e.message = r.method + " " + redactUrl(r.target) + ": " + redactText(e.message);
      return e;
    }
    json body;
    if (!res->body.empty()) {
      const bool ok = res->status >= 200 && res->status < 300;
      // An error's Status is never trimmed: its message and code are what the caller reads.
      auto decoded = decodeJson(res->body, ok ? r.keep : nullptr);
      body = decoded ? std::move(*decoded) : json(json::value_t::discarded);
      if (body.is_discarded()) {
        if (res->status >= 200 && res->status < 300) {
          return ApiError{res->status,
                          "BadResponse",
                          r.method + " " + redactUrl(r.target) + ": the response is not JSON",
                          {},
                          0};
        }
        body = nullptr;
      }
    }
    if (res->status >= 200 && res->status < 300) return body;
    ApiError e = ApiError::fromStatus(res->status, body);
    if (e.retryAfterSeconds == 0) e.retryAfterSeconds = parseRetryAfter(res->header("retry-after"));
    e.message = redactText(e.message) + unauthorizedHint(e.code);
    return e;
  }

  RestConfig config_;
  HttpClientOptions options_;
  std::unique_ptr<Transport> transport_;
  RateLimiter limiter_;
  std::unique_ptr<TokenFile> tokenFile_;
  std::unique_ptr<ExecCredentialProvider> exec_;
  std::mutex certMu_;
  std::string execCert_;
};

// Returned by makeHttpClient when the configuration is unusable, so that callers that cannot
// handle a null client still get the error on every call.
class FailedClient : public Client {
 public:
  explicit FailedClient(ApiError error) : error_(std::move(error)) {}
  Result<json> get(const ResourceType&, const std::string&, const std::string&) override {
    return error_;
  }
  Result<ObjectList> list(const ResourceType&, const std::string&, const ListOptions&) override {
    return error_;
  }
  Result<json> create(const ResourceType&, const std::string&, const json&) override {
    return error_;
  }
  Result<json> update(const ResourceType&, const json&) override { return error_; }
  Result<json> updateStatus(const ResourceType&, const json&) override { return error_; }
  Result<json> patch(const ResourceType&, const std::string&, const std::string&, const json&,
                     const PatchOptions&) override {
    return error_;
  }
  Result<json> remove(const ResourceType&, const std::string&, const std::string&,
                      const DeleteOptions&) override {
    return error_;
  }
  Result<std::unique_ptr<WatchStream>> watch(const ResourceType&, const std::string&,
                                             const WatchOptions&) override {
    return error_;
  }

 private:
  ApiError error_;
};

}  // namespace

Result<std::unique_ptr<Client>> createHttpClient(RestConfig config, HttpClientOptions options) {
  TransportConfig t;
  t.server = config.server;
  t.caPem = config.caPem;
  t.caSource = config.caSource;
  t.clientCertPem = config.clientCertPem;
  t.clientKeyPem = config.clientKeyPem;
  t.insecureSkipTlsVerify = config.insecureSkipTlsVerify;
  t.tlsServerName = config.tlsServerName;
  t.connectTimeout = options.connectTimeout;
  t.requestTimeout = options.requestTimeout;
  auto transport = Transport::create(std::move(t));
  if (!transport) return transport.error();
  return std::unique_ptr<Client>(
      std::make_unique<HttpClient>(std::move(config), options, std::move(transport.value())));
}

std::unique_ptr<Client> makeHttpClient(RestConfig config, HttpClientOptions options) {
  auto c = createHttpClient(std::move(config), options);
  if (c) return std::move(c.value());
  log(LogLevel::Error, "cannot create the Kubernetes client: " + c.error().message);
  return std::make_unique<FailedClient>(c.error());
}

}  // namespace kube
