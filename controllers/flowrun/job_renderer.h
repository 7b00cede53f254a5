#pragma once
// Renders the batch/v1 Job of a FlowRun from a Prefect base job template, with the semantics of
// the Prefect Kubernetes worker (placeholders, env map -> list, default command, label slugging,
// "must have value" checks), plus the fields the operator owns (name, namespace, owner, labels,
// deadlines). Pure logic: no I/O, no exceptions escape, errors come back as values naming a path.
// docs/job-template.md describes the semantics and every decision taken here.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace controllers::flowrun {

// A problem with a FlowRun's spec or its template. The reconciler turns it into phase Failed,
// reason InvalidSpec, message describe().
struct RenderError {
  std::string path;     // e.g. "spec.template.spec.restartPolicy", "spec.variables.memory"
  std::string message;  // e.g. "must have value 'Never'"
  std::string origin;   // optional: which document the path is in, e.g. "spec.template" or
                        // "configmap data/k8s-pool-template[baseJobTemplate.json]"

  // "spec.template.spec.containers: required", plus " (in <origin>)" when origin is set;
  // "<origin>: <message>" when there is no path (a document that does not parse).
  std::string describe() const;
};

struct RenderOptions {
  // The cluster identity; when set, the Job and its pod get the label
  // prefect.io/cluster-uid=<uid> (may be empty: then no label).
  std::string clusterUid;
  // {secretName, key}: the first container gets PREFECT_API_KEY from this Secret via
  // valueFrom.secretKeyRef, replacing any literal PREFECT_API_KEY. The reconciler passes
  // spec.apiKeySecret here, or the Secret it created with --store-api-key-in-secret.
  std::optional<std::pair<std::string, std::string>> apiKeySecretRef;
  // Where the template came from, for error messages: "spec.template", "configmap ns/name[key]";
  // empty means the built-in default.
  std::string templateOrigin;
};

struct RenderResult {
  std::optional<nlohmann::json> job;  // the Job to create, when ok()
  std::optional<RenderError> error;   // why not, otherwise
  // The value of a literal PREFECT_API_KEY the first container's env had after rendering (before
  // apiKeySecretRef replaced it). Lets the reconciler move it into a Secret with
  // --store-api-key-in-secret: render, create the Secret from this value, render again with
  // apiKeySecretRef. A secret: never log it, never put it in status or Events.
  std::optional<std::string> literalApiKey;
  // The effective watch timeouts after rendering (spec field, else spec.variables, else the
  // template's default), for the reconciler's pod-start diagnosis. The job timeout is already
  // in the Job as activeDeadlineSeconds.
  std::int64_t podWatchTimeoutSeconds = 60;
  std::optional<std::int64_t> jobWatchTimeoutSeconds;

  bool ok() const { return job.has_value() && !error.has_value(); }
};

// The image of the first container when neither the FlowRun nor the template gives one, and the
// command (split into args) when neither gives one, as the Prefect worker does.
inline constexpr const char* kDefaultImage = "prefecthq/prefect:3-latest";
inline constexpr const char* kDefaultCommand = "prefect flow-run execute";
// The ConfigMap key the Prefect worker Helm chart uses for a base job template.
inline constexpr const char* kDefaultTemplateKey = "baseJobTemplate.json";

// Renders the Job for `flowRun` (the whole FlowRun object including metadata.name, .namespace and
// .uid) from `baseJobTemplate` ({"job_configuration": {..., "job_manifest": {...}},
// "variables": {JSON schema}}). Never throws.
RenderResult renderJob(const nlohmann::json& flowRun, const nlohmann::json& baseJobTemplate,
                       const RenderOptions& options = {});

// The shipped default (controllers/flowrun/default-base-job-template.json, compiled in): the
// equivalent of `prefect work-pool get-default-base-job-template --type kubernetes`.
const nlohmann::json& defaultBaseJobTemplate();

// The Job name of a FlowRun: the FlowRun name when it is a valid DNS-1123 label (<= 63 chars,
// [a-z0-9-]); otherwise a sanitized prefix plus "-" and a 10-hex-digit hash of the full name, so
// that it is <= 63 chars, deterministic, and distinct names stay distinct.
std::string jobNameFor(const std::string& flowRunName);

// Where a FlowRun's template comes from (spec.template).
struct TemplateSource {
  enum class Kind { Default, Inline, ConfigMap };
  Kind kind = Kind::Default;
  std::string configMapName;  // Kind::ConfigMap
  std::string configMapKey;   // Kind::ConfigMap; "baseJobTemplate.json" when not given
};
// Reads spec.template: absent -> Default; {configMapRef: {name, key?}} -> ConfigMap;
// {job_configuration, variables} -> Inline (pass spec.template to renderJob, templateOrigin
// "spec.template"). Both or neither of configMapRef and job_configuration -> error.
std::variant<TemplateSource, RenderError> templateSourceOf(const nlohmann::json& flowRun);

// Parses a template from a ConfigMap value (JSON text; YAML accepted too), with errors naming
// `origin` (e.g. "configmap data/k8s-pool-template[baseJobTemplate.json]"). Checks the shape
// (job_configuration.job_manifest and variables are objects), not the rendering.
std::variant<nlohmann::json, RenderError> parseBaseJobTemplate(const std::string& text,
                                                               const std::string& origin);
// Looks up `key` in a ConfigMap object's data (or binaryData, base64) and parses it as above;
// a missing key is an error naming the ConfigMap and the keys it has.
std::variant<nlohmann::json, RenderError> baseJobTemplateFromConfigMap(
    const nlohmann::json& configMap, const std::string& key);

}  // namespace controllers::flowrun
