#include "controllers/flowrun/job_renderer.h"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <exception>
#include <set>

#include "controllers/flowrun/job_template.h"
#include "controllers/flowrun/labels.h"
#include "controllers/flowrun/shell_split.h"
#include "operator/kube/base64.h"
#include "operator/kube/utf8.h"

namespace controllers::flowrun {

namespace detail {
extern const char* const kDefaultBaseJobTemplateText;  // generated from the shipped JSON
}  // namespace detail

namespace {

using nlohmann::json;
using templating::describeValue;
using templating::indexPath;
using templating::joinPath;

constexpr const char* kFlowRunApiVersion = "prefect.io/v1alpha1";
constexpr const char* kFlowRunKind = "FlowRun";
constexpr std::size_t kMaxNameLength = 63;
constexpr std::size_t kHashLength = 10;
constexpr const char* kBuiltInOrigin = "the built-in default template";

// The typed FlowRun spec fields and the standard template variable each one feeds.
enum class FieldKind { String, PositiveInteger, NonNegativeInteger, Command, Env, Labels };
struct TypedField {
  const char* specField;
  const char* variable;
  FieldKind kind;
};
constexpr std::array<TypedField, 9> kTypedFields = {{
    {"image", "image", FieldKind::String},
    {"command", "command", FieldKind::Command},
    {"env", "env", FieldKind::Env},
    {"labels", "labels", FieldKind::Labels},
    {"serviceAccountName", "service_account_name", FieldKind::String},
    {"imagePullPolicy", "image_pull_policy", FieldKind::String},
    {"finishedJobTTL", "finished_job_ttl", FieldKind::NonNegativeInteger},
    {"jobWatchTimeoutSeconds", "job_watch_timeout_seconds", FieldKind::PositiveInteger},
    {"podWatchTimeoutSeconds", "pod_watch_timeout_seconds", FieldKind::PositiveInteger},
}};

// Names a template may use without declaring them: the operator always knows their value (or
// knows they are unset). Prefect's default template declares all of them.
const std::set<std::string>& standardVariables() {
  static const std::set<std::string> names = {"name",
                                              "namespace",
                                              "image",
                                              "command",
                                              "env",
                                              "labels",
                                              "service_account_name",
                                              "image_pull_policy",
                                              "finished_job_ttl",
                                              "job_watch_timeout_seconds",
                                              "pod_watch_timeout_seconds"};
  return names;
}

// job_configuration keys that default to their standard placeholder when a template leaves them
// out (as get_default_base_job_template writes them), so the FlowRun's typed fields still apply.
constexpr std::array<const char*, 7> kStandardConfigKeys = {"command",
                                                            "env",
                                                            "labels",
                                                            "name",
                                                            "namespace",
                                                            "job_watch_timeout_seconds",
                                                            "pod_watch_timeout_seconds"};

struct Failure {
  RenderError error;
  bool aboutFlowRun = false;  // the path is a FlowRun field, even while checking the Job
};

[[noreturn]] void fail(std::string path, std::string message, std::string origin = "") {
  throw Failure{RenderError{std::move(path), std::move(message), std::move(origin)}};
}

bool isSet(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && !it->is_null();
}

std::string sha256Hex(const std::string& text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    // Not expected with OpenSSL 3; FNV-1a keeps the name deterministic if it ever happens.
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
    std::string out;
    for (int i = 0; i < 8; ++i) {
      static const char* hex = "0123456789abcdef";
      const auto byte = static_cast<unsigned>((h >> (8 * i)) & 0xff);
      out += hex[byte >> 4];
      out += hex[byte & 0xf];
    }
    return out;
  }
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 0xf];
  }
  return out;
}

bool isDnsLabel(const std::string& s) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return alnum(c) || c == '-'; });
}

// ---------------------------------------------------------------- environment variables

// An ordered list of env entries ({name, value} or {name, valueFrom}); setting a name that is
// already there replaces it in place, like a Python dict update.
class EnvList {
 public:
  void set(json entry) {
    const std::string name = entry.at("name").get<std::string>();
    for (auto& e : entries_) {
      if (e.at("name") == name) {
        e = std::move(entry);
        return;
      }
    }
    entries_.push_back(std::move(entry));
  }
  void erase(const std::string& name) {
    std::erase_if(entries_, [&](const json& e) { return e.at("name") == name; });
  }
  bool has(const std::string& name) const {
    return std::any_of(entries_.begin(), entries_.end(),
                       [&](const json& e) { return e.at("name") == name; });
  }
  std::vector<json>& entries() { return entries_; }

