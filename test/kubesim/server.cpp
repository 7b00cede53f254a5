#include "test/kubesim/server.h"

#include <httplib.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cmath>
#include <cstdio>

#include "test/kubesim/admission.h"
#include "test/kubesim/discovery.h"
#include "test/kubesim/impersonation.h"
#include "test/kubesim/protobuf.h"
#include "test/kubesim/selectors.h"
#include "test/kubesim/tables.h"
#include "test/kubesim/token_request.h"
#include "test/kubesim/util.h"

namespace kubesim {

namespace {

json yamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (const auto& e : n) a.push_back(yamlToJson(e));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = yamlToJson(kv.second);
      return o;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str") return s;  // quoted: a string
      if (s == "null" || s == "~" || s == "Null" || s == "NULL") return nullptr;
      if (s == "true" || s == "True" || s == "TRUE") return true;
      if (s == "false" || s == "False" || s == "FALSE") return false;
      if (!s.empty() && s.find_first_not_of("-+0123456789") == std::string::npos &&
          s.find_first_of("0123456789") != std::string::npos) {
        try {
          std::size_t pos = 0;
          long long v = std::stoll(s, &pos);
          if (pos == s.size()) return v;
        } catch (const std::exception&) {
        }
      }
      if (!s.empty() && s.find_first_not_of("-+0123456789.eE") == std::string::npos &&
          s.find_first_of("0123456789") != std::string::npos) {
        try {
          std::size_t pos = 0;
          double v = std::stod(s, &pos);
          if (pos == s.size()) return v;
        } catch (const std::exception&) {
        }
      }
      return s;
    }
  }
  return nullptr;
}

json parseBody(const std::string& body, bool allowYaml) {
  if (body.empty()) return nullptr;
  json j = json::parse(body, nullptr, false);
  if (!j.is_discarded()) return j;
  if (allowYaml) {
    try {
      return yamlToJson(YAML::Load(body));
    } catch (const YAML::Exception& e) {
      throw badRequest(std::string("error converting YAML to JSON: ") + e.what());
    }
  }
  throw badRequest(
      "the body of the request was in an unknown format - accepted media types include: "
      "application/json, application/yaml");
}

struct Route {
  bool resource = false;
  std::string group, version;
  std::string resourceName;  // plural
  std::string ns, name, subresource;
  bool legacyWatch = false;
};

// /api/v1/..., /apis/<g>/<v>/...; false when the path is not a resource path.
bool parseResourcePath(const std::string& path, Route& r) {
  std::vector<std::string> segs;
  for (auto& s : split(path, '/'))
    if (!s.empty()) segs.push_back(urlDecode(s));
  std::size_t i = 0;
  if (segs.size() >= 3 && segs[0] == "api") {
    r.version = segs[1];
    i = 2;
  } else if (segs.size() >= 4 && segs[0] == "apis") {
    r.group = segs[1];
    r.version = segs[2];
    i = 3;
  } else {
    return false;
  }
  std::vector<std::string> rest(segs.begin() + static_cast<long>(i), segs.end());
  if (!rest.empty() && rest[0] == "watch") {
    r.legacyWatch = true;
    rest.erase(rest.begin());
  }
  if (rest.empty()) return false;
  if (rest[0] == "namespaces" && rest.size() >= 3 &&
      !(r.group.empty() && rest.size() == 3 && (rest[2] == "status" || rest[2] == "finalize"))) {
    r.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3) return false;
  r.resourceName = rest[0];
  if (rest.size() >= 2) r.name = rest[1];
  if (rest.size() == 3) r.subresource = rest[2];
  r.resource = true;
  return true;
}

std::string param(const httplib::Request& req, const char* name) {
  return req.has_param(name) ? req.get_param_value(name) : std::string();
}

bool truthy(const std::string& v) {
  return v == "true" || v == "1";
}

std::string managerFromUserAgent(const std::string& ua) {
  if (ua.empty()) return "unknown";
  auto slash = ua.find('/');
  return ua.substr(0, slash);
}

int statusFromException(const ApiException& e) {
  return e.code > 0 ? e.code : 500;
}

void writeJson(httplib::Response& res, int code, const json& body) {
  res.status = code;
  res.set_content(body.dump(), "application/json");
}

// The text json{{"kind", kind}, {"apiVersion", apiVersion}, {"metadata", meta}, {"items", items}}
// .dump() gives (keys in dump's order), from items already serialized.
std::string listText(const std::string& kind, const std::string& apiVersion, const json& meta,
                     const std::vector<std::string>& items) {
  std::size_t size = 64 + kind.size() + apiVersion.size();
  for (const auto& t : items) size += t.size() + 1;
  std::string out;
  out.reserve(size + 256);
  out += "{\"apiVersion\":";
  out += json(apiVersion).dump();
  out += ",\"items\":[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i) out += ',';
    out += items[i];
  }
  out += "],\"kind\":";
  out += json(kind).dump();
  out += ",\"metadata\":";
  out += meta.dump();
  out += '}';
  return out;
}

// The Impersonate-* headers of a request (httplib's header map compares names ignoring case).
ImpersonationHeaders impersonationHeaders(const httplib::Request& req) {
  ImpersonationHeaders h;
  static const std::string extraPrefix = "impersonate-extra-";
  for (const auto& [name, value] : req.headers) {
    std::string lower;
    for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower == "impersonate-user") {
      h.user = value;
      h.userSet = true;
    } else if (lower == "impersonate-group") {
      h.groups.push_back(value);
    } else if (lower == "impersonate-uid") {
      h.uid = value;
      h.uidSet = true;
    } else if (lower.rfind(extraPrefix, 0) == 0) {
      h.extra[decodeExtraKey(name.substr(extraPrefix.size()))].push_back(value);
    }
  }
  return h;
}

