#include "controllers/flowrun/labels.h"

#include <string_view>
#include <vector>

#include "controllers/flowrun/job_renderer.h"

namespace controllers::flowrun {

namespace {

constexpr std::size_t kMaxLabelName = 63;
constexpr std::size_t kMaxLabelPrefix = 253;
constexpr std::size_t kMaxDnsLabel = 63;  // each dot-separated part of the prefix

bool isAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool isLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool isLabelChar(char c) {
  return isAlnum(c) || c == '-' || c == '_' || c == '.';
}

// Trims characters that may not start or end a label name/value (anything not alphanumeric).
std::string trimToAlnum(std::string s) {
  std::size_t b = 0;
  while (b < s.size() && !isAlnum(s[b])) ++b;
  std::size_t e = s.size();
  while (e > b && !isAlnum(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Replaces every run of characters outside the label charset by one '-'.
std::string replaceInvalid(std::string_view text, bool (*valid)(char)) {
  std::string out;
  out.reserve(text.size());
  bool inRun = false;
  for (char c : text) {
    if (valid(c)) {
      out += c;
      inRun = false;
    } else if (!inRun) {
      out += '-';
      inRun = true;
    }
  }
  return out;
}

std::string slugName(std::string_view text) {
  std::string s = trimToAlnum(replaceInvalid(text, isLabelChar));
  if (s.size() > kMaxLabelName) s = trimToAlnum(s.substr(0, kMaxLabelName));
  return s;
}

bool isPrefixChar(char c) {
  return isLowerAlnum(c) || c == '-' || c == '.';
}

// A DNS subdomain: lowercase, dot-separated parts that start and end alphanumeric.
std::string slugPrefix(std::string_view text) {
  std::string lower(text);
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  const std::string replaced = replaceInvalid(lower, isPrefixChar);
  std::string out;
  std::size_t start = 0;
  while (start <= replaced.size()) {
    std::size_t dot = replaced.find('.', start);
    if (dot == std::string::npos) dot = replaced.size();
    std::string part = trimToAlnum(replaced.substr(start, dot - start));
    if (part.size() > kMaxDnsLabel) part = trimToAlnum(part.substr(0, kMaxDnsLabel));
    if (!part.empty()) {
      if (!out.empty()) out += '.';
      out += part;
    }
    start = dot + 1;
  }
  if (out.size() > kMaxLabelPrefix) {
    out = out.substr(0, kMaxLabelPrefix);
    while (!out.empty() && !isLowerAlnum(out.back())) out.pop_back();
  }
  return out;
}

bool isValidName(std::string_view s, std::size_t max) {
  if (s.size() > max) return false;
  if (s.empty()) return true;
  if (!isAlnum(s.front()) || !isAlnum(s.back())) return false;
  for (char c : s) {
    if (!isLabelChar(c)) return false;
  }
  return true;
}

bool isValidDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > kMaxLabelPrefix) return false;
  std::size_t start = 0;
  while (start <= s.size()) {
    std::size_t dot = s.find('.', start);
    if (dot == std::string_view::npos) dot = s.size();
    const std::string_view part = s.substr(start, dot - start);
    if (part.empty() || part.size() > kMaxDnsLabel) return false;
    if (!isLowerAlnum(part.front()) || !isLowerAlnum(part.back())) return false;
    for (char c : part) {
      if (!isLowerAlnum(c) && c != '-') return false;
    }
    start = dot + 1;
  }
  return true;
}

}  // namespace

std::string toLabelValue(const std::string& text) {
  return slugName(text);
}

std::string toLabelKey(const std::string& text) {
  const std::size_t slash = text.find('/');
  if (slash == std::string::npos) return slugName(text);
  const std::string name = slugName(std::string_view(text).substr(slash + 1));
  if (name.empty()) return "";
  const std::string prefix = slugPrefix(std::string_view(text).substr(0, slash));
  return prefix.empty() ? name : prefix + "/" + name;
}

bool isValidLabelValue(const std::string& value) {
  return isValidName(value, kMaxLabelName);
}

bool isValidLabelKey(const std::string& key) {
  const std::size_t slash = key.find('/');
  std::string_view name = key;
  if (slash != std::string::npos) {
    if (!isValidDnsSubdomain(std::string_view(key).substr(0, slash))) return false;
    name = std::string_view(key).substr(slash + 1);
  }
  return !name.empty() && isValidName(name, kMaxLabelName);
}

bool isGitOpsTrackingKey(const std::string& key) {
  // ArgoCD's label-based tracking uses app.kubernetes.io/instance (its default
  // application.instanceLabelKey) and annotation tracking argocd.argoproj.io/tracking-id; Flux
  // prunes what carries its kustomize/helm toolkit labels. A Job with any of them would be
  // claimed, shown out of sync, or pruned by the GitOps tool that applied the FlowRun.
  static const std::vector<std::string_view> kPrefixes = {
      "argocd.argoproj.io/", "kustomize.toolkit.fluxcd.io/", "helm.toolkit.fluxcd.io/"};
  if (key == "app.kubernetes.io/instance") return true;
  for (std::string_view p : kPrefixes) {
    if (key.size() >= p.size() && std::string_view(key).substr(0, p.size()) == p) return true;
  }
  return false;
}

std::string flowRunLabelValue(const std::string& flowRunName) {
  if (isValidLabelValue(flowRunName) && !flowRunName.empty()) return flowRunName;
  return jobNameFor(flowRunName);
}

}  // namespace controllers::flowrun