 private:
  std::vector<json> entries_;
};

// Adds an env given as a map (values become strings; null removes the name) or as a list of
// Kubernetes EnvVar objects, to `out`. `path` names the source in errors.
void mergeEnv(EnvList& out, const json& env, const std::string& path) {
  if (env.is_null()) return;
  if (env.is_object()) {
    for (const auto& [k, v] : env.items()) {
      if (v.is_null()) {
        out.erase(k);
      } else if (v.is_string() || v.is_number() || v.is_boolean()) {
        out.set(json{{"name", k}, {"value", templating::toText(v)}});
      } else {
        fail(joinPath(path, k), "must be a string, got " + describeValue(v));
      }
    }
    return;
  }
  if (env.is_array()) {
    for (std::size_t i = 0; i < env.size(); ++i) {
      const json& e = env[i];
      if (!e.is_object()) fail(indexPath(path, i), "must be an object with a name");
      auto n = e.find("name");
      if (n == e.end() || !n->is_string() || n->get_ref<const std::string&>().empty()) {
        fail(indexPath(path, i) + ".name", "required");
      }
      out.set(e);
    }
    return;
  }
  fail(path,
       "must be a map of names to values or a list of {name, value}, got " + describeValue(env));
}

// Merges two env values for the template variable `env`: maps merge key by key (null removes),
// anything involving a list becomes a list.
json combineEnv(const json& base, const json& overlay, const std::string& path) {
  if (base.is_null()) return overlay;
  if (base.is_object() && overlay.is_object()) {
    json out = base;
    for (const auto& [k, v] : overlay.items()) {
      if (v.is_null()) {
        out.erase(k);
      } else {
        out[k] = v;
      }
    }
    return out;
  }
  EnvList list;
  mergeEnv(list, base, path);
  mergeEnv(list, overlay, path);
  return json(list.entries());
}

// ---------------------------------------------------------------- labels

// Slugs and merges `labels` into `out`; GitOps tracking keys and keys empty after slugging are
// dropped. Non-string values are written as text.
void mergeLabels(json& out, const json& labels, const std::string& path) {
  if (labels.is_null()) return;
  if (!labels.is_object()) fail(path, "must be a map of strings, got " + describeValue(labels));
  for (const auto& [k, v] : labels.items()) {
    if (v.is_null()) continue;
    if (!(v.is_string() || v.is_number() || v.is_boolean())) {
      fail(joinPath(path, k), "must be a string, got " + describeValue(v));
    }
    if (isGitOpsTrackingKey(k)) continue;
    const std::string key = toLabelKey(k);
    if (key.empty() || isGitOpsTrackingKey(key)) continue;
    out[key] = toLabelValue(templating::toText(v));
  }
}

void dropGitOpsKeys(json& map) {
  if (!map.is_object()) return;
  for (auto it = map.begin(); it != map.end();) {
    if (isGitOpsTrackingKey(it.key())) {
      it = map.erase(it);
    } else {
      ++it;
    }
  }
}

// ---------------------------------------------------------------- the renderer

json& objectAt(json& parent, const char* key, const std::string& path, bool create) {
  auto it = parent.find(key);
  if (it == parent.end() || it->is_null()) {
    if (!create) fail(path, "required");
    parent[key] = json::object();
    return parent[key];
  }
  if (!it->is_object()) fail(path, "must be an object, got " + describeValue(*it));
  return *it;
}

std::vector<std::string> commandWords(const json& command, const std::string& path,
                                      const std::string& errorPath) {
  if (command.is_string()) {
    auto split = splitCommand(command.get<std::string>());
    if (auto* err = std::get_if<RenderError>(&split)) {
      fail(errorPath, err->message);
    }
    return std::get<std::vector<std::string>>(split);
  }
  if (command.is_array()) {
    std::vector<std::string> words;
    for (std::size_t i = 0; i < command.size(); ++i) {
      if (!command[i].is_string()) {
        fail(indexPath(path, i), "must be a string, got " + describeValue(command[i]));
      }
      words.push_back(command[i].get<std::string>());
    }
    return words;
  }
  fail(path, "must be a string or a list of strings, got " + describeValue(command));
}