bool wantsTable(const httplib::Request& req) {
  std::string accept = req.get_header_value("Accept");
  return accept.find("as=Table") != std::string::npos;
}

json eventLine(const char* type, const json& object) {
  return {{"type", type}, {"object", object}};
}

const char* typeName(StoreEvent::Type t) {
  switch (t) {
    case StoreEvent::Type::Added:
      return "ADDED";
    case StoreEvent::Type::Modified:
      return "MODIFIED";
    case StoreEvent::Type::Deleted:
      return "DELETED";
  }
  return "MODIFIED";
}

std::string verbFor(const std::string& method, const Route& r, bool watch) {
  if (method == "GET") {
    if (watch) return "watch";
    return r.name.empty() ? "list" : "get";
  }
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return r.name.empty() ? "deletecollection" : "delete";
  return "";
}

constexpr std::size_t kMaxRequestBodyBytes = 3 * 1024 * 1024;

ApiException statusForFault(int code, int retryAfter) {
  switch (code) {
    case 429:
      return ApiException(429, "TooManyRequests", "Too many requests, please try again later.",
                          json{{"retryAfterSeconds", retryAfter}});
    case 500:
      return ApiException(500, "InternalError", "Internal error occurred: injected fault");
    case 503:
      return ApiException(503, "ServiceUnavailable",
                          "the server is currently unable to handle the request",
                          retryAfter ? json{{"retryAfterSeconds", retryAfter}} : json::object());
    case 504:
      return ApiException(504, "Timeout",
                          "the server was unable to return a response in the time allotted",
                          json{{"retryAfterSeconds", retryAfter}});
    case 409:
      return ApiException(409, "Conflict", "Operation cannot be fulfilled: injected conflict");
    default:
      return ApiException(code, "InternalError", "injected fault");
  }
}

}  // namespace

struct ApiServer::Impl {
  std::unique_ptr<httplib::Server> server;
  std::unique_ptr<ServiceAccountTokens> saTokens;  // TokenRequest tokens
};

ApiServer::ApiServer(Storage& store, Cluster& cluster, RequestLog& log, ServerOptions options,
                     const ServingCertificates* certs)
    : impl_(std::make_unique<Impl>()),
      store_(store),
      cluster_(cluster),
      log_(log),
      options_(std::move(options)) {
  impl_->saTokens = std::make_unique<ServiceAccountTokens>(store_);
  if (options_.tls) {
    if (!certs) throw std::runtime_error("kubesim: TLS requested without certificates");
    impl_->server =
        std::make_unique<httplib::SSLServer>(certs->serverCert.get(), certs->serverKey.get());
    if (!impl_->server->is_valid()) throw std::runtime_error("kubesim: cannot set up TLS");
  } else {
    impl_->server = std::make_unique<httplib::Server>();
  }
  auto& svr = *impl_->server;
  std::size_t threads = options_.threads;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_keep_alive_max_count(1000);
  // Without TCP_NODELAY a response written in two segments waits for the client's delayed ACK
  // (about 40 ms on Linux): that capped kubesim at ~45 requests/s per keep-alive connection.
  svr.set_tcp_nodelay(true);
  // Short: httplib's stop() waits for idle keep-alive connections to time out.
  svr.set_keep_alive_timeout(2);
  svr.set_read_timeout(30, 0);
  svr.set_write_timeout(30, 0);
  svr.set_payload_max_length(64 * 1024 * 1024);
  auto h = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
  svr.Get(".*", h);
  svr.Post(".*", h);
  svr.Put(".*", h);
  svr.Patch(".*", h);
  svr.Delete(".*", h);
  svr.Options(".*", h);
}

ApiServer::~ApiServer() {
  stop();
}

