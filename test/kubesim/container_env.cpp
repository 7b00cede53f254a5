#include "test/kubesim/container_env.h"

#include "test/kubesim/cluster_json.h"
#include "test/kubesim/util.h"

namespace kubesim {

namespace {

// metadata.labels['app'] -> the value of label app, "" when absent.
std::optional<std::string> fieldValue(const json& pod, const std::string& path) {
  const auto md = objectAt(pod, "metadata");
  const auto spec = objectAt(pod, "spec");
  const auto status = objectAt(pod, "status");
  auto mapEntry = [&](const char* prefix, const char* field) -> std::optional<std::string> {
    const std::string p = prefix;
    if (path.rfind(p, 0) != 0 || path.size() < p.size() + 2 || path.back() != ']') {
      return std::nullopt;
    }
    std::string key = path.substr(p.size(), path.size() - p.size() - 1);
    if (key.size() >= 2 && (key.front() == '\'' || key.front() == '"') &&
        key.back() == key.front()) {
      key = key.substr(1, key.size() - 2);
    }
    const auto m = objectAt(md, field);
    return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : "";
  };
  if (path == "metadata.name") return md.value("name", "");
  if (path == "metadata.namespace") return md.value("namespace", "");
  if (path == "metadata.uid") return md.value("uid", "");
  if (path == "spec.nodeName") return spec.value("nodeName", "");
  if (path == "spec.serviceAccountName") return spec.value("serviceAccountName", "default");
  if (path == "status.podIP") return status.value("podIP", "");
  if (path == "status.hostIP") return status.value("hostIP", "");
  if (auto v = mapEntry("metadata.labels[", "labels")) return v;
  if (auto v = mapEntry("metadata.annotations[", "annotations")) return v;
  return std::nullopt;
}

std::map<std::string, std::string> dataOf(const json& object, bool secret) {
  std::map<std::string, std::string> out;
  const json data = objectAt(object, "data");
  for (const auto& [key, value] : data.items()) {
    if (!value.is_string()) continue;
    std::string v = value.get<std::string>();
    if (secret) {
      try {
        v = base64Decode(v);
      } catch (const std::invalid_argument&) {
        // kubesim refuses such a Secret on write; an old --data-dir copy keeps its text.
      }
    }
    out[key] = v;
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> ContainerEnv::asMap() const {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : vars) m[k] = v;
  return m;
}

std::string expandEnvReferences(const std::string& text,
                                const std::map<std::string, std::string>& env) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$' || i + 1 >= text.size()) {
      out += text[i];
      continue;
    }
    if (text[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (text[i + 1] == '(') {
      auto close = text.find(')', i + 2);
      if (close != std::string::npos) {
        std::string name = text.substr(i + 2, close - i - 2);
        auto it = env.find(name);
        out += it != env.end() ? it->second : text.substr(i, close - i + 1);
        i = close;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

ContainerEnv resolveContainerEnv(const json& pod, const std::string& containerName,
                                 const ObjectLookup& lookup) {
  ContainerEnv result;
  const std::string ns = objectAt(pod, "metadata").value("namespace", "");
  json container;
  for (const auto& c : arrayAt(objectAt(pod, "spec"), "containers")) {
    if (containerName.empty() || c.value("name", "") == containerName) {
      container = c;
      break;
    }
  }
  if (!container.is_object()) return result;
  std::map<std::string, std::string> soFar;
  auto set = [&](const std::string& k, const std::string& v) {
    result.vars.emplace_back(k, v);
    soFar[k] = v;
  };
  // What kube-apiserver's NotFound says: configmap "x" not found, secret "x" not found.
  auto fetch = [&](bool secret, const std::string& name, bool optional,
                   std::optional<json>& into) -> bool {
    into = lookup(secret ? "secrets" : "configmaps", name);
    if (into) return true;
    if (!optional) {
      result.error = std::string(secret ? "secret" : "configmap") + " \"" + name + "\" not found";
    }
    return false;
  };
  for (const auto& from : arrayAt(container, "envFrom")) {
    const std::string prefix = from.value("prefix", "");
    for (bool secret : {false, true}) {
      const char* field = secret ? "secretRef" : "configMapRef";
      if (!from.contains(field) || !from[field].is_object()) continue;
      const auto& ref = from[field];
      std::optional<json> obj;
      if (!fetch(secret, ref.value("name", ""), ref.value("optional", false), obj)) {
        if (!result.error.empty()) return result;
        continue;
      }
      for (const auto& [k, v] : dataOf(*obj, secret)) set(prefix + k, v);
    }
  }
  for (const auto& e : arrayAt(container, "env")) {
    const std::string name = e.value("name", "");
    if (e.contains("value") && e["value"].is_string()) {
      set(name, expandEnvReferences(e["value"].get<std::string>(), soFar));
      continue;
    }
    const auto from = objectAt(e, "valueFrom");
    if (from.empty()) {
      set(name, "");
      continue;
    }
    if (from.contains("fieldRef")) {
      const std::string path = objectAt(from, "fieldRef").value("fieldPath", "");
      auto v = fieldValue(pod, path);
      if (!v) {
        result.error = "unsupported fieldPath: " + path;
        return result;
      }
      set(name, *v);
      continue;
    }
    if (from.contains("resourceFieldRef")) {
      // The node is not modelled: a container without a limit sees the node's capacity.
      set(name, "0");
      continue;
    }
    for (bool secret : {false, true}) {
      const char* field = secret ? "secretKeyRef" : "configMapKeyRef";
      if (!from.contains(field) || !from[field].is_object()) continue;
      const auto& ref = from[field];
      const std::string objName = ref.value("name", ""), key = ref.value("key", "");
      const bool optional = ref.value("optional", false);
      std::optional<json> obj;
      if (!fetch(secret, objName, optional, obj)) {
        if (!result.error.empty()) return result;
        continue;
      }
      auto data = dataOf(*obj, secret);
      auto it = data.find(key);
      if (it == data.end()) {
        if (optional) continue;
        result.error = "couldn't find key " + key + " in " + (secret ? "Secret " : "ConfigMap ") +
                       ns + "/" + objName;
        return result;
      }
      set(name, it->second);
    }
  }
  return result;
}

}  // namespace kubesim