void checkTypedField(const TypedField& f, const json& v) {
  const std::string path = std::string("spec.") + f.specField;
  switch (f.kind) {
    case FieldKind::String:
      if (!v.is_string()) fail(path, "must be a string, got " + describeValue(v));
      break;
    case FieldKind::PositiveInteger:
      if (!v.is_number_integer() || v.get<std::int64_t>() <= 0) {
        fail(path, "must be a positive integer, got " + describeValue(v));
      }
      break;
    case FieldKind::NonNegativeInteger:
      if (!v.is_number_integer() || v.get<std::int64_t>() < 0) {
        fail(path, "must be a non-negative integer, got " + describeValue(v));
      }
      break;
    case FieldKind::Command:
      (void)commandWords(v, path, path);
      break;
    case FieldKind::Env: {
      EnvList scratch;
      mergeEnv(scratch, v, path);
      break;
    }
    case FieldKind::Labels: {
      json scratch = json::object();
      mergeLabels(scratch, v, path);
      break;
    }
  }
}

// The values placeholders are rendered with: schema defaults, then spec.variables, then the
// FlowRun's typed fields, then name and namespace (always the FlowRun's).
json buildValues(const json& spec, const json& variablesSchema, const std::string& name,
                 const std::string& ns) {
  static const json kEmpty = json::object();
  const json& props = variablesSchema.is_object() && variablesSchema.contains("properties")
                          ? variablesSchema.at("properties")
                          : kEmpty;
  json values = json::object();
  for (const auto& [k, schema] : props.items()) {
    if (auto d = schema.find("default"); d != schema.end() && !d->is_null()) values[k] = *d;
  }

  if (isSet(spec, "variables")) {
    const json& vars = spec.at("variables");
    if (!vars.is_object()) {
      fail("spec.variables",
           "must be a map of variable names to values, got " + describeValue(vars));
    }
    for (const auto& [k, v] : vars.items()) {
      const std::string path = joinPath("spec.variables", k);
      if ((k == "namespace" && v != ns) || (k == "name" && v != name)) {
        fail(path, "the operator owns the Job's " + k + " (it is the FlowRun's); remove it");
      }
      if (!props.contains(k)) {
        std::string known;
        for (const auto& [p, unused] : props.items()) {
          (void)unused;
          known += known.empty() ? p : ", " + p;
        }
        fail(path, "the template has no variable \"" + k + "\"" +
                       (known.empty() ? std::string(" (it declares none)")
                                      : " (its variables: " + known + ")"));
      }
      if (v.is_null()) {  // explicitly unset: drops the template's default
        values.erase(k);
        continue;
      }
      if (auto bad = templating::checkAgainstSchema(v, props.at(k), variablesSchema)) {
        fail(bad->path.empty() ? path
                               : (bad->path[0] == '[' ? path + bad->path : path + "." + bad->path),
             bad->message);
      }
      if ((k == "env" || k == "labels") && values.contains(k) && values[k].is_object() &&
          v.is_object()) {
        values[k] = k == "env" ? combineEnv(values[k], v, path) : values[k];
        if (k == "labels") values[k].update(v);
      } else {
        values[k] = v;
      }
    }
  }

  for (const auto& f : kTypedFields) {
    if (!isSet(spec, f.specField)) continue;
    const json& v = spec.at(f.specField);
    checkTypedField(f, v);
    const std::string var = f.variable;
    // An empty command (as Prefect's `command or default`) means the default command.
    if (f.kind == FieldKind::Command &&
        commandWords(v, std::string("spec.") + f.specField, "spec.command").empty()) {
      continue;
    }
    if (f.kind == FieldKind::Env && values.contains(var)) {
      values[var] = combineEnv(values[var], v, std::string("spec.") + f.specField);
    } else if (f.kind == FieldKind::Labels && values.contains(var) && values[var].is_object()) {
      values[var].update(v);
    } else {
      values[var] = v;
    }
  }
  values["name"] = name;
  values["namespace"] = ns;

  if (variablesSchema.is_object()) {
    if (auto req = variablesSchema.find("required"); req != variablesSchema.end()) {
      for (const auto& r : *req) {
        if (r.is_string() && !values.contains(r.get<std::string>())) {
          fail(joinPath("spec.variables", r.get<std::string>()),
               "required by the template, which gives it no default");
        }
      }
    }
  }
  return values;
}