void ApiServer::start() {
  auto& svr = *impl_->server;
  if (options_.startingFor.count() > 0) restart(options_.startingFor);
  if (options_.port == 0) {
    port_ = svr.bind_to_any_port(options_.bindAddress);
  } else {
    port_ = svr.bind_to_port(options_.bindAddress, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    throw std::runtime_error("kubesim: cannot listen on " + options_.bindAddress + ":" +
                             std::to_string(options_.port));
  }
  thread_ = std::thread([&svr] { svr.listen_after_bind(); });
  // Bound already: connections queue in the backlog until the accept loop runs.
}

void ApiServer::stop() {
  if (stopping_.exchange(true)) return;
  if (impl_->server) impl_->server->stop();
  if (thread_.joinable()) thread_.join();
}

namespace {
std::int64_t steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// /readyz of a kube-apiserver whose CRD informer has not synced yet (500, checks listed).
const char* kStartingReadyz =
    "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]etcd-readiness ok\n[+]informer-sync ok\n"
    "[+]poststarthook/start-apiserver-admission-initializer ok\n[+]poststarthook/generic-apiserver-"
    "start-informers ok\n[-]poststarthook/crd-informer-synced failed: reason withheld\n"
    "[+]poststarthook/rbac/bootstrap-roles ok\n[+]shutdown ok\nreadyz check failed\n";
}  // namespace

void ApiServer::restart(std::chrono::milliseconds d) {
  startingUntilMs_ = steadyMs() + d.count();
}

bool ApiServer::starting() const {
  return steadyMs() < startingUntilMs_.load();
}

void ApiServer::handle(const httplib::Request& req, httplib::Response& res) {
  RequestRecord rec;
  rec.time = std::chrono::system_clock::now();
  rec.method = req.method;
  rec.path = req.path;
  for (auto it = req.params.begin(); it != req.params.end(); ++it) {
    rec.query += (rec.query.empty() ? "" : "&") + it->first + "=" + it->second;
  }
  Route route;
  bool isResource = parseResourcePath(req.path, route);
  bool watch =
      isResource && req.method == "GET" && (route.legacyWatch || truthy(param(req, "watch")));
  RequestAttributes attrs;
  attrs.resourceRequest = isResource;
  attrs.verb =
      isResource ? verbFor(req.method, route, watch) : (req.method == "GET" ? "get" : "post");
  attrs.apiGroup = route.group;
  attrs.apiVersion = route.version;
  attrs.resource = route.resourceName;
  attrs.subresource = route.subresource;
  attrs.ns = route.ns;
  attrs.name = route.name;
  attrs.path = req.path;
  rec.verb = attrs.verb;
  rec.apiGroup = route.group;
  rec.resource = route.resourceName;
  rec.subresource = route.subresource;
  rec.ns = route.ns;
  rec.name = route.name;
  auto finish = [&](int code) {
    rec.code = code;
    log_.add(rec);
  };
  try {
    // Authentication. Health and version endpoints are public, as with anonymous auth.
    bool publicPath = req.path == "/healthz" || req.path == "/livez" || req.path == "/readyz" ||
                      req.path == "/version" || req.path.rfind("/healthz/", 0) == 0 ||
                      req.path.rfind("/readyz/", 0) == 0 || req.path.rfind("/livez/", 0) == 0;
    std::string authz = req.get_header_value("Authorization");
    std::string token;
    if (authz.rfind("Bearer ", 0) == 0) token = trim(authz.substr(7));
    if (token.empty() && !publicPath) {
      throw ApiException(401, "Unauthorized", "Unauthorized");
    }
    if (!token.empty()) {
      auto user = cluster_.authenticator().authenticate(token);
      if (!user) user = impl_->saTokens->authenticate(token);
      if (!user) throw ApiException(401, "Unauthorized", "Unauthorized");
      attrs.user = *user;
    } else {
      attrs.user = UserInfo{"system:anonymous", {"system:unauthenticated"}, {}, {}};
    }
    // Impersonation (kubectl --as/--as-group/--as-uid): the caller must be allowed to
    // impersonate; the request then runs as the impersonated user.
    ImpersonationHeaders imp = impersonationHeaders(req);
    if (imp.any()) {
      auto plan = planImpersonation(attrs.user, imp);
      if (Authorizer* a = cluster_.authorizer()) {
        for (const auto& check : plan.checks) {
          if (auto why = a->deny(check)) {
            json d = {{"name", check.name}, {"kind", check.resource}};
            if (!check.apiGroup.empty()) d["group"] = check.apiGroup;
            rec.user = attrs.user.name;
            throw ApiException(403, "Forbidden", *why, d);
          }
        }
      }
      attrs.user = plan.user;
    }
    rec.user = attrs.user.name;
    if (!publicPath) {
      if (Authorizer* a = cluster_.authorizer()) {
        if (auto why = a->deny(attrs)) {
          json d = {{"name", route.name}, {"kind", route.resourceName}};
          if (!route.group.empty()) d["group"] = route.group;
          throw ApiException(403, "Forbidden", *why, d);
        }
      }
    }
    FaultDecision fault;
    if (attrs.verb == "create" && attrs.name.empty() && cluster_.faults().hasRules()) {
      // A fault rule's `name` also matches the name of an object being created (the request
      // path has none): a test can fail the creation of one Job among many.
      RequestAttributes named = attrs;
      json body = json::parse(req.body, nullptr, false);
      if (body.is_object() && body.contains("metadata") && body["metadata"].is_object())
        named.name = body["metadata"].value("name", std::string());
      fault = cluster_.faults().onRequest(named);
    } else {
      fault = cluster_.faults().onRequest(attrs);
    }
    if (fault.delayMs > 0) std::this_thread::sleep_for(std::chrono::milliseconds(fault.delayMs));
    if (fault.statusCode != 0) {
      if (fault.retryAfterSeconds > 0)
        res.set_header("Retry-After", std::to_string(fault.retryAfterSeconds));
      throw statusForFault(fault.statusCode, fault.retryAfterSeconds);
    }
    // The API server reads at most 3 MiB of a request body (MaxRequestBodyBytes: twice etcd's
    // 1.5 MiB, as JSON is larger than the protobuf stored).
    if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") &&
        req.body.size() > kMaxRequestBodyBytes) {
      throw ApiException(
          413, "RequestEntityTooLarge",
          "Request entity too large: limit is " + std::to_string(kMaxRequestBodyBytes));
    }
    const std::string& p = req.path;
    if (p.rfind("/kubesim/", 0) == 0) {
      if (p == "/kubesim/apiserver/restart" && req.method == "POST") {
        json body = req.body.empty() ? json::object() : parseBody(req.body, true);
        const double secs = body.is_object() ? body.value("startingSeconds", 10.0) : 10.0;
        restart(std::chrono::milliseconds(static_cast<std::int64_t>(secs * 1000)));
        writeJson(res, 200, {{"startingSeconds", secs}});
        return finish(200);
      }
      if (p == "/kubesim/requests" && req.method == "GET") {
        json arr = json::array();
        for (const auto& r : log_.snapshot()) {
          arr.push_back({{"user", r.user},
                         {"method", r.method},
                         {"verb", r.verb},
                         {"path", r.path},
                         {"query", r.query},
                         {"apiGroup", r.apiGroup},
                         {"resource", r.resource},
                         {"subresource", r.subresource},
                         {"namespace", r.ns},
                         {"name", r.name},
                         {"code", r.code}});
        }
        writeJson(res, 200, {{"requests", arr}});
        return finish(200);
      }
      if (p == "/kubesim/kubeconfig" && req.method == "GET" && options_.kubeconfigFor) {
        // kubectl get --raw '/kubesim/kubeconfig?user=system:serviceaccount:NS:NAME' > FILE
        std::string user = param(req, "user");
        if (user.empty()) user = "admin";
        res.status = 200;
        res.set_content(options_.kubeconfigFor(user), "application/yaml");
        return finish(200);
      }
      json body = req.body.empty() ? json() : parseBody(req.body, true);
      writeJson(res, 200, cluster_.admin(req.method, p, body));
      return finish(200);
    }
    if (!isResource) {
      json out;
      if (p == "/healthz" || p == "/livez" || p == "/readyz" || p.rfind("/healthz/", 0) == 0 ||
          p.rfind("/readyz/", 0) == 0 || p.rfind("/livez/", 0) == 0) {
        if (p == "/readyz" && starting()) {
          res.status = 500;
          res.set_content(kStartingReadyz, "text/plain; charset=utf-8");
          res.set_header("X-Content-Type-Options", "nosniff");
          return finish(500);
        }
        res.status = 200;
        res.set_content("ok", "text/plain");
        return finish(200);
      }
      auto infos = store_.infos();
      if (p == "/version") {
        out = versionInfo();
      } else if (p == "/api") {
        out = apiVersions(options_.bindAddress + ":" + std::to_string(port_));
      } else if (p == "/apis") {
        out = apiGroupList(infos);
      } else if (p == "/openapi/v2") {
        std::string accept = req.get_header_value("Accept");
        if (accept.find("protobuf") != std::string::npos &&
            accept.find("json") == std::string::npos) {
          throw ApiException(406, "NotAcceptable",
                             "only application/json is supported for /openapi/v2");
        }
        out = openapiV2(infos);
      } else if (p == "/openapi/v3") {
        out = openapiV3Root(infos);
      } else if (p.rfind("/openapi/v3/", 0) == 0) {
        std::string gv = p.substr(12);
        std::string group, version;
        if (gv.rfind("api/", 0) == 0) {
          version = gv.substr(4);
        } else if (gv.rfind("apis/", 0) == 0) {
          auto rest = gv.substr(5);
          auto slash = rest.find('/');
          if (slash != std::string::npos) {
            group = rest.substr(0, slash);
            version = rest.substr(slash + 1);
          }
        }
        out = version.empty() ? json() : openapiV3GroupVersion(infos, group, version);
        if (out.is_null()) throw resourceNotFound();
        res.set_header("Cache-Control", "public, immutable");
      } else {
        // /apis/<group> (APIGroup) and /apis/<group>/<version>, /api/v1 (APIResourceList).
        auto segs = split(p, '/');
        std::vector<std::string> s;
        for (auto& x : segs)
          if (!x.empty()) s.push_back(x);
        if (s.size() == 2 && s[0] == "apis")
          out = apiGroup(infos, s[1]);
        else if (s.size() == 3 && s[0] == "apis")
          out = apiResourceList(infos, s[1], s[2]);
        else if (s.size() == 2 && s[0] == "api")
          out = apiResourceList(infos, "", s[1]);
        if (out.is_null()) throw resourceNotFound();
      }
      writeJson(res, 200, out);
      return finish(200);
    }

    // Access reviews are answered by the cluster's authorizer, not stored (kubectl auth can-i).
    if (route.group == "authorization.k8s.io" && route.version == "v1" && req.method == "POST" &&
        route.name.empty() &&
        (route.resourceName == "selfsubjectaccessreviews" ||
         route.resourceName == "subjectaccessreviews")) {
      bool self = route.resourceName == "selfsubjectaccessreviews";
      json body = isKubernetesProtobuf(req.get_header_value("Content-Type"))
                      ? decodeKubernetesProtobuf(req.body)
                      : parseBody(req.body, true);
      if (!body.is_object()) throw badRequest("the body of the request was in an unknown format");
      json spec = body.value("spec", json::object());
      json review = spec;
      if (self) {
        review["user"] = attrs.user.name;
        review["groups"] = attrs.user.groups;
      }
      json out = {{"apiVersion", "authorization.k8s.io/v1"},
                  {"kind", self ? "SelfSubjectAccessReview" : "SubjectAccessReview"},
                  {"metadata", {{"creationTimestamp", nullptr}}},
                  {"spec", spec},
                  {"status", cluster_.reviewAccess(review)}};
      writeJson(res, 201, out);
      return finish(201);
    }

    // kubectl auth can-i --list: the caller's rules in a namespace.
    if (route.group == "authorization.k8s.io" && route.version == "v1" && req.method == "POST" &&
        route.name.empty() && route.resourceName == "selfsubjectrulesreviews") {
      json body = isKubernetesProtobuf(req.get_header_value("Content-Type"))
                      ? decodeKubernetesProtobuf(req.body)
                      : parseBody(req.body, true);
      if (!body.is_object()) throw badRequest("the body of the request was in an unknown format");
      json spec = body.value("spec", json::object());
      if (!spec.is_object()) spec = json::object();
      json out = {{"apiVersion", "authorization.k8s.io/v1"},
                  {"kind", "SelfSubjectRulesReview"},
                  {"metadata", {{"creationTimestamp", nullptr}}},
                  {"spec", spec},
                  {"status", cluster_.reviewRules(attrs.user, spec.value("namespace", ""))}};
      writeJson(res, 201, out);
      return finish(201);
    }

    // kubectl auth whoami: who the server takes the caller for (after impersonation).
    if (route.group == "authentication.k8s.io" && route.version == "v1" && req.method == "POST" &&
        route.name.empty() && route.resourceName == "selfsubjectreviews") {
      json info = {{"username", attrs.user.name}, {"groups", attrs.user.groups}};
      if (!attrs.user.uid.empty()) info["uid"] = attrs.user.uid;
      if (!attrs.user.extra.empty()) info["extra"] = attrs.user.extra;
      json out = {{"apiVersion", "authentication.k8s.io/v1"},
                  {"kind", "SelfSubjectReview"},
                  {"metadata", {{"creationTimestamp", nullptr}}},
                  {"status", {{"userInfo", info}}}};
      writeJson(res, 201, out);
      return finish(201);
    }

    // Resource requests.
    std::string qualified =
        route.group.empty() ? route.resourceName : route.resourceName + "." + route.group;
    auto info = store_.info(qualified);
    if (info && info->crd && starting()) {
      // apiextensions-apiserver's crdHandler before its informer synced (serverStartingError).
      res.set_header("Retry-After", "10");
      throw ApiException(503, "ServiceUnavailable", "server is starting",
                         json{{"retryAfterSeconds", 10}});
    }
    if (!info || !info->servesVersion(route.version)) throw resourceNotFound();
    if (!info->namespaced && !route.ns.empty()) throw resourceNotFound();
    if (info->namespaced && route.ns.empty() && !route.name.empty()) throw resourceNotFound();
    if (qualified == "serviceaccounts" && route.subresource == "token" && !route.name.empty()) {
      if (req.method != "POST") throw methodNotSupported(req.method, "TokenRequest");
      json body = isKubernetesProtobuf(req.get_header_value("Content-Type"))
                      ? decodeKubernetesProtobuf(req.body)
                      : parseBody(req.body, true);
      writeJson(res, 201, impl_->saTokens->issue(route.ns, route.name, body));
      return finish(201);
    }
    if (!route.subresource.empty() && !(route.subresource == "status" && info->statusSubresource) &&
        !(route.subresource == "log" && info->logSubresource)) {
      throw resourceNotFound();
    }
    const std::string version = route.version;
    WriteOptions w;
    w.version = version;
    w.fieldManager = param(req, "fieldManager");
    if (w.fieldManager.empty())
      w.fieldManager = managerFromUserAgent(req.get_header_value("User-Agent"));
    w.fieldValidation = param(req, "fieldValidation");
    w.dryRun = req.has_param("dryRun");
    w.force = truthy(param(req, "force"));
    if (options_.ownerReferencesPermissionEnforcement &&
        (req.method == "POST" || req.method == "PUT" || req.method == "PATCH")) {
      if (Authorizer* a = cluster_.authorizer()) {
        // Everything the check needs is read now: it runs while the store is locked.
        auto infos = std::make_shared<const std::vector<ResourceInfo>>(store_.infos());
        OwnerKindResolver resolve = [infos](
                                        const std::string& apiVersion,
                                        const std::string& kind) -> std::optional<OwnerResource> {
          for (const auto& i : *infos) {
            if (i.kind != kind || !i.storageResource.empty()) continue;
            for (const auto& v : i.versions) {
              if (i.apiVersionFor(v) == apiVersion) return OwnerResource{i.group, i.plural};
            }
          }
          return std::nullopt;
        };
        w.admit = [write = attrs, allowed = a->snapshotFor(attrs.user), resolve](const json& object,
                                                                                 const json* old) {
          enforceOwnerReferencesPermission(write, object, old, allowed, resolve);
        };
      }
    }
    const bool status = route.subresource == "status";
    auto respondObject = [&](int code, const json& obj) {
      for (const auto& warn : w.warnings) res.set_header("Warning", "299 - " + quote(warn));
      if (wantsTable(req) && req.method == "GET") {
        json t = toTable(
            *info, version, {obj}, param(req, "includeObject"),
            json{{"resourceVersion", obj["metadata"].value("resourceVersion", std::string())}});
        writeJson(res, code, t);
      } else if (const auto& c = w.committed;
                 c && info->storageResource.empty() && c->resource == qualified &&
                 obj.is_object() && obj.contains("metadata") &&
                 obj["metadata"].value("resourceVersion", std::string()) == std::to_string(c->rv)) {
        // The object this write committed (its resourceVersion is that change's): the text is
        // serialized once for the response and every watch that sends the change.
        res.status = code;
        res.set_content(
            c->servedText(version,
                          [&](const json& o) { return store_.toServed(*info, o, version); }),
            "application/json");
      } else {
        writeJson(res, code, obj);
      }
      // The request log names what a create made (generateName included) and its uid.
      if (attrs.verb == "create" && obj.is_object() && obj.contains("metadata")) {
        rec.objectName = obj["metadata"].value("name", std::string());
        rec.objectUid = obj["metadata"].value("uid", std::string());
      }
      finish(code);
    };

    if (req.method == "GET" && route.subresource == "log") {
      json pod = store_.getAs(qualified, route.ns, route.name, version);
      std::string container = param(req, "container");
      json containers = pod["spec"].value("containers", json::array());
      if (container.empty() && !containers.empty())
        container = containers[0].value("name", std::string());
      bool known = false;
      for (const auto& c : containers) known = known || c.value("name", std::string()) == container;
      if (!known) {
        throw badRequest("container " + container + " is not valid for pod " + route.name);
      }
      const json ann = pod["metadata"].value("annotations", json::object());
      std::string text;
      if (ann.contains("kubesim.io/log." + container))
        text = ann["kubesim.io/log." + container].get<std::string>();
      else if (ann.contains("kubesim.io/log"))
        text = ann["kubesim.io/log"].get<std::string>();
      else if (pod["status"].value("phase", std::string()) == "Pending") {
        throw badRequest("container " + quote(container) + " in pod " + quote(route.name) +
                         " is waiting to start: ContainerCreating");
      }
      std::string tail = param(req, "tailLines");
      if (!tail.empty()) {
        long n = std::atol(tail.c_str());
        std::vector<std::string> lines = split(text, '\n');
        if (!lines.empty() && lines.back().empty()) lines.pop_back();
        std::string out;
        std::size_t from = lines.size() > static_cast<std::size_t>(std::max(0L, n))
                               ? lines.size() - static_cast<std::size_t>(n)
                               : 0;
        for (std::size_t i = from; i < lines.size(); ++i) out += lines[i] + "\n";
        text = out;
      }
      res.status = 200;
      res.set_content(text, "text/plain");
      return finish(200);
    }

    if (watch) {
      ListOptions lo;
      lo.labelSelector = param(req, "labelSelector");
      lo.fieldSelector = param(req, "fieldSelector");
      if (!route.name.empty()) {
        lo.fieldSelector = "metadata.name=" + route.name +
                           (lo.fieldSelector.empty() ? "" : "," + lo.fieldSelector);
      }
      auto ls = std::make_shared<LabelSelector>(LabelSelector::parse(lo.labelSelector));
      auto fs = std::make_shared<FieldSelector>(
          FieldSelector::parse(lo.fieldSelector, supportedFieldLabels(qualified)));
      std::string rvParam = param(req, "resourceVersion");
      bool bookmarks = truthy(param(req, "allowWatchBookmarks"));
      bool initialEvents = truthy(param(req, "sendInitialEvents"));
      bool table = wantsTable(req);
      std::string includeObject = param(req, "includeObject");
      long timeout = 1800;
      if (!param(req, "timeoutSeconds").empty())
        timeout = std::max(0L, std::atol(param(req, "timeoutSeconds").c_str()));
      if (fault.goneForWatch) {
        // Injected: the watch ends at once with an Expired error event.
        json st = expired("too old resource version: " + (rvParam.empty() ? "0" : rvParam) +
                          " (injected)")
                      .status();
        res.status = 200;
        res.set_content(eventLine("ERROR", st).dump() + "\n", "application/json");
        return finish(200);
      }
      std::uint64_t cursor = 0;
      std::vector<std::string> initial;
      const std::string storageRes =
          info->storageResource.empty() ? qualified : info->storageResource;
      auto matches = [ls, fs, ns = route.ns, namespaced = info->namespaced](const json& obj) {
        if (namespaced && !ns.empty() && obj["metadata"].value("namespace", std::string()) != ns)
          return false;
        if (!ls->empty()) {
          static const json kNoLabels = json::object();
          const json& md = obj["metadata"];
          auto it = md.find("labels");
          if (!ls->matches(it != md.end() ? *it : kNoLabels)) return false;
        }
        if (!fs->empty() && !fs->matches(obj)) return false;
        return true;
      };
      auto infoCopy = *info;
      auto first = std::make_shared<bool>(true);
      auto render = [infoCopy, version, table, includeObject, first](const char* type,
                                                                     const json& obj) {
        if (!table) return eventLine(type, obj).dump() + "\n";
        json t = toTable(
            infoCopy, version, {obj}, includeObject.empty() ? "Metadata" : includeObject,
            json{{"resourceVersion", obj["metadata"].value("resourceVersion", std::string())}});
        if (!*first) t["columnDefinitions"] = json::array();
        *first = false;
        return eventLine(type, t).dump() + "\n";
      };
      if (rvParam.empty() || rvParam == "0" || initialEvents) {
        auto [objs, rv] = store_.snapshot(qualified, route.ns, version);
        cursor = rv;
        if (rvParam.empty() || rvParam == "0" || initialEvents) {
          for (const auto& o : objs)
            if (matches(o)) initial.push_back(render("ADDED", o));
        }
        if (initialEvents && bookmarks) {
          json bm = {{"kind", infoCopy.kind},
                     {"apiVersion", infoCopy.apiVersionFor(version)},
                     {"metadata",
                      {{"resourceVersion", std::to_string(rv)},
                       {"annotations", {{"k8s.io/initial-events-end", "true"}}}}}};
          initial.push_back(eventLine("BOOKMARK", bm).dump() + "\n");
        }
      } else {
        char* end = nullptr;
        unsigned long long v = std::strtoull(rvParam.c_str(), &end, 10);
        if (!end || *end != '\0') throw badRequest("invalid resource version: " + rvParam);
        cursor = v;
        std::uint64_t oldest = store_.oldestResumable();
        if (cursor < oldest) {
          throw expired("too old resource version: " + rvParam + " (" + std::to_string(oldest + 1) +
                        ")");
        }
      }
      struct WatchState {
        std::uint64_t cursor;
        std::vector<std::string> initial;
        std::chrono::steady_clock::time_point deadline;
        std::chrono::steady_clock::time_point lastBookmark;
        std::uint64_t epoch;
        bool done = false;
      };
      auto st = std::make_shared<WatchState>();
      st->cursor = cursor;
      st->initial = std::move(initial);
      st->deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout);
      st->lastBookmark = std::chrono::steady_clock::now();
      st->epoch = cluster_.faults().watchEpoch();
      auto bookmarkInterval = options_.bookmarkInterval;
      finish(200);
      res.status = 200;
      auto renderShared = std::make_shared<decltype(render)>(render);
      res.set_chunked_content_provider(
          "application/json;stream=watch",
          [this, st, storageRes, matches, renderShared, bookmarks, bookmarkInterval, infoCopy,
           version, table, attrs](std::size_t, httplib::DataSink& sink) {
            auto& rend = *renderShared;
            auto end = [&] {
              st->done = true;
              sink.done();
              return true;
            };
            if (st->done) return false;
            if (!st->initial.empty()) {
              std::string buf;
              for (auto& l : st->initial) buf += l;
              st->initial.clear();
              return sink.write(buf.data(), buf.size()) ? true : false;
            }
            auto now = std::chrono::steady_clock::now();
            if (stopping_ || store_.stopped() || now >= st->deadline ||
                cluster_.faults().watchEpoch() != st->epoch) {
              return end();
            }
            auto slice = std::min(st->deadline, now + std::chrono::milliseconds(200));
            if (bookmarks) slice = std::min(slice, st->lastBookmark + bookmarkInterval);
            std::vector<std::shared_ptr<const HistoryEntry>> evs;
            std::uint64_t cursor = st->cursor;
            auto r = store_.waitEvents(cursor, storageRes, evs, slice);
            if (r == Storage::WaitResult::Stopped) return end();
            if (r == Storage::WaitResult::Expired) {
              st->cursor = cursor;
              json s = expired("too old resource version: " + std::to_string(st->cursor) + " (" +
                               std::to_string(store_.oldestResumable() + 1) + ")")
                           .status();
              std::string line = eventLine("ERROR", s).dump() + "\n";
              sink.write(line.data(), line.size());
              return end();
            }
            std::string buf;
            // Selectors look at metadata and fields that serving in another version does not
            // change (only apiVersion, or the events.k8s.io shape, which has its own path).
            const bool sameShape = infoCopy.storageResource.empty();
            auto line = [&](const char* type, const HistoryEntry& e) {
              if (table || !sameShape) {
                buf += rend(type, store_.toServed(infoCopy, e.object, version));
                return;
              }
              buf += std::string("{\"type\":\"") + type + "\",\"object\":" +
                     e.servedText(
                         version,
                         [&](const json& o) { return store_.toServed(infoCopy, o, version); }) +
                     "}\n";
            };
            auto selected = [&](const json& o) {
              return sameShape ? matches(o) : matches(store_.toServed(infoCopy, o, version));
            };
            for (const auto& e : evs) {
              st->cursor = e->rv;
              bool now_ = selected(e->object);
              // faults.h dropWatchEvents: a lost event (the cursor has moved past it).
              if (cluster_.faults().hasRules() &&
                  cluster_.faults().dropWatchEvent(attrs,
                                                   e->object["metadata"].value("namespace", ""),
                                                   e->object["metadata"].value("name", ""))) {
                continue;
              }
              if (e->type == StoreEvent::Type::Modified) {
                bool before = e->oldObject.is_object() && selected(e->oldObject);
                if (now_ && before)
                  line("MODIFIED", *e);
                else if (now_)
                  line("ADDED", *e);
                else if (before)
                  line("DELETED", *e);
              } else if (now_) {
                line(typeName(e->type), *e);
              }
            }
            // Past the changes of other resources looked at, as a bookmark says.
            st->cursor = std::max(st->cursor, cursor);
            if (bookmarks &&
                std::chrono::steady_clock::now() >= st->lastBookmark + bookmarkInterval) {
              json bm = {{"kind", infoCopy.kind},
                         {"apiVersion", infoCopy.apiVersionFor(version)},
                         {"metadata", {{"resourceVersion", std::to_string(st->cursor)}}}};
              buf += eventLine("BOOKMARK", bm).dump() + "\n";
              st->lastBookmark = std::chrono::steady_clock::now();
            }
            if (!buf.empty() && !sink.write(buf.data(), buf.size())) return false;
            // The CRD was deleted: its resource's storage goes, and with it every watch on it
            // (after the DELETED events of its objects), as kube-apiserver ends them.
            if (infoCopy.crd && !store_.info(storageRes)) return end();
            if (buf.empty() && sink.is_writable && !sink.is_writable()) return false;
            return true;
          });
      return;
    }

    if (req.method == "GET") {
      if (!route.name.empty()) {
        return respondObject(200, store_.getAs(qualified, route.ns, route.name, version));
      }
      ListOptions lo;
      lo.labelSelector = param(req, "labelSelector");
      lo.fieldSelector = param(req, "fieldSelector");
      lo.limit = std::atoll(param(req, "limit").c_str());
      lo.continueToken = param(req, "continue");
      lo.version = version;
      const bool table = wantsTable(req);
      // The items come serialized from the store (no copy of each object into a list tree).
      lo.asText = !table;
      auto r = store_.listWith(qualified, route.ns, lo);
      json meta = {{"resourceVersion", std::to_string(r.resourceVersion)}};
      if (!r.continueToken.empty()) meta["continue"] = r.continueToken;
      if (r.remainingItemCount) meta["remainingItemCount"] = *r.remainingItemCount;
      if (table) {
        writeJson(res, 200, toTable(*info, version, r.items, param(req, "includeObject"), meta));
      } else {
        res.status = 200;
        res.set_content(listText(info->listKind, info->apiVersionFor(version), meta, r.texts),
                        "application/json");
      }
      return finish(200);
    }
    if (req.method == "POST") {
      if (!route.name.empty() || !route.subresource.empty())
        throw methodNotSupported("POST", info->kind);
      json body = isKubernetesProtobuf(req.get_header_value("Content-Type"))
                      ? decodeKubernetesProtobuf(req.body)
                      : parseBody(req.body, true);
      json created = store_.createWith(qualified, route.ns, body, w);
      return respondObject(201, created);
    }
    if (req.method == "PUT") {
      if (route.name.empty()) throw methodNotSupported("PUT", info->kind);
      json body = isKubernetesProtobuf(req.get_header_value("Content-Type"))
                      ? decodeKubernetesProtobuf(req.body)
                      : parseBody(req.body, true);
      return respondObject(200,
                           store_.updateWith(qualified, route.ns, route.name, body, status, w));
    }
    if (req.method == "PATCH") {
      if (route.name.empty()) throw methodNotSupported("PATCH", info->kind);
      std::string ct = req.get_header_value("Content-Type");
      ct = ct.substr(0, ct.find(';'));
      PatchType type;
      if (ct == "application/merge-patch+json")
        type = PatchType::Merge;
      else if (ct == "application/json-patch+json")
        type = PatchType::Json;
      else if (ct == "application/strategic-merge-patch+json")
        type = PatchType::Strategic;
      else if (ct == "application/apply-patch+yaml" || ct == "application/apply-patch+cbor")
        type = PatchType::Apply;
      else {
        throw ApiException(
            415, "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml, application/strategic-merge-patch+json");
      }
      json body = parseBody(req.body, type == PatchType::Apply);
      bool existed = true;
      if (type == PatchType::Apply) {
        try {
          store_.getAs(qualified, route.ns, route.name, version);
        } catch (const ApiException& e) {
          if (e.code != 404) throw;
          existed = false;
        }
      }
      json out = store_.patchWith(qualified, route.ns, route.name, status, type, body, w);
      return respondObject(existed ? 200 : 201, out);
    }
    if (req.method == "DELETE") {
      DeleteOptions d;
      json body = req.body.empty() ? json::object() : parseBody(req.body, true);
      if (!body.is_object()) body = json::object();
      if (body.contains("propagationPolicy") && body["propagationPolicy"].is_string())
        d.propagationPolicy = body["propagationPolicy"].get<std::string>();
      if (body.contains("orphanDependents") && body["orphanDependents"].is_boolean() &&
          !d.propagationPolicy)
        d.propagationPolicy = body["orphanDependents"].get<bool>() ? "Orphan" : "Background";
      if (body.contains("gracePeriodSeconds") && body["gracePeriodSeconds"].is_number())
        d.gracePeriodSeconds = body["gracePeriodSeconds"].get<std::int64_t>();
      if (body.contains("preconditions") && body["preconditions"].is_object()) {
        const auto& pc = body["preconditions"];
        if (pc.contains("uid") && pc["uid"].is_string())
          d.preconditionUid = pc["uid"].get<std::string>();
        if (pc.contains("resourceVersion") && pc["resourceVersion"].is_string())
          d.preconditionResourceVersion = pc["resourceVersion"].get<std::string>();
      }
      if (body.contains("dryRun") && body["dryRun"].is_array() && !body["dryRun"].empty())
        w.dryRun = true;
      if (req.has_param("propagationPolicy")) d.propagationPolicy = param(req, "propagationPolicy");
      if (req.has_param("gracePeriodSeconds"))
        d.gracePeriodSeconds = std::atoll(param(req, "gracePeriodSeconds").c_str());
      if (route.name.empty()) {
        ListOptions lo;
        lo.labelSelector = param(req, "labelSelector");
        lo.fieldSelector = param(req, "fieldSelector");
        lo.version = version;
        auto items = store_.removeCollection(qualified, route.ns, lo, d, w);
        json list = {
            {"kind", info->listKind},
            {"apiVersion", info->apiVersionFor(version)},
            {"metadata", {{"resourceVersion", std::to_string(store_.currentResourceVersion())}}},
            {"items", items}};
        writeJson(res, 200, list);
        return finish(200);
      }
      json out = store_.removeWith(qualified, route.ns, route.name, d, w);
      bool pending = false;
      if (out["metadata"].contains("deletionTimestamp")) {
        try {
          store_.getAs(qualified, route.ns, route.name, version);
          pending = true;
        } catch (const ApiException&) {
        }
      }
      return respondObject(pending ? 202 : 200, out);
    }
    throw methodNotSupported(req.method, info->kind);
  } catch (const ApiException& e) {
    int code = statusFromException(e);
    writeJson(res, code, e.status());
    if (code == 401) res.set_header("WWW-Authenticate", "Bearer");
    finish(code);
  } catch (const json::exception& e) {
    json s = badRequest(std::string("the request could not be decoded: ") + e.what()).status();
    writeJson(res, 400, s);
    finish(400);
  } catch (const std::exception& e) {
    json s = ApiException(500, "InternalError", std::string("Internal error occurred: ") + e.what())
                 .status();
    writeJson(res, 500, s);
    finish(500);
  }
}

}  // namespace kubesim
