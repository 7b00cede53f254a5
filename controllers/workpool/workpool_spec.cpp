#include "controllers/workpool/workpool_spec.h"

namespace controllers::workpool {

using nlohmann::json;

namespace {

const json& member(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it != obj.end() ? *it : kNull;
}

std::string typeName(const json& v) {
  return v.type_name();
}

// Reads an optional string field; false + error when present with another type or empty.
bool readString(const json& spec, const char* key, std::string& out, SpecError& err,
                const std::string& base = "spec") {
  const json& v = member(spec, key);
  if (v.is_null()) return true;
  if (!v.is_string() || v.get<std::string>().empty()) {
    err = {base + "." + key,
           v.is_string() ? "must not be empty" : "must be a string, got " + typeName(v)};
    return false;
  }
  out = v.get<std::string>();
  return true;
}

bool readInt(const json& spec, const char* key, int minimum, int& out, SpecError& err) {
  const json& v = member(spec, key);
  if (v.is_null()) return true;
  if (!v.is_number_integer()) {
    err = {std::string("spec.") + key, "must be an integer, got " + typeName(v)};
    return false;
  }
  const auto n = v.get<long long>();
  if (n < minimum || n > 86400 * 365) {
    err = {std::string("spec.") + key, "must be between " + std::to_string(minimum) +
                                           " and 31536000, got " + std::to_string(n)};
    return false;
  }
  out = static_cast<int>(n);
  return true;
}

bool isHttpUrl(const std::string& url) {
  return (url.rfind("http://", 0) == 0 && url.size() > 7) ||
         (url.rfind("https://", 0) == 0 && url.size() > 8);
}

std::optional<SpecError> readApi(const json& spec, WorkPoolSpec& out) {
  const json& cloud = member(spec, "cloud");
  const bool hasUrl = !member(spec, "apiUrl").is_null();
  if (hasUrl && !cloud.is_null()) {
    return SpecError{"spec.cloud", "give either spec.apiUrl or spec.cloud, not both"};
  }
  if (!hasUrl && cloud.is_null()) {
    return SpecError{"spec.apiUrl",
                     "required: the Prefect API URL (e.g. http://prefect-server:4200/api), or "
                     "spec.cloud {accountId, workspaceId} for Prefect Cloud"};
  }
  SpecError err;
  if (hasUrl) {
    if (!readString(spec, "apiUrl", out.apiUrl, err)) return err;
    if (!isHttpUrl(out.apiUrl)) {
      return SpecError{"spec.apiUrl",
                       "must start with http:// or https://, got \"" + out.apiUrl + "\""};
    }
    return std::nullopt;
  }
  if (!cloud.is_object()) return SpecError{"spec.cloud", "must be an object"};
  std::string account, workspace, base = "https://api.prefect.cloud/api";
  if (!readString(cloud, "accountId", account, err, "spec.cloud")) return err;
  if (!readString(cloud, "workspaceId", workspace, err, "spec.cloud")) return err;
  if (!readString(cloud, "apiUrl", base, err, "spec.cloud")) return err;
  if (account.empty()) return SpecError{"spec.cloud.accountId", "required"};
  if (workspace.empty()) return SpecError{"spec.cloud.workspaceId", "required"};
  if (!isHttpUrl(base)) {
    return SpecError{"spec.cloud.apiUrl", "must start with http:// or https://"};
  }
  out.apiUrl = cloudApiUrl(base, account, workspace);
  out.cloud = true;
  return std::nullopt;
}

std::optional<SpecError> readApiKeySecret(const json& spec, WorkPoolSpec& out) {
  const json& s = member(spec, "apiKeySecret");
  if (s.is_null()) return std::nullopt;
  if (!s.is_object()) return SpecError{"spec.apiKeySecret", "must be an object {name, key}"};
  SpecError err;
  std::string name;
  if (!readString(s, "name", name, err, "spec.apiKeySecret")) return err;
  if (name.empty()) return SpecError{"spec.apiKeySecret.name", "required"};
  if (!readString(s, "key", out.apiKeySecretKey, err, "spec.apiKeySecret")) return err;
  out.apiKeySecretName = name;
  return std::nullopt;
}

std::optional<SpecError> readQueues(const json& spec, WorkPoolSpec& out) {
  const json& q = member(spec, "workQueues");
  if (q.is_null()) return std::nullopt;
  if (!q.is_array()) return SpecError{"spec.workQueues", "must be a list of queue names"};
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (!q[i].is_string() || q[i].get<std::string>().empty()) {
      return SpecError{"spec.workQueues[" + std::to_string(i) + "]", "must be a non-empty string"};
    }
    out.workQueues.push_back(q[i].get<std::string>());
  }
  return std::nullopt;
}

std::optional<SpecError> readTemplate(const json& spec, WorkPoolSpec& out) {
  const json& t = member(spec, "baseJobTemplate");
  if (t.is_null()) return std::nullopt;
  if (!t.is_object()) {
    return SpecError{"spec.baseJobTemplate", "must be an object {configMapRef | inline, policy}"};
  }
  const json& ref = member(t, "configMapRef");
  const json& inl = member(t, "inline");
  if (!ref.is_null() && !inl.is_null()) {
    return SpecError{"spec.baseJobTemplate", "give either configMapRef or inline, not both"};
  }
  if (ref.is_null() && inl.is_null()) {
    return SpecError{"spec.baseJobTemplate", "give configMapRef or inline"};
  }
  SpecError err;
  if (!ref.is_null()) {
    std::string name;
    if (!readString(ref, "name", name, err, "spec.baseJobTemplate.configMapRef")) return err;
    if (name.empty()) return SpecError{"spec.baseJobTemplate.configMapRef.name", "required"};
    if (!readString(ref, "key", out.templateConfigMapKey, err,
                    "spec.baseJobTemplate.configMapRef")) {
      return err;
    }
    out.templateConfigMap = name;
  } else {
    if (!inl.is_object() || !member(inl, "job_configuration").is_object()) {
      return SpecError{"spec.baseJobTemplate.inline.job_configuration",
                       "required: an object (the template's job_configuration)"};
    }
    if (!member(inl, "variables").is_null() && !member(inl, "variables").is_object()) {
      return SpecError{"spec.baseJobTemplate.inline.variables",
                       "must be an object (a JSON schema)"};
    }
    out.inlineTemplate = inl;
  }
  std::string policy = "FillIfEmpty";
  if (!readString(t, "policy", policy, err, "spec.baseJobTemplate")) return err;
  if (policy == "Sync") {
    out.templatePolicy = TemplatePolicy::Sync;
  } else if (policy != "FillIfEmpty") {
    return SpecError{"spec.baseJobTemplate.policy",
                     "must be FillIfEmpty or Sync, got \"" + policy + "\""};
  }
  return std::nullopt;
}

}  // namespace