std::optional<std::int64_t> positiveSeconds(const json& rendered, const char* key, const json& spec,
                                            const char* specField) {
  auto it = rendered.find(key);
  if (it == rendered.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() || it->get<std::int64_t>() <= 0) {
    fail(isSet(spec, specField) ? std::string("spec.") + specField
                                : std::string("job_configuration.") + key,
         "must be a positive integer, got " + describeValue(*it));
  }
  return it->get<std::int64_t>();
}

void checkIntegerField(const json& obj, const char* key, const std::string& path,
                       std::int64_t minimum) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;
  if (!it->is_number_integer() || it->get<std::int64_t>() < minimum) {
    fail(path, (minimum > 0 ? "must be a positive integer, got "
                            : "must be a non-negative integer, got ") +
                   describeValue(*it));
  }
}

void mustEqualOne(json& obj, const char* key, const std::string& path, bool erase) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;
  if (!(it->is_number_integer() && it->get<std::int64_t>() == 1)) {
    fail(path, "must have value 1, got " + describeValue(*it));
  }
  if (erase) obj.erase(it);
}

RenderResult render(const json& flowRun, const json& tmpl, const RenderOptions& options) {
  const std::string templateOrigin =
      options.templateOrigin.empty() ? kBuiltInOrigin : options.templateOrigin;

  // The FlowRun.
  if (!flowRun.is_object()) fail("", "the FlowRun is not an object");
  static const json kEmpty = json::object();
  const json& meta = flowRun.contains("metadata") ? flowRun.at("metadata") : kEmpty;
  if (!meta.is_object()) fail("metadata", "must be an object");
  auto metaString = [&](const char* key) {
    auto it = meta.find(key);
    if (it == meta.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
      fail(std::string("metadata.") + key, "required");
    }
    return it->get<std::string>();
  };
  const std::string name = metaString("name");
  const std::string ns = metaString("namespace");
  const std::string uid = metaString("uid");
  const json& spec = isSet(flowRun, "spec") ? flowRun.at("spec") : kEmpty;
  if (!spec.is_object()) fail("spec", "must be an object, got " + describeValue(spec));
  auto specString = [&](const char* key) -> std::string {
    if (!isSet(spec, key)) return "";
    const json& v = spec.at(key);
    if (!v.is_string())
      fail(std::string("spec.") + key, "must be a string, got " + describeValue(v));
    return v.get<std::string>();
  };
  const std::string flowRunId = specString("flowRunId");
  const std::string flowName = specString("flowName");
  std::optional<std::int64_t> backoffLimit;
  if (isSet(spec, "backoffLimit")) {
    const json& b = spec.at("backoffLimit");
    if (!b.is_number_integer() || b.get<std::int64_t>() < 0) {
      fail("spec.backoffLimit", "must be a non-negative integer, got " + describeValue(b));
    }
    backoffLimit = b.get<std::int64_t>();
  }
  std::optional<std::int64_t> finishedJobTTL;
  if (isSet(spec, "finishedJobTTL") && spec.at("finishedJobTTL").is_number_integer()) {
    finishedJobTTL = spec.at("finishedJobTTL").get<std::int64_t>();
  }

  // The template.
  if (auto bad = templating::checkTemplateShape(tmpl, templateOrigin)) throw Failure{*bad};
  const json& variablesSchema = isSet(tmpl, "variables") ? tmpl.at("variables") : kEmpty;
  const json values = buildValues(spec, variablesSchema, name, ns);

  std::set<std::string> known = standardVariables();
  if (variablesSchema.contains("properties")) {
    for (const auto& [k, unused] : variablesSchema.at("properties").items()) {
      (void)unused;
      known.insert(k);
    }
  }
  json jobConfiguration = tmpl.at("job_configuration");
  for (const char* key : kStandardConfigKeys) {
    if (!jobConfiguration.contains(key)) jobConfiguration[key] = std::string("{{ ") + key + " }}";
  }
  auto applied = templating::applyValues(
      jobConfiguration, values, [&](const std::string& n) { return known.count(n) > 0; },
      "job_configuration", templateOrigin);
  if (auto* err = std::get_if<RenderError>(&applied)) throw Failure{*err};
  const json rendered = std::move(*std::get<std::optional<json>>(applied));

  RenderResult result;
  result.jobWatchTimeoutSeconds =
      positiveSeconds(rendered, "job_watch_timeout_seconds", spec, "jobWatchTimeoutSeconds");
  if (auto pod =
          positiveSeconds(rendered, "pod_watch_timeout_seconds", spec, "podWatchTimeoutSeconds")) {
    result.podWatchTimeoutSeconds = *pod;
  }

  // The job configuration's env, labels and command (Prefect's prepare_for_flow_run): the
  // flow run id first, then the configuration's env on top.
  EnvList configEnv;
  if (!flowRunId.empty()) {
    configEnv.set(json{{"name", "PREFECT__FLOW_RUN_ID"}, {"value", flowRunId}});
  }
  if (rendered.contains("env")) mergeEnv(configEnv, rendered.at("env"), "job_configuration.env");
  json configLabels = json::object();
  if (rendered.contains("labels")) {
    mergeLabels(configLabels, rendered.at("labels"), "job_configuration.labels");
  }
  std::optional<std::vector<std::string>> configCommand;
  const bool specCommandIsString = isSet(spec, "command") && spec.at("command").is_string();
  if (isSet(rendered, "command") &&
      !(rendered.at("command").is_string() && rendered.at("command").get<std::string>().empty())) {
    configCommand =
        commandWords(rendered.at("command"), "job_configuration.command",
                     specCommandIsString ? "spec.command" : "job_configuration.command");
    // Like Prefect's `self.command or default`: an empty command means the default one.
    if (configCommand->empty()) configCommand.reset();
  }

  // The manifest. From here on paths are Job paths.
  if (!rendered.contains("job_manifest") || !rendered.at("job_manifest").is_object()) {
    fail("job_configuration.job_manifest", "must render to an object (the Job manifest)",
         templateOrigin);
  }
  json job = rendered.at("job_manifest");
  const std::string jobOrigin = "the Job rendered from " + templateOrigin;
  try {
    if (job.value("apiVersion", json()) != "batch/v1") {
      fail("apiVersion", "must have value 'batch/v1'");
    }
    if (job.value("kind", json()) != "Job") fail("kind", "must have value 'Job'");
    json& metadata = objectAt(job, "metadata", "metadata", true);
    json& jobSpec = objectAt(job, "spec", "spec", false);
    json& podTemplate = objectAt(jobSpec, "template", "spec.template", false);
    json& podMeta = objectAt(podTemplate, "metadata", "spec.template.metadata", true);
    json& podSpec = objectAt(podTemplate, "spec", "spec.template.spec", false);
    auto containersIt = podSpec.find("containers");
    if (containersIt == podSpec.end() || containersIt->is_null()) {
      fail("spec.template.spec.containers", "required");
    }
    if (!containersIt->is_array()) {
      fail("spec.template.spec.containers",
           "must be a list of containers, got " + describeValue(*containersIt));
    }
    json& containers = *containersIt;
    if (containers.empty()) fail("spec.template.spec.containers", "must have at least one");
    for (std::size_t i = 0; i < containers.size(); ++i) {
      if (!containers[i].is_object()) {
        fail(indexPath("spec.template.spec.containers", i), "must be an object");
      }
    }
    json& first = containers[0];
    const std::string firstPath = "spec.template.spec.containers[0]";

    // env: the configuration's env first, then the template's own list entries whose names it
    // does not set (a map there came from "{{ env }}" and is the same env).
    EnvList env = configEnv;
    if (auto it = first.find("env"); it != first.end() && !it->is_null()) {
      if (it->is_array()) {
        EnvList templateEnv;
        mergeEnv(templateEnv, *it, firstPath + ".env");
        for (auto& e : templateEnv.entries()) {
          if (!configEnv.has(e.at("name").get<std::string>())) env.entries().push_back(e);
        }
      } else if (!it->is_object()) {
        fail(firstPath + ".env", "must be a list of {name, value}, got " + describeValue(*it));
      }
    }
    for (auto& e : env.entries()) {
      if (e.at("name") != "PREFECT_API_KEY") continue;
      if (auto v = e.find("value"); v != e.end() && v->is_string() && !result.literalApiKey) {
        result.literalApiKey = v->get<std::string>();
      }
    }
    if (options.apiKeySecretRef) {
      if (options.apiKeySecretRef->first.empty() || options.apiKeySecretRef->second.empty()) {
        throw Failure{RenderError{"spec.apiKeySecret", "needs both a Secret name and a key", ""},
                      true};
      }
      json ref = {{"name", "PREFECT_API_KEY"},
                  {"valueFrom",
                   {{"secretKeyRef",
                     {{"name", options.apiKeySecretRef->first},
                      {"key", options.apiKeySecretRef->second}}}}}};
      env.set(ref);  // replaces a literal in place, or appends
      std::vector<json>& entries = env.entries();
      bool seen = false;
      std::erase_if(entries, [&](const json& e) {
        if (e.at("name") != "PREFECT_API_KEY") return false;
        if (!seen) return !(seen = true);
        return true;
      });
    }
    if (env.entries().empty()) {
      first.erase("env");
    } else {
      first["env"] = json(env.entries());
    }

    // image: the FlowRun's, else the template's, else Prefect's default image.
    if (isSet(spec, "image")) {
      first["image"] = spec.at("image");
    } else if (!isSet(first, "image") ||
               (first.at("image").is_string() && first.at("image").get<std::string>().empty())) {
      first["image"] = kDefaultImage;
    }

    // args: the template's (a string is split), else the configuration's command, else the
    // default command.
    // A string that splits to nothing ("{{ command }}" with an empty command) counts as no args;
    // an explicit empty list stays (the template wants the image's own CMD).
    std::optional<std::vector<std::string>> args;
    if (isSet(first, "args")) {
      args = commandWords(first.at("args"), firstPath + ".args",
                          specCommandIsString ? "spec.command" : firstPath + ".args");
      if (args->empty() && first.at("args").is_string()) args.reset();
    }
    if (!args) args = configCommand;
    if (!args) args = std::get<std::vector<std::string>>(splitCommand(kDefaultCommand));
    first["args"] = *args;

    for (std::size_t i = 0; i < containers.size(); ++i) {
      const std::string path = indexPath("spec.template.spec.containers", i);
      for (const char* key : {"name", "image"}) {
        auto it = containers[i].find(key);
        if (it == containers[i].end() || !it->is_string() ||
            it->get_ref<const std::string&>().empty()) {
          fail(path + "." + key, "required");
        }
      }
    }

    // Labels: the template's, the configuration's (FlowRun spec.labels among them), then the
    // operator's, which nobody overrides. The pod gets the same, so it can be watched by label.
    json operatorLabels = json::object();
    if (!flowRunId.empty()) operatorLabels[kLabelFlowRunId] = toLabelValue(flowRunId);
    operatorLabels[kLabelFlowRunName] = toLabelValue(name);
    if (!flowName.empty()) operatorLabels[kLabelFlowName] = toLabelValue(flowName);
    operatorLabels[kLabelFlowRun] = flowRunLabelValue(name);
    operatorLabels[kLabelManagedBy] = kManagedByValue;
    if (!options.clusterUid.empty()) {
      operatorLabels[kLabelClusterUid] = toLabelValue(options.clusterUid);
    }
    for (auto [target, path] :
         {std::pair<json*, std::string>{&metadata, "metadata"},
          std::pair<json*, std::string>{&podMeta, "spec.template.metadata"}}) {
      json labels = json::object();
      if (target->contains("labels")) mergeLabels(labels, target->at("labels"), path + ".labels");
      labels.update(configLabels);
      labels.update(operatorLabels);
      (*target)["labels"] = std::move(labels);
      if (auto a = target->find("annotations"); a != target->end() && !a->is_null()) {
        if (!a->is_object()) {
          fail(path + ".annotations", "must be a map of strings, got " + describeValue(*a));
        }
        dropGitOpsKeys(*a);
      }
    }

    // Identity: deterministic name, the FlowRun's namespace, the FlowRun as controller owner;
    // nothing the API server sets on its own.
    for (const char* key : {"generateName", "resourceVersion", "uid", "creationTimestamp",
                            "managedFields", "selfLink", "generation", "deletionTimestamp",
                            "deletionGracePeriodSeconds", "finalizers"}) {
      metadata.erase(key);
    }
    job.erase("status");
    metadata["name"] = jobNameFor(name);
    metadata["namespace"] = ns;
    metadata["ownerReferences"] = json::array({json{{"apiVersion", kFlowRunApiVersion},
                                                    {"kind", kFlowRunKind},
                                                    {"name", name},
                                                    {"uid", uid},
                                                    {"controller", true},
                                                    {"blockOwnerDeletion", true}}});

    // Operator-owned Job fields.
    if (result.jobWatchTimeoutSeconds) {
      jobSpec["activeDeadlineSeconds"] = *result.jobWatchTimeoutSeconds;
    }
    if (finishedJobTTL) jobSpec["ttlSecondsAfterFinished"] = *finishedJobTTL;
    if (backoffLimit) {
      jobSpec["backoffLimit"] = *backoffLimit;
    } else if (!isSet(jobSpec, "backoffLimit")) {
      jobSpec["backoffLimit"] = 0;  // Kubernetes would retry 6 times; a flow run runs once
    }
    checkIntegerField(jobSpec, "backoffLimit", "spec.backoffLimit", 0);
    checkIntegerField(jobSpec, "ttlSecondsAfterFinished", "spec.ttlSecondsAfterFinished", 0);
    checkIntegerField(jobSpec, "activeDeadlineSeconds", "spec.activeDeadlineSeconds", 1);

    // One pod that is never restarted in place: the Prefect worker's "must have value" checks.
    mustEqualOne(jobSpec, "parallelism", "spec.parallelism", false);
    mustEqualOne(jobSpec, "completions", "spec.completions", false);
    // Prefect's templates put these in the pod spec, where Kubernetes has no such fields.
    mustEqualOne(podSpec, "parallelism", "spec.template.spec.parallelism", true);
    mustEqualOne(podSpec, "completions", "spec.template.spec.completions", true);
    if (!isSet(podSpec, "restartPolicy")) {
      podSpec["restartPolicy"] = "Never";
    } else if (podSpec.at("restartPolicy") != "Never") {
      fail("spec.template.spec.restartPolicy",
           "must have value 'Never', got " + describeValue(podSpec.at("restartPolicy")));
    }
  } catch (Failure& f) {
    if (!f.aboutFlowRun && f.error.origin.empty() && f.error.path.rfind("spec.command", 0) != 0) {
      f.error.origin = jobOrigin;
    }
    throw;
  }
  result.job = std::move(job);
  return result;
}

}  // namespace

