#include "operator/kube/redaction.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <mutex>
#include <set>
#include <string_view>

namespace kube {

std::string redactAuthorization(const std::string& headerValue) {
  auto space = headerValue.find(' ');
  if (space == std::string::npos) return kRedacted;
  return headerValue.substr(0, space) + " " + kRedacted;
}

std::string redactUrl(const std::string& url) {
  static const std::array<std::string_view, 5> kSensitive = {"token", "access_token", "id_token",
                                                             "password", "client_secret"};
  auto q = url.find('?');
  std::size_t start = q == std::string::npos ? 0 : q + 1;
  // A bare query string ("a=b&token=x") has no '?'; a path without '=' has nothing to redact.
  if (q == std::string::npos && url.find('=') == std::string::npos) return url;
  std::string out = url.substr(0, start);
  std::size_t pos = start;
  while (pos <= url.size()) {
    auto amp = url.find('&', pos);
    std::string part = url.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    auto eq = part.find('=');
    std::string key = part.substr(0, eq);
    std::string lower = key;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    bool sensitive = eq != std::string::npos &&
                     std::find(kSensitive.begin(), kSensitive.end(), lower) != kSensitive.end();
    out += sensitive ? key + "=" + kRedacted : part;
    if (amp == std::string::npos) break;
    out += "&";
    pos = amp + 1;
  }
  return out;
}

namespace {
void redactSecretInPlace(json& obj) {
  if (!obj.is_object()) return;
  if (obj.value("kind", "") == "Secret") {
    for (const char* field : {"data", "stringData"}) {
      auto it = obj.find(field);
      if (it != obj.end() && it->is_object()) {
        for (auto& [k, v] : it->items()) {
          (void)k;
          v = kRedacted;
        }
      }
    }
    // kubectl's last-applied annotation carries the same data in clear.
    if (auto md = obj.find("metadata"); md != obj.end() && md->is_object()) {
      if (auto an = md->find("annotations"); an != md->end() && an->is_object()) {
        if (an->contains("kubectl.kubernetes.io/last-applied-configuration")) {
          (*an)["kubectl.kubernetes.io/last-applied-configuration"] = kRedacted;
        }
      }
    }
  }
  if (auto items = obj.find("items"); items != obj.end() && items->is_array()) {
    for (auto& item : *items) redactSecretInPlace(item);
  }
  if (auto inner = obj.find("object"); inner != obj.end()) redactSecretInPlace(*inner);
}

std::mutex& secretsMutex() {
  static std::mutex m;
  return m;
}
std::set<std::string>& secrets() {
  static std::set<std::string> s;
  return s;
}
}  // namespace

json redactObject(const json& object) {
  json copy = object;
  redactSecretInPlace(copy);
  return copy;
}

void registerSecret(const std::string& value) {
  if (value.size() < 8) return;
  std::lock_guard<std::mutex> lock(secretsMutex());
  secrets().insert(value);
}

std::string redactText(std::string text) {
  std::lock_guard<std::mutex> lock(secretsMutex());
  for (const auto& s : secrets()) {
    std::size_t pos = 0;
    while ((pos = text.find(s, pos)) != std::string::npos) {
      text.replace(pos, s.size(), kRedacted);
      pos += std::char_traits<char>::length(kRedacted);
    }
  }
  return text;
}

}  // namespace kube
