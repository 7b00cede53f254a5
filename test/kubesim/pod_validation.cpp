#include "test/kubesim/pod_validation.h"

#include <regex>
#include <set>

#include "test/kubesim/decode.h"
#include "test/kubesim/selectors.h"

namespace kubesim {

namespace {

std::string idx(const std::string& path, const char* child, std::size_t i) {
  return path + "." + child + "[" + std::to_string(i) + "]";
}

// IsValidPortName (IANA_SVC_NAME): every failed rule is its own cause, as the real one lists them.
std::vector<std::string> portNameErrors(const std::string& name) {
  static const std::regex charset("^[-a-z0-9]+$");
  static const std::regex oneLetter("[a-z]");
  std::vector<std::string> out;
  if (name.size() > 15) out.push_back("must be no more than 15 characters");
  if (!std::regex_match(name, charset))
    out.push_back("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
  if (!std::regex_search(name, oneLetter)) out.push_back("must contain at least one letter (a-z)");
  if (name.find("--") != std::string::npos) out.push_back("must not contain consecutive hyphens");
  if (!name.empty() && (name.front() == '-' || name.back() == '-'))
    out.push_back("must not begin or end with a hyphen");
  return out;
}

const char* kPortRange = "must be between 1 and 65535, inclusive";

void validatePorts(const json& c, const std::string& p, std::set<std::string>& hostPorts,
                   std::vector<FieldCause>& causes) {
  if (!c.contains("ports") || !c["ports"].is_array()) return;
  std::set<std::string> names;
  for (std::size_t i = 0; i < c["ports"].size(); ++i) {
    const auto& port = c["ports"][i];
    if (!port.is_object()) continue;
    const std::string pp = idx(p, "ports", i);
    const std::string name = port.value("name", std::string());
    if (!name.empty()) {
      auto errs = portNameErrors(name);
      for (const auto& e : errs)
        causes.push_back(
            {"FieldValueInvalid", pp + ".name", "Invalid value: " + quote(name) + ": " + e});
      if (errs.empty() && !names.insert(name).second)
        causes.push_back({"FieldValueDuplicate", pp + ".name", "Duplicate value: " + quote(name)});
    }
    const auto number = [&](const char* f) -> long long {
      return port.contains(f) && port[f].is_number_integer() ? port[f].get<long long>() : 0;
    };
    const long long cp = number("containerPort");
    if (cp == 0) {
      causes.push_back({"FieldValueRequired", pp + ".containerPort", "Required value"});
    } else if (cp < 1 || cp > 65535) {
      causes.push_back({"FieldValueInvalid", pp + ".containerPort",
                        "Invalid value: " + std::to_string(cp) + ": " + kPortRange});
    }
    const long long hp = number("hostPort");
    if (hp != 0 && (hp < 1 || hp > 65535)) {
      causes.push_back({"FieldValueInvalid", pp + ".hostPort",
                        "Invalid value: " + std::to_string(hp) + ": " + kPortRange});
    }
    const std::string proto = port.value("protocol", std::string());
    if (proto.empty()) {
      causes.push_back({"FieldValueRequired", pp + ".protocol", "Required value"});
    } else if (proto != "TCP" && proto != "UDP" && proto != "SCTP") {
      causes.push_back({"FieldValueNotSupported", pp + ".protocol",
                        "Unsupported value: " + quote(proto) +
                            ": supported values: \"SCTP\", \"TCP\", \"UDP\""});
    }
    // AccumulateUniqueHostPorts: hostIP/protocol/hostPort unique across the pod's containers.
    if (hp != 0) {
      const std::string key =
          port.value("hostIP", std::string()) + "/" + proto + "/" + std::to_string(hp);
      if (!hostPorts.insert(key).second)
        causes.push_back(
            {"FieldValueDuplicate", pp + ".hostPort", "Duplicate value: " + quote(key)});
    }
  }
}

bool standardContainerResource(const std::string& n) {
  return n == "cpu" || n == "memory" || n == "ephemeral-storage" || n.rfind("hugepages-", 0) == 0;
}
// IsOvercommitAllowed: native resources (no domain or a kubernetes.io domain) but hugepages.
bool overcommitAllowed(const std::string& n) {
  const auto slash = n.find('/');
  const bool native =
      slash == std::string::npos || n.substr(0, slash).find("kubernetes.io") != std::string::npos;
  return native && n.rfind("hugepages-", 0) != 0;
}

void validateResources(const json& c, const std::string& p, std::vector<FieldCause>& causes) {
  if (!c.contains("resources") || !c["resources"].is_object()) return;
  const auto& r = c["resources"];
  const json limits =
      r.contains("limits") && r["limits"].is_object() ? r["limits"] : json::object();
  const json requests =
      r.contains("requests") && r["requests"].is_object() ? r["requests"] : json::object();
  const std::string limPath = p + ".resources.limits", reqPath = p + ".resources.requests";
  auto text = [](const json& q) { return q.is_string() ? q.get<std::string>() : q.dump(); };
  auto checkName = [&](const std::string& name, const std::string& at) {
    if (name.find('/') == std::string::npos && !standardContainerResource(name))
      causes.push_back({"FieldValueInvalid", at + "[" + name + "]",
                        "Invalid value: " + quote(name) +
                            ": must be a standard resource for "
                            "containers"});
  };
  for (auto it = limits.begin(); it != limits.end(); ++it) {
    checkName(it.key(), limPath);
    auto v = quantityValue(text(*it));
    if (v && *v < 0)
      causes.push_back({"FieldValueInvalid", limPath + "[" + it.key() + "]",
                        "Invalid value: " + quote(canonicalQuantity(text(*it))) +
                            ": must be greater than or equal to 0"});
  }
  for (auto it = requests.begin(); it != requests.end(); ++it) {
    const std::string name = it.key();
    checkName(name, reqPath);
    const std::string q = canonicalQuantity(text(*it));
    auto v = quantityValue(q);
    if (v && *v < 0)
      causes.push_back({"FieldValueInvalid", reqPath + "[" + name + "]",
                        "Invalid value: " + quote(q) + ": must be greater than or equal to 0"});
    if (limits.contains(name)) {
      const std::string l = canonicalQuantity(text(limits[name]));
      auto lv = quantityValue(l);
      if (!v || !lv) continue;
      if (*v != *lv && !overcommitAllowed(name)) {
        causes.push_back(
            {"FieldValueInvalid", reqPath,
             "Invalid value: " + quote(q) + ": must be equal to " + name + " limit of " + l});
      } else if (*v > *lv) {
        causes.push_back({"FieldValueInvalid", reqPath,
                          "Invalid value: " + quote(q) + ": must be less than or equal to " + name +
                              " limit of " + l});
      }
    } else if (!overcommitAllowed(name)) {
      causes.push_back({"FieldValueRequired", limPath,
                        "Required value: Limit must be set for non overcommitable resources"});
    }
  }
}

void validateEnv(const json& c, const std::string& p, std::vector<FieldCause>& causes) {
  if (!c.contains("env") || !c["env"].is_array()) return;
  for (std::size_t j = 0; j < c["env"].size(); ++j) {
    const auto& e = c["env"][j];
    const std::string ep = idx(p, "env", j) + ".name";
    const std::string en = e.is_object() ? e.value("name", std::string()) : "";
    if (en.empty()) {
      causes.push_back({"FieldValueRequired", ep, "Required value"});
    } else if (auto err = validateEnvVarName(en); !err.empty()) {
      causes.push_back({"FieldValueInvalid", ep, "Invalid value: " + quote(en) + ": " + err});
    }
  }
}

void validateContainers(const json& spec, const char* field, const std::string& path,
                        std::set<std::string>& names, std::set<std::string>& hostPorts,
                        std::vector<FieldCause>& causes) {
  const auto& list = spec[field];
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& c = list[i];
    const std::string p = idx(path, field, i);
    const std::string name = c.is_object() ? c.value("name", std::string()) : "";
    if (name.empty()) {
      causes.push_back({"FieldValueRequired", p + ".name", "Required value"});
    } else if (auto e = validateDns1123Label(name); !e.empty()) {
      causes.push_back(
          {"FieldValueInvalid", p + ".name", "Invalid value: " + quote(name) + ": " + e});
    } else if (!names.insert(name).second) {
      causes.push_back({"FieldValueDuplicate", p + ".name", "Duplicate value: " + quote(name)});
    }
    if (!c.is_object() || !c.contains("image") || !c["image"].is_string() ||
        c["image"].get<std::string>().empty()) {
      causes.push_back({"FieldValueRequired", p + ".image", "Required value"});
    }
    if (!c.is_object()) continue;
    validatePorts(c, p, hostPorts, causes);
    validateEnv(c, p, causes);
    validateResources(c, p, causes);
  }
}

}  // namespace

void validatePodSpec(const json& spec, const std::string& path, std::vector<FieldCause>& causes,
                     bool job) {
  if (!spec.is_object()) {
    causes.push_back({"FieldValueRequired", path + ".containers", "Required value"});
    return;
  }
  // Init containers are validated first and share the name space with the containers.
  std::set<std::string> names, hostPorts;
  if (spec.contains("initContainers") && spec["initContainers"].is_array())
    validateContainers(spec, "initContainers", path, names, hostPorts, causes);
  if (!spec.contains("containers") || !spec["containers"].is_array() ||
      spec["containers"].empty()) {
    causes.push_back({"FieldValueRequired", path + ".containers", "Required value"});
  } else {
    validateContainers(spec, "containers", path, names, hostPorts, causes);
  }
  if (spec.contains("serviceAccountName") && spec["serviceAccountName"].is_string()) {
    const std::string sa = spec["serviceAccountName"].get<std::string>();
    if (!sa.empty()) {
      if (auto e = validateDns1123Subdomain(sa); !e.empty()) {
        causes.push_back({"FieldValueInvalid", path + ".serviceAccountName",
                          "Invalid value: " + quote(sa) + ": " + e});
      }
    }
  }
  std::string rp = spec.value("restartPolicy", std::string("Always"));
  if (job) {
    if (rp != "OnFailure" && rp != "Never") {
      causes.push_back(
          {"FieldValueNotSupported", path + ".restartPolicy",
           "Unsupported value: " + quote(rp) + ": supported values: \"OnFailure\", \"Never\""});
    }
  } else if (rp != "Always" && rp != "OnFailure" && rp != "Never") {
    causes.push_back({"FieldValueNotSupported", path + ".restartPolicy",
                      "Unsupported value: " + quote(rp) +
                          ": supported values: \"Always\", \"OnFailure\", \"Never\""});
  }
}

void validateTemplateLabels(const json& tmpl, const std::string& path,
                            std::vector<FieldCause>& causes) {
  if (!tmpl.is_object() || !tmpl.contains("metadata") || !tmpl["metadata"].is_object()) return;
  const json labels = tmpl["metadata"].value("labels", json::object());
  if (!labels.is_object()) return;
  const std::string at = path + ".labels";
  for (auto it = labels.begin(); it != labels.end(); ++it) {
    if (auto e = validateLabelKey(it.key()); !e.empty())
      causes.push_back({"FieldValueInvalid", at, "Invalid value: " + quote(it.key()) + ": " + e});
    if (!it->is_string()) continue;
    if (auto e = validateLabelValue(it->get<std::string>()); !e.empty())
      causes.push_back(
          {"FieldValueInvalid", at, "Invalid value: " + quote(it->get<std::string>()) + ": " + e});
  }
}

std::string goStringMap(const json& labels) {
  if (!labels.is_object()) return "map[string]string(nil)";
  std::string out = "map[string]string{";
  bool first = true;
  for (auto it = labels.begin(); it != labels.end(); ++it) {  // nlohmann keeps keys sorted
    out += (first ? "" : ", ") + quote(it.key()) + ":" +
           quote(it->is_string() ? it->get<std::string>() : it->dump());
    first = false;
  }
  return out + "}";
}

namespace {

// Go's %#v of a metav1.LabelSelector (matchExpressions shown only as present or nil).
std::string goStringSelector(const json& sel) {
  const json ml = sel.is_object() ? sel.value("matchLabels", json()) : json();
  const json me = sel.is_object() ? sel.value("matchExpressions", json()) : json();
  std::string out = "v1.LabelSelector{MatchLabels:" + goStringMap(ml) + ", MatchExpressions:";
  out += me.is_array() && !me.empty() ? "[]v1.LabelSelectorRequirement{...}"
                                      : "[]v1.LabelSelectorRequirement(nil)";
  return out + "}";
}

// ValidateHasLabel: <path>.labels[key] must be `want`.
void hasLabel(const json& labels, const std::string& key, const std::string& want,
              std::vector<FieldCause>& causes) {
  const std::string at = "spec.template.metadata.labels[" + key + "]";
  if (!labels.is_object() || !labels.contains(key)) {
    causes.push_back({"FieldValueRequired", at, "Required value: " + want});
  } else if (labels[key] != want) {
    causes.push_back({"FieldValueInvalid", at,
                      "Invalid value: " + goStringMap(labels) + ": must be '" + want + "'"});
  }
}

}  // namespace

void validateGeneratedSelector(const json& job, std::vector<FieldCause>& causes) {
  const json spec = job.value("spec", json::object());
  const json tmpl = spec.value("template", json::object());
  const json labels = tmpl.is_object() && tmpl.contains("metadata") && tmpl["metadata"].is_object()
                          ? tmpl["metadata"].value("labels", json())
                          : json();
  const json selector = spec.value("selector", json());
  const std::string uid = job.value("/metadata/uid"_json_pointer, std::string());
  const std::string name = job.value("/metadata/name"_json_pointer, std::string());
  hasLabel(labels, "controller-uid", uid, causes);
  hasLabel(labels, "job-name", name, causes);
  hasLabel(labels, "batch.kubernetes.io/controller-uid", uid, causes);
  hasLabel(labels, "batch.kubernetes.io/job-name", name, causes);
  const json expected = {{"batch.kubernetes.io/controller-uid", uid}};
  const bool same = selector.is_object() &&
                    selector.value("matchLabels", json::object()) == expected &&
                    selector.value("matchExpressions", json::array()).empty();
  if (!selector.is_null() && !same) {
    causes.push_back(
        {"FieldValueInvalid", "spec.selector",
         "Invalid value: " + goStringSelector(selector) + ": `selector` not auto-generated"});
  }
}

}  // namespace kubesim