// Valid UTF-8 whatever the parts quote (a parser's "last read" bytes, a key of the template):
// the text goes into a status write.
std::string RenderError::describe() const {
  if (path.empty()) return kube::validUtf8(origin.empty() ? message : origin + ": " + message);
  return kube::validUtf8(path + ": " + message + (origin.empty() ? "" : " (in " + origin + ")"));
}

RenderResult renderJob(const json& flowRun, const json& baseJobTemplate,
                       const RenderOptions& options) {
  try {
    return render(flowRun, baseJobTemplate, options);
  } catch (const Failure& f) {
    RenderResult r;
    r.error = f.error;
    // Paths inside the template document say which template they are in.
    if (r.error->origin.empty() && (r.error->path.rfind("job_configuration", 0) == 0 ||
                                    r.error->path.rfind("variables", 0) == 0)) {
      r.error->origin = options.templateOrigin.empty() ? kBuiltInOrigin : options.templateOrigin;
    }
    return r;
  } catch (const std::exception& e) {
    // Not expected: every input problem above is a Failure. Still a value, never a crash.
    RenderResult r;
    r.error = RenderError{"", std::string("could not render the Job: ") + e.what(), ""};
    return r;
  }
}

const json& defaultBaseJobTemplate() {
  static const json parsed = [] {
    json j = json::parse(detail::kDefaultBaseJobTemplateText, nullptr, false);
    // A broken shipped file is caught by the unit tests; at run time it renders as an error.
    return j.is_discarded() ? json::object() : j;
  }();
  return parsed;
}

