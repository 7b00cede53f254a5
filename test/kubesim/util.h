#pragma once
// Small helpers shared by kubesim's API server files: time stamps, identifiers, and the Status
// errors worded exactly as kube-apiserver words them.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "test/kubesim/object_store.h"

namespace kubesim {

// RFC 3339 in UTC with second precision, as metav1.Time marshals: 2024-01-02T03:04:05Z.
std::string nowRfc3339();
std::string formatRfc3339(std::chrono::system_clock::time_point t);
// MicroTime (events.k8s.io eventTime): 2024-01-02T03:04:05.123456Z.
std::string nowRfc3339Micro();
// Parses RFC 3339 (fractional seconds and offsets tolerated); false when malformed.
bool parseRfc3339(const std::string& s, std::chrono::system_clock::time_point& out);
// "5s", "3m2s", "10h", "5d" like k8s.io/apimachinery/pkg/util/duration.HumanDuration.
std::string humanDuration(std::chrono::seconds d);
// The age of an RFC 3339 time stamp as HumanDuration, "<unknown>" when absent.
std::string ageOf(const json& timestamp);

std::string randomUuid();
// Five characters from the alphabet the API server uses for generateName suffixes.
std::string randomNameSuffix(std::size_t n = 5);

std::string base64Encode(std::string_view in);
std::string base64Decode(std::string_view in);  // throws std::invalid_argument

std::vector<std::string> split(std::string_view s, char sep);
std::string trim(std::string_view s);
std::string urlDecode(std::string_view s);

// "jobs.batch" for the messages; "pods" for the core group.
std::string groupResource(const std::string& plural, const std::string& group);

// Status errors with kube-apiserver's wording.
ApiException notFound(const std::string& plural, const std::string& group, const std::string& name);
ApiException alreadyExists(const std::string& plural, const std::string& group,
                           const std::string& name);
ApiException conflict(const std::string& plural, const std::string& group, const std::string& name,
                      const std::string& why);
ApiException staleConflict(const std::string& plural, const std::string& group,
                           const std::string& name);
ApiException badRequest(const std::string& message);
ApiException methodNotSupported(const std::string& method, const std::string& what);
ApiException expired(const std::string& message);
ApiException forbidden(const std::string& plural, const std::string& group, const std::string& name,
                       const std::string& why);
ApiException resourceNotFound();  // "the server could not find the requested resource"

struct FieldCause {
  std::string reason;  // FieldValueRequired, FieldValueInvalid, ...
  std::string field;   // spec.image
  std::string detail;  // "Required value", "Invalid value: ...": the part after "field: "
};
// 422 "<Kind>.<group> "name" is invalid: [field: detail, ...]" with details.causes.
ApiException invalid(const std::string& kind, const std::string& group, const std::string& name,
                     const std::vector<FieldCause>& causes);

// DNS-1123 validation, returning kube-apiserver's message or "".
// IsRelaxedEnvVarName (1.32 default): "" when valid, else the API server's message.
std::string validateEnvVarName(const std::string& v);
std::string validateDns1123Subdomain(const std::string& v);
std::string validateDns1123Label(const std::string& v);
// Label key/value syntax; "" when fine.
std::string validateLabelKey(const std::string& k);
std::string validateLabelValue(const std::string& v);

// JSON string quoting as Go's %q would print it for simple strings.
std::string quote(const std::string& s);

}  // namespace kubesim
