#include "operator/kube/kubeconfig.h"

#include <yaml-cpp/yaml.h>

#include <sys/stat.h>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "operator/kube/base64.h"
#include "operator/kube/log.h"
#include "operator/kube/redaction.h"

namespace kube {

namespace {

ApiError configError(const std::string& message) {
  return ApiError::transport("InvalidKubeconfig", message);
}

bool fileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Reads a whole file; on failure returns nullopt and sets `problem` ("No such file or
// directory").
std::optional<std::string> readFile(const std::string& path, std::string& problem) {
  errno = 0;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    problem = errno ? std::strerror(errno) : "cannot open";
    return std::nullopt;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    problem = "is a directory";
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    problem = "read error";
    return std::nullopt;
  }
  return ss.str();
}

std::string dirOf(const std::string& file) {
  auto slash = file.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : file.substr(0, slash);
}

std::string resolvePath(const std::string& file, const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  return dirOf(file) + "/" + path;
}

// One named entry (cluster, user or context) and where it came from, for error messages.
struct Entry {
  YAML::Node node;   // the inner map: clusters[i].cluster
  std::string file;  // the kubeconfig it came from
  std::string path;  // "clusters[2].cluster"
};

struct Merged {
  std::vector<std::string> files;
  std::string currentContext;
  std::string currentContextFile;
  std::map<std::string, Entry> clusters, users, contexts;
};

std::string filesLabel(const std::vector<std::string>& files) {
  std::string s;
  for (std::size_t i = 0; i < files.size(); ++i) s += (i ? ":" : "") + files[i];
  return s;
}

// Scalar field of a map as a string; errors when present but not a scalar.
Result<std::string> scalarField(const Entry& e, const std::string& field) {
  YAML::Node n = e.node[field];
  if (!n || n.IsNull()) return std::string();
  if (!n.IsScalar()) {
    return configError("kubeconfig " + e.file + ": " + e.path + "." + field +
                       ": expected a string");
  }
  return n.Scalar();
}

Result<bool> boolField(const Entry& e, const std::string& field) {
  YAML::Node n = e.node[field];
  if (!n || n.IsNull()) return false;
  bool v = false;
  if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v)) {
    return configError("kubeconfig " + e.file + ": " + e.path + "." + field +
                       ": expected true or false");
  }
  return v;
}

Status addSection(Merged& m, const YAML::Node& root, const std::string& file,
                  const std::string& section, const std::string& inner,
                  std::map<std::string, Entry>& into) {
  YAML::Node list = root[section];
  if (!list || list.IsNull()) return Unit{};
  if (!list.IsSequence())
    return configError("kubeconfig " + file + ": " + section + ": expected a list");
  for (std::size_t i = 0; i < list.size(); ++i) {
    std::string where = section + "[" + std::to_string(i) + "]";
    const YAML::Node& item = list[i];
    if (!item.IsMap()) return configError("kubeconfig " + file + ": " + where + ": expected a map");
    YAML::Node name = item["name"];
    if (!name || !name.IsScalar() || name.Scalar().empty()) {
      return configError("kubeconfig " + file + ": " + where + ".name: missing");
    }
    YAML::Node body = item[inner];
    if (body && !body.IsNull() && !body.IsMap()) {
      return configError("kubeconfig " + file + ": " + where + "." + inner + ": expected a map");
    }
    // client-go: the first file to define a name wins; later definitions are ignored.
    into.emplace(name.Scalar(),
                 Entry{body ? body : YAML::Node(YAML::NodeType::Map), file, where + "." + inner});
  }
  (void)m;
  return Unit{};
}