std::string jobNameFor(const std::string& flowRunName) {
  if (isDnsLabel(flowRunName)) return flowRunName;
  std::string prefix;
  for (char c : flowRunName) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (ok) {
      prefix += c;
    } else if (!prefix.empty() && prefix.back() != '-') {
      prefix += '-';
    }
  }
  const std::size_t room = kMaxNameLength - kHashLength - 1;
  if (prefix.size() > room) prefix.resize(room);
  while (!prefix.empty() && prefix.back() == '-') prefix.pop_back();
  if (prefix.empty()) prefix = "flowrun";
  return prefix + "-" + sha256Hex(flowRunName).substr(0, kHashLength);
}

std::variant<TemplateSource, RenderError> templateSourceOf(const json& flowRun) {
  if (!flowRun.is_object() || !isSet(flowRun, "spec") || !flowRun.at("spec").is_object()) {
    return TemplateSource{};
  }
  const json& spec = flowRun.at("spec");
  if (!isSet(spec, "template")) return TemplateSource{};
  const json& t = spec.at("template");
  if (!t.is_object()) {
    return RenderError{"spec.template", "must be an object, got " + describeValue(t), ""};
  }
  const bool hasRef = isSet(t, "configMapRef");
  const bool hasInline = t.contains("job_configuration") || t.contains("variables");
  if (hasRef && hasInline) {
    return RenderError{"spec.template",
                       "set either configMapRef or an inline template (job_configuration, "
                       "variables), not both",
                       ""};
  }
  if (hasRef) {
    const json& ref = t.at("configMapRef");
    if (!ref.is_object()) {
      return RenderError{"spec.template.configMapRef", "must be an object with name and key", ""};
    }
    if (!ref.contains("name") || !ref.at("name").is_string() ||
        ref.at("name").get<std::string>().empty()) {
      return RenderError{"spec.template.configMapRef.name", "required", ""};
    }
    TemplateSource s;
    s.kind = TemplateSource::Kind::ConfigMap;
    s.configMapName = ref.at("name").get<std::string>();
    s.configMapKey = kDefaultTemplateKey;
    if (isSet(ref, "key")) {
      if (!ref.at("key").is_string() || ref.at("key").get<std::string>().empty()) {
        return RenderError{"spec.template.configMapRef.key", "must be a non-empty string", ""};
      }
      s.configMapKey = ref.at("key").get<std::string>();
    }
    return s;
  }
  if (hasInline) {
    if (!t.contains("job_configuration")) {
      return RenderError{"spec.template.job_configuration", "required", ""};
    }
    TemplateSource s;
    s.kind = TemplateSource::Kind::Inline;
    return s;
  }
  if (!t.empty()) {
    return RenderError{"spec.template",
                       "must hold configMapRef or an inline template (job_configuration, "
                       "variables)",
                       ""};
  }
  return TemplateSource{};
}

