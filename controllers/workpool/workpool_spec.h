#pragma once
// A WorkPool's spec, read and checked: a bad field comes back as a SpecError naming it, which
// the worker shows as Ready False, reason InvalidSpec.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace controllers::workpool {

struct SpecError {
  std::string field;    // e.g. "spec.apiUrl"
  std::string message;  // e.g. "must start with http:// or https://"
  std::string describe() const { return field + ": " + message; }
};

enum class TemplatePolicy { FillIfEmpty, Sync };

struct WorkPoolSpec {
  std::string apiUrl;  // resolved: spec.apiUrl, or the Cloud URL built from spec.cloud
  bool cloud = false;
  std::optional<std::string> apiKeySecretName;
  std::string apiKeySecretKey = "key";
  std::string poolName;  // spec.poolName, else metadata.name
  std::vector<std::string> workQueues;
  int limit = 0;
  int prefetchSeconds = 10;
  int queryIntervalSeconds = 10;
  int heartbeatIntervalSeconds = 30;
  std::string workerName;  // spec.workerName; empty: defaultWorkerName()
  // spec.baseJobTemplate: none, inline, or a ConfigMap.
  std::optional<nlohmann::json> inlineTemplate;
  std::optional<std::string> templateConfigMap;
  std::string templateConfigMapKey = "baseJobTemplate.json";
  TemplatePolicy templatePolicy = TemplatePolicy::FillIfEmpty;
};

// Reads the WorkPool object (metadata.name and spec). Never throws.
std::variant<WorkPoolSpec, SpecError> parseWorkPoolSpec(const nlohmann::json& workPool);

// The Prefect Cloud API URL as the prefect-worker Helm chart builds it:
// <cloudUrl>/accounts/<accountId>/workspaces/<workspaceId>.
std::string cloudApiUrl(const std::string& cloudUrl, const std::string& accountId,
                        const std::string& workspaceId);

// The worker's name when spec.workerName is unset: flowrun-operator-<cluster uid>-<ns>-<name>,
// distinct per cluster and object so two clusters on one pool show as two workers.
std::string defaultWorkerName(const std::string& clusterUid, const std::string& ns,
                              const std::string& name);

}  // namespace controllers::workpool