Status mergeFile(Merged& m, const std::string& file) {
  std::string problem;
  auto text = readFile(file, problem);
  if (!text) return configError("kubeconfig " + file + ": cannot read: " + problem);
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return configError("kubeconfig " + file + ": invalid YAML at line " +
                       std::to_string(e.mark.line + 1) + ", column " +
                       std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  m.files.push_back(file);
  if (!root || root.IsNull()) return Unit{};  // an empty file is an empty config
  if (!root.IsMap()) return configError("kubeconfig " + file + ": expected a map at the top level");
  try {
    if (YAML::Node cc = root["current-context"];
        cc && cc.IsScalar() && !cc.Scalar().empty() && m.currentContext.empty()) {
      m.currentContext = cc.Scalar();
      m.currentContextFile = file;
    }
    if (auto s = addSection(m, root, file, "clusters", "cluster", m.clusters); !s) return s;
    if (auto s = addSection(m, root, file, "users", "user", m.users); !s) return s;
    if (auto s = addSection(m, root, file, "contexts", "context", m.contexts); !s) return s;
  } catch (const YAML::Exception& e) {
    return configError("kubeconfig " + file + ": " + e.msg);
  }
  return Unit{};
}

// "data" field (base64) or "file" field (path relative to the kubeconfig); data wins.
Result<std::string> dataOrFile(const Entry& e, const std::string& dataField,
                               const std::string& fileField) {
  auto data = scalarField(e, dataField);
  if (!data) return data.error();
  if (!data->empty()) {
    auto decoded = base64Decode(*data);
    if (!decoded) {
      return configError("kubeconfig " + e.file + ": " + e.path + "." + dataField +
                         ": invalid base64");
    }
    return *decoded;
  }
  auto path = scalarField(e, fileField);
  if (!path) return path.error();
  if (path->empty()) return std::string();
  std::string resolved = resolvePath(e.file, *path);
  std::string problem;
  auto content = readFile(resolved, problem);
  if (!content) {
    return configError("kubeconfig " + e.file + ": " + e.path + "." + fileField + ": cannot read " +
                       resolved + ": " + problem);
  }
  return *content;
}

// Which field (and file) the CA came from, for TLS messages; the data field wins, as above.
std::string caSourceOf(const Entry& cl) {
  auto data = scalarField(cl, "certificate-authority-data");
  const bool fromData = data && !data->empty();
  std::string field =
      cl.path + (fromData ? ".certificate-authority-data" : ".certificate-authority");
  std::string where = "kubeconfig " + cl.file + ": " + field;
  if (fromData) return where;
  auto path = scalarField(cl, "certificate-authority");
  return path && !path->empty() ? resolvePath(cl.file, *path) + " (" + where + ")" : where;
}

Status checkPem(const Entry& e, const std::string& field, const std::string& pem) {
  if (!pem.empty() && pem.find("-----BEGIN ") == std::string::npos) {
    return configError("kubeconfig " + e.file + ": " + e.path + "." + field +
                       ": not PEM data (no -----BEGIN line)");
  }
  return Unit{};
}

Status loadExec(const Entry& user, const YAML::Node& node, RestConfig& cfg) {
  Entry e{node, user.file, user.path + ".exec"};
  if (!node.IsMap())
    return configError("kubeconfig " + e.file + ": " + e.path + ": expected a map");
  ExecConfig x;
  auto api = scalarField(e, "apiVersion");
  if (!api) return api.error();
  x.apiVersion = *api;
  if (x.apiVersion != "client.authentication.k8s.io/v1" &&
      x.apiVersion != "client.authentication.k8s.io/v1beta1") {
    return configError("kubeconfig " + e.file + ": " + e.path + ".apiVersion: \"" + x.apiVersion +
                       "\" is not supported (use client.authentication.k8s.io/v1 or v1beta1)");
  }
  auto cmd = scalarField(e, "command");
  if (!cmd) return cmd.error();
  if (cmd->empty())
    return configError("kubeconfig " + e.file + ": " + e.path + ".command: missing");
  // client-go resolves a command containing a path separator relative to the kubeconfig.
  x.command = cmd->find('/') != std::string::npos ? resolvePath(e.file, *cmd) : *cmd;
  if (YAML::Node args = node["args"]; args && !args.IsNull()) {
    if (!args.IsSequence()) {
      return configError("kubeconfig " + e.file + ": " + e.path + ".args: expected a list");
    }
    for (const auto& a : args) x.args.push_back(a.as<std::string>());
  }
  if (YAML::Node env = node["env"]; env && !env.IsNull()) {
    if (!env.IsSequence()) {
      return configError("kubeconfig " + e.file + ": " + e.path + ".env: expected a list");
    }
    for (std::size_t i = 0; i < env.size(); ++i) {
      if (!env[i].IsMap() || !env[i]["name"]) {
        return configError("kubeconfig " + e.file + ": " + e.path + ".env[" + std::to_string(i) +
                           "]: expected {name, value}");
      }
      x.env.emplace_back(env[i]["name"].as<std::string>(),
                         env[i]["value"] ? env[i]["value"].as<std::string>() : "");
    }
  }
  auto pci = boolField(e, "provideClusterInfo");
  if (!pci) return pci.error();
  x.provideClusterInfo = *pci;
  auto hint = scalarField(e, "installHint");
  if (!hint) return hint.error();
  x.installHint = *hint;
  cfg.exec = std::move(x);
  return Unit{};
}

Result<RestConfig> buildConfig(const Merged& m, const std::string& contextArg) {
  std::string label = filesLabel(m.files);
  std::string ctxName = contextArg.empty() ? m.currentContext : contextArg;
  if (ctxName.empty()) {
    return configError("kubeconfig " + label +
                       ": current-context is not set (set it, or choose a context with --context)");
  }
  auto ctxIt = m.contexts.find(ctxName);
  if (ctxIt == m.contexts.end()) {
    std::string via = contextArg.empty() ? "current-context" : "--context";
    return configError("kubeconfig " + (contextArg.empty() ? m.currentContextFile : label) + ": " +
                       via + ": context \"" + ctxName + "\" not found");
  }
  const Entry& ctx = ctxIt->second;
  auto clusterName = scalarField(ctx, "cluster");
  if (!clusterName) return clusterName.error();
  if (clusterName->empty()) {
    return configError("kubeconfig " + ctx.file + ": " + ctx.path + ".cluster: missing");
  }
  auto clIt = m.clusters.find(*clusterName);
  if (clIt == m.clusters.end()) {
    return configError("kubeconfig " + ctx.file + ": " + ctx.path + ".cluster: cluster \"" +
                       *clusterName + "\" not found");
  }
  const Entry& cl = clIt->second;

  RestConfig cfg;
  cfg.contextName = ctxName;
  cfg.source = "kubeconfig " + ctx.file;
  auto ns = scalarField(ctx, "namespace");
  if (!ns) return ns.error();
  cfg.ns = *ns;

  auto server = scalarField(cl, "server");
  if (!server) return server.error();
  if (server->empty()) {
    return configError("kubeconfig " + cl.file + ": " + cl.path + ".server: missing");
  }
  if (server->rfind("https://", 0) != 0 && server->rfind("http://", 0) != 0) {
    return configError("kubeconfig " + cl.file + ": " + cl.path + ".server: \"" + *server +
                       "\" is not an http(s) URL");
  }
  cfg.server = *server;
  while (cfg.server.size() > 8 && cfg.server.back() == '/') cfg.server.pop_back();
  auto ca = dataOrFile(cl, "certificate-authority-data", "certificate-authority");
  if (!ca) return ca.error();
  if (auto s = checkPem(cl, "certificate-authority-data", *ca); !s) return s.error();
  cfg.caPem = *ca;
  cfg.caSource = caSourceOf(cl);
  auto insecure = boolField(cl, "insecure-skip-tls-verify");
  if (!insecure) return insecure.error();
  cfg.insecureSkipTlsVerify = *insecure;
  auto sni = scalarField(cl, "tls-server-name");
  if (!sni) return sni.error();
  cfg.tlsServerName = *sni;
  if (auto proxy = scalarField(cl, "proxy-url"); proxy.ok() && !proxy->empty()) {
    log(LogLevel::Warn, "kubeconfig proxy-url is not supported; connecting directly",
        {{"file", cl.file}, {"field", cl.path + ".proxy-url"}});
  }

  auto userName = scalarField(ctx, "user");
  if (!userName) return userName.error();
  cfg.userName = *userName;
  if (!userName->empty()) {
    auto uIt = m.users.find(*userName);
    if (uIt == m.users.end()) {
      return configError("kubeconfig " + ctx.file + ": " + ctx.path + ".user: user \"" + *userName +
                         "\" not found");
    }
    const Entry& u = uIt->second;
    auto cert = dataOrFile(u, "client-certificate-data", "client-certificate");
    if (!cert) return cert.error();
    if (auto s = checkPem(u, "client-certificate-data", *cert); !s) return s.error();
    auto key = dataOrFile(u, "client-key-data", "client-key");
    if (!key) return key.error();
    if (auto s = checkPem(u, "client-key-data", *key); !s) return s.error();
    if (cert->empty() != key->empty()) {
      return configError("kubeconfig " + u.file + ": " + u.path + ": " +
                         (cert->empty() ? "client-key" : "client-certificate") +
                         " is set without " +
                         (cert->empty() ? "client-certificate" : "client-key"));
    }
    cfg.clientCertPem = *cert;
    cfg.clientKeyPem = *key;
    registerSecret(cfg.clientKeyPem);
    auto token = scalarField(u, "token");
    if (!token) return token.error();
    cfg.bearerToken = *token;
    registerSecret(cfg.bearerToken);
    auto tokenFile = scalarField(u, "tokenFile");
    if (!tokenFile) return tokenFile.error();
    if (!tokenFile->empty()) {
      cfg.tokenFile = resolvePath(u.file, *tokenFile);
      std::string problem;
      if (cfg.bearerToken.empty() && !readFile(cfg.tokenFile, problem)) {
        return configError("kubeconfig " + u.file + ": " + u.path + ".tokenFile: cannot read " +
                           cfg.tokenFile + ": " + problem);
      }
    }
    if (YAML::Node exec = u.node["exec"]; exec && !exec.IsNull()) {
      if (auto s = loadExec(u, exec, cfg); !s) return s.error();
    }
    if (YAML::Node ap = u.node["auth-provider"]; ap && !ap.IsNull()) {
      std::string name = ap["name"] ? ap["name"].as<std::string>("") : "";
      return configError("kubeconfig " + u.file + ": " + u.path + ".auth-provider: \"" + name +
                         "\" is not supported; use an exec credential plugin instead");
    }
    if (u.node["username"] || u.node["password"]) {
      log(LogLevel::Warn, "kubeconfig basic authentication (username/password) is not supported",
          {{"file", u.file}, {"field", u.path}});
    }
  }
  if (cfg.insecureSkipTlsVerify) {
    log(LogLevel::Warn,
        "insecure-skip-tls-verify is set: the API server's certificate will not be verified",
        {{"file", cl.file}, {"cluster", *clusterName}});
  }
  return cfg;
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto colon = s.find(':', start);
    std::string part =
        s.substr(start, colon == std::string::npos ? std::string::npos : colon - start);
    if (!part.empty()) out.push_back(part);
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

}  // namespace

Result<RestConfig> loadRestConfig(const std::string& kubeconfigPath, const std::string& context) {
  Merged m;
  if (!kubeconfigPath.empty()) {
    if (auto s = mergeFile(m, kubeconfigPath); !s) return s.error();
    return buildConfig(m, context);
  }
  if (const char* env = std::getenv("KUBECONFIG"); env && *env) {
    // client-go skips files of the list that do not exist.
    for (const auto& file : splitList(env)) {
      if (!fileExists(file)) continue;
      if (auto s = mergeFile(m, file); !s) return s.error();
    }
    if (!m.files.empty()) return buildConfig(m, context);
  }
  if (const char* home = std::getenv("HOME"); home && *home) {
    std::string file = std::string(home) + "/.kube/config";
    if (fileExists(file)) {
      if (auto s = mergeFile(m, file); !s) return s.error();
      return buildConfig(m, context);
    }
  }
  auto inCluster = inClusterConfig();
  if (!inCluster) {
    return configError("no kubeconfig found ($KUBECONFIG, ~/.kube/config) and not in a cluster: " +
                       inCluster.error().message);
  }
  return inCluster;
}

Result<RestConfig> inClusterConfig(const std::string& serviceAccountDir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port) {
    return ApiError::transport("NotInCluster",
                               "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
  }
  RestConfig cfg;
  std::string h = host;
  if (h.find(':') != std::string::npos && h.front() != '[') h = "[" + h + "]";  // IPv6
  cfg.server = "https://" + h + ":" + port;
  cfg.source = "in-cluster service account " + serviceAccountDir;
  std::string problem;
  cfg.tokenFile = serviceAccountDir + "/token";
  if (!readFile(cfg.tokenFile, problem)) {
    return configError("in-cluster config: cannot read " + cfg.tokenFile + ": " + problem);
  }
  std::string caFile = serviceAccountDir + "/ca.crt";
  auto ca = readFile(caFile, problem);
  if (!ca) return configError("in-cluster config: cannot read " + caFile + ": " + problem);
  cfg.caPem = *ca;
  cfg.caSource = caFile + " (in-cluster service account)";
  if (auto ns = readFile(serviceAccountDir + "/namespace", problem)) cfg.ns = trim(*ns);
  return cfg;
}

std::string describeCredential(const RestConfig& c) {
  std::string where = c.source;
  if (!c.userName.empty()) where = "user \"" + c.userName + "\" in " + where;
  if (!c.contextName.empty()) where += " (context " + c.contextName + ")";
  if (c.exec) return "the credential of the exec plugin " + c.exec->command + " of " + where;
  if (!c.bearerToken.empty()) return "the token of " + where;
  if (!c.tokenFile.empty()) return "the token file " + c.tokenFile + " of " + where;
  if (!c.clientCertPem.empty()) return "the client certificate of " + where;
  return "no credential (anonymous), from " + where;
}

}  // namespace kube
