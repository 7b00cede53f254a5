#include "controllers/flowrun/api_key_secret.h"

#include "controllers/flowrun/labels.h"

namespace controllers::flowrun {

using json = nlohmann::json;

std::string apiKeySecretName(const std::string& jobName) {
  return jobName + "-api-key";
}

std::string base64Encode(const std::string& bytes) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  while (i + 2 < bytes.size()) {
    unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                 (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
    i += 3;
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    unsigned v = static_cast<unsigned char>(bytes[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += "==";
  } else if (rest == 2) {
    unsigned v = (static_cast<unsigned char>(bytes[i]) << 16) |
                 (static_cast<unsigned char>(bytes[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
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
      {"data", {{kApiKeySecretKey, base64Encode(apiKey)}}}};
}

bool apiKeySecretHolds(const json& secret, const std::string& apiKey) {
  if (!secret.is_object() || !secret.contains("data") || !secret["data"].is_object()) return false;
  auto it = secret["data"].find(kApiKeySecretKey);
  return it != secret["data"].end() && it->is_string() &&
         it->get<std::string>() == base64Encode(apiKey);
}

}  // namespace controllers::flowrun
