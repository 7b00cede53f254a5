#include "controllers/flowrun/api_key_secret.h"

#include "controllers/flowrun/labels.h"
#include "operator/kube/base64.h"

namespace controllers::flowrun {

using json = nlohmann::json;

std::string apiKeySecretName(const std::string& jobName) {
  return jobName + "-api-key";
}

json apiKeySecretFor(const json& flowRun, const std::string& secretName,
                     const std::string& apiKey) {
  const json& md = flowRun.at("metadata");
  std::string name = md.value("name", "");
  json owner = {{"apiVersion", flowRun.value("apiVersion", "prefect.io/v1alpha1")},
                {"kind", "FlowRun"},
                {"name", name},
                {"uid", md.value("uid", "")},
                {"controller", true},
                {"blockOwnerDeletion", true}};
  return json{
      {"apiVersion", "v1"},
      {"kind", "Secret"},
      {"type", "Opaque"},
      {"metadata",
       {{"name", secretName},
        {"namespace", md.value("namespace", "")},
        {"labels", {{kLabelManagedBy, kManagedByValue}, {kLabelFlowRun, flowRunLabelValue(name)}}},
        {"ownerReferences", json::array({owner})}}},
      {"data", {{kApiKeySecretKey, kube::base64Encode(apiKey)}}}};
}

bool apiKeySecretHolds(const json& secret, const std::string& apiKey) {
  if (!secret.is_object() || !secret.contains("data") || !secret["data"].is_object()) return false;
  auto it = secret["data"].find(kApiKeySecretKey);
  return it != secret["data"].end() && it->is_string() &&
         it->get<std::string>() == kube::base64Encode(apiKey);
}

}  // namespace controllers::flowrun
