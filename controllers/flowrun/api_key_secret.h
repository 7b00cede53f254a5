#pragma once
// --store-api-key-in-secret: a literal PREFECT_API_KEY in a FlowRun's env is moved into a Secret
// that the FlowRun owns (controller ownerReference, so garbage collection removes it with the
// FlowRun) and the Job reads it through secretKeyRef. The key never reaches the Job spec.
#include <nlohmann/json.hpp>

#include <string>

namespace controllers::flowrun {

inline constexpr const char* kApiKeySecretKey = "key";

// "<job name>-api-key".
std::string apiKeySecretName(const std::string& jobName);

// The Secret to create: type Opaque, data.key = base64(apiKey), labelled like the Job
// (managed-by, prefect.io/flowrun), owned by `flowRun` (controller, blockOwnerDeletion).
nlohmann::json apiKeySecretFor(const nlohmann::json& flowRun, const std::string& secretName,
                               const std::string& apiKey);

// True when `secret` holds `apiKey` under kApiKeySecretKey (data, base64).
bool apiKeySecretHolds(const nlohmann::json& secret, const std::string& apiKey);

}  // namespace controllers::flowrun