std::string cloudApiUrl(const std::string& cloudUrl, const std::string& accountId,
                        const std::string& workspaceId) {
  std::string base = cloudUrl;
  while (!base.empty() && base.back() == '/') base.pop_back();
  return base + "/accounts/" + accountId + "/workspaces/" + workspaceId;
}

std::string defaultWorkerName(const std::string& clusterUid, const std::string& ns,
                              const std::string& name) {
  return "flowrun-operator-" + (clusterUid.empty() ? std::string("unknown") : clusterUid) + "-" +
         ns + "-" + name;
}

std::variant<WorkPoolSpec, SpecError> parseWorkPoolSpec(const json& workPool) {
  const json& spec = member(workPool, "spec");
  if (!spec.is_object()) return SpecError{"spec", "required: an object"};
  WorkPoolSpec out;
  out.poolName = member(member(workPool, "metadata"), "name").is_string()
                     ? member(member(workPool, "metadata"), "name").get<std::string>()
                     : std::string{};
  SpecError err;
  if (auto e = readApi(spec, out)) return *e;
  if (auto e = readApiKeySecret(spec, out)) return *e;
  if (!readString(spec, "poolName", out.poolName, err)) return err;
  if (out.poolName.empty()) return SpecError{"spec.poolName", "required"};
  if (auto e = readQueues(spec, out)) return *e;
  if (!readInt(spec, "limit", 0, out.limit, err)) return err;
  if (!readInt(spec, "prefetchSeconds", 0, out.prefetchSeconds, err)) return err;
  if (!readInt(spec, "queryIntervalSeconds", 1, out.queryIntervalSeconds, err)) return err;
  if (!readInt(spec, "heartbeatIntervalSeconds", 1, out.heartbeatIntervalSeconds, err)) {
    return err;
  }
  if (!readString(spec, "workerName", out.workerName, err)) return err;
  if (auto e = readTemplate(spec, out)) return *e;
  return out;
}

}  // namespace controllers::workpool