std::variant<json, RenderError> parseBaseJobTemplate(const std::string& text,
                                                     const std::string& origin) {
  auto parsed = templating::parseDocument(text, origin);
  if (auto* err = std::get_if<RenderError>(&parsed)) return *err;
  json& doc = std::get<json>(parsed);
  if (auto bad = templating::checkTemplateShape(doc, origin)) return *bad;
  return std::move(doc);
}

std::variant<json, RenderError> baseJobTemplateFromConfigMap(const json& configMap,
                                                             const std::string& key) {
  std::string where = "configmap";
  if (configMap.is_object() && configMap.contains("metadata") &&
      configMap.at("metadata").is_object()) {
    const json& m = configMap.at("metadata");
    const std::string ns = m.value("namespace", json("")).is_string()
                               ? m.value("namespace", std::string())
                               : std::string();
    const std::string name =
        m.value("name", json("")).is_string() ? m.value("name", std::string()) : std::string();
    where += " " + (ns.empty() ? name : ns + "/" + name);
  }
  const std::string origin = where + "[" + key + "]";
  auto field = [&](const char* f) -> const json* {
    if (!configMap.is_object()) return nullptr;
    auto it = configMap.find(f);
    if (it == configMap.end() || !it->is_object()) return nullptr;
    auto v = it->find(key);
    if (v == it->end() || !v->is_string()) return nullptr;
    return &*v;
  };
  if (const json* text = field("data"))
    return parseBaseJobTemplate(text->get<std::string>(), origin);
  if (const json* b64 = field("binaryData")) {
    const auto text = kube::base64Decode(b64->get<std::string>());
    if (!text) return RenderError{"", "binaryData is not valid base64", origin};
    return parseBaseJobTemplate(*text, origin);
  }
  std::string keys;
  if (configMap.is_object()) {
    for (const char* f : {"data", "binaryData"}) {
      if (!configMap.contains(f) || !configMap.at(f).is_object()) continue;
      for (const auto& [k, unused] : configMap.at(f).items()) {
        (void)unused;
        keys += (keys.empty() ? "" : ", ") + k;
      }
    }
  }
  return RenderError{
      "",
      "has no key \"" + key + "\"" +
          (keys.empty() ? std::string(" (it has no data)") : " (it has: " + keys + ")"),
      where};
}

}  // namespace controllers::flowrun
