#include "test/kubesim/decode.h"

#include <cstdint>
#include <regex>
#include <string_view>
#include <vector>

#include "test/kubesim/util.h"

namespace kubesim {

using json = nlohmann::json;

namespace {

__extension__ typedef unsigned __int128 U128;  // exact arithmetic on quantities

constexpr const char* kQuantityPattern = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$";

// A parsed quantity: sign * mantissa * 10^exp10 * 1024^exp1024.
struct Parsed {
  bool negative = false;
  U128 mantissa = 0;
  int exp10 = 0;
  int exp1024 = 0;
  enum class Format { DecimalSI, BinarySI, DecimalExponent } format = Format::DecimalSI;
};

std::optional<Parsed> parse(const std::string& text, std::string* error) {
  static const std::regex re(kQuantityPattern);
  std::smatch m;
  if (!std::regex_match(text, m, re)) {
    if (error) {
      *error =
          std::string("quantities must match the regular expression '") + kQuantityPattern + "'";
    }
    return std::nullopt;
  }
  Parsed p;
  std::string num = m[1].str();
  const std::string suffix = m[2].str();
  if (!num.empty() && (num[0] == '+' || num[0] == '-')) {
    p.negative = num[0] == '-';
    num.erase(0, 1);
  }
  const auto dot = num.find('.');
  if (num.empty() || num == "." ||
      (dot != std::string::npos && num.find('.', dot + 1) != std::string::npos)) {
    if (error) *error = "unable to parse numeric part of quantity";
    return std::nullopt;
  }
  std::string digits = num;
  if (dot != std::string::npos) {
    digits.erase(dot, 1);
    p.exp10 = -static_cast<int>(num.size() - dot - 1);
  }
  // Leading zeros do not count; more than 30 significant digits is beyond what we model exactly.
  digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size()));
  if (digits.size() > 30) {
    p.exp10 += static_cast<int>(digits.size() - 30);
    digits.resize(30);
  }
  for (char c : digits) p.mantissa = p.mantissa * 10 + static_cast<unsigned>(c - '0');

  static const std::vector<std::pair<std::string_view, int>> binary = {
      {"Ki", 1}, {"Mi", 2}, {"Gi", 3}, {"Ti", 4}, {"Pi", 5}, {"Ei", 6}};
  static const std::vector<std::pair<std::string_view, int>> decimal = {
      {"n", -9}, {"u", -6}, {"m", -3}, {"", 0},   {"k", 3},
      {"M", 6},  {"G", 9},  {"T", 12}, {"P", 15}, {"E", 18}};
  for (const auto& [s, e] : binary) {
    if (suffix == s) {
      p.exp1024 = e;
      p.format = Parsed::Format::BinarySI;
      return p;
    }
  }
  for (const auto& [s, e] : decimal) {
    if (suffix == s) {
      p.exp10 += e;
      return p;
    }
  }
  if (suffix.size() > 1 && (suffix[0] == 'e' || suffix[0] == 'E')) {
    const std::string rest = suffix.substr(1);
    const std::size_t start = rest[0] == '+' || rest[0] == '-' ? 1 : 0;
    if (start < rest.size() && rest.find_first_not_of("0123456789", start) == std::string::npos) {
      p.exp10 += std::stoi(rest);
      p.format = Parsed::Format::DecimalExponent;
      return p;
    }
  }
  if (error) *error = "unable to parse quantity's suffix";
  return std::nullopt;
}

std::string toString(U128 v) {
  if (v == 0) return "0";
  std::string s;
  while (v > 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  }
  return s;
}

std::optional<std::string> decimalSI(bool negative, U128 mantissa, int exp10) {
  if (mantissa == 0) return "0";
  while (mantissa % 10 == 0) {
    mantissa /= 10;
    ++exp10;
  }
  if (exp10 < -9) {
    // Below a nano the API server rounds up to 1n steps.
    U128 div = 1;
    for (int i = exp10; i < -9; ++i) div *= 10;
    mantissa = (mantissa + div - 1) / div;
    exp10 = -9;
  }
  int x = exp10 >= 0 ? exp10 / 3 * 3 : -((-exp10 + 2) / 3 * 3);
  if (x > 18) x = 18;
  for (int i = x; i < exp10; ++i) {
    if (mantissa > (static_cast<U128>(1) << 100)) return std::nullopt;
    mantissa *= 10;
  }
  static const char* suffixes[] = {"n", "u", "m", "", "k", "M", "G", "T", "P", "E"};
  return (negative ? "-" : "") + toString(mantissa) + suffixes[(x + 9) / 3];
}

}  // namespace

std::optional<std::string> quantityError(const std::string& text) {
  std::string error;
  if (!parse(text, &error)) return error;
  return std::nullopt;
}

std::optional<long double> quantityValue(const std::string& text) {
  auto p = parse(text, nullptr);
  if (!p) return std::nullopt;
  long double v = static_cast<long double>(p->mantissa);
  for (int i = 0; i < p->exp1024; ++i) v *= 1024;
  for (int i = 0; i < p->exp10; ++i) v *= 10;
  for (int i = 0; i > p->exp10; --i) v /= 10;
  return p->negative ? -v : v;
}

std::string canonicalQuantity(const std::string& text) {
  auto p = parse(text, nullptr);
  if (!p || p->format == Parsed::Format::DecimalExponent) return text;
  if (p->format == Parsed::Format::DecimalSI)
    return decimalSI(p->negative, p->mantissa, p->exp10).value_or(text);
  // BinarySI: exact integer byte counts of 1024 or more keep a binary suffix, the largest one
  // that divides exactly; anything else is shown as DecimalSI.
  U128 bytes = p->mantissa;
  int e10 = p->exp10;
  for (int i = 0; i < p->exp1024; ++i) bytes *= 1024;
  while (e10 > 0) {
    bytes *= 10;
    --e10;
  }
  while (e10 < 0 && bytes % 10 == 0) {
    bytes /= 10;
    ++e10;
  }
  if (e10 < 0 || bytes < 1024) return decimalSI(p->negative, bytes, e10).value_or(text);
  static const char* suffixes[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
  int j = 0;
  while (j < 6 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++j;
  }
  return (p->negative ? "-" : "") + toString(bytes) + suffixes[j];
}

namespace {

// Walks the typed fields; `path` is the JSON path without list indices, as Go's decoder names it.
class Decoder {
 public:
  Decoder(std::string kind, std::string version)
      : kind_(std::move(kind)), version_(std::move(version)) {}

  void podSpec(const json& spec, const std::string& path) {
    if (!object(spec, "PodTemplateSpec", path, "v1.PodSpec")) return;
    str(spec, "PodSpec", path, "serviceAccountName");
    str(spec, "PodSpec", path, "restartPolicy");
    integer(spec, "PodSpec", path, "terminationGracePeriodSeconds", "int64");
    integer(spec, "PodSpec", path, "activeDeadlineSeconds", "int64");
    for (const char* list : {"containers", "initContainers"}) {
      if (!array(spec, "PodSpec", path, list, "[]v1.Container")) continue;
      for (const auto& c : spec[list]) container(c, path + "." + list);
    }
  }

  void jobSpec(const json& spec, const std::string& path) {
    if (!object(spec, "Job", path, "v1.JobSpec")) return;
    for (const char* f :
         {"parallelism", "completions", "backoffLimit", "ttlSecondsAfterFinished"}) {
      integer(spec, "JobSpec", path, f, "int32");
    }
    integer(spec, "JobSpec", path, "activeDeadlineSeconds", "int64");
    if (spec.contains("template")) {
      if (!object(spec["template"], "JobSpec", path + ".template", "v1.PodTemplateSpec")) return;
      if (spec["template"].contains("spec")) {
        podSpec(spec["template"]["spec"], path + ".template.spec");
      }
    }
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw badRequest(kind_ + " in version " + quote(version_) + " cannot be handled as a " + kind_ +
                     ": " + what);
  }
  static std::string jsonType(const json& v) {
    if (v.is_string()) return "string";
    if (v.is_boolean()) return "bool";
    if (v.is_array()) return "array";
    if (v.is_object()) return "object";
    return "number";
  }
  [[noreturn]] void typeError(const json& v, const std::string& goStruct, const std::string& field,
                              const std::string& goType) const {
    fail("json: cannot unmarshal " + jsonType(v) + " into Go struct field " + goStruct + "." +
         field + " of type " + goType);
  }
  // An absent or null field is fine everywhere (null decodes as the zero value).
  bool object(const json& v, const std::string& goStruct, const std::string& field,
              const std::string& goType) const {
    if (v.is_null()) return false;
    if (!v.is_object()) typeError(v, goStruct, field, goType);
    return true;
  }
  bool array(const json& o, const std::string& goStruct, const std::string& path, const char* f,
             const std::string& goType) const {
    if (!o.contains(f) || o[f].is_null()) return false;
    if (!o[f].is_array()) typeError(o[f], goStruct, path + "." + f, goType);
    return true;
  }
  void str(const json& o, const std::string& goStruct, const std::string& path,
           const char* f) const {
    if (o.contains(f) && !o[f].is_null() && !o[f].is_string()) {
      typeError(o[f], goStruct, path + "." + f, "string");
    }
  }
  void integer(const json& o, const std::string& goStruct, const std::string& path, const char* f,
               const std::string& goType) const {
    if (!o.contains(f) || o[f].is_null()) return;
    const json& v = o[f];
    if (v.is_number_integer()) return;
    if (v.is_number_float()) {
      fail("json: cannot unmarshal number " + v.dump() + " into Go struct field " + goStruct + "." +
           path + "." + f + " of type " + goType);
    }
    typeError(v, goStruct, path + "." + f, goType);
  }
  void stringList(const json& o, const std::string& goStruct, const std::string& path,
                  const char* f) const {
    if (!array(o, goStruct, path, f, "[]string")) return;
    for (const auto& s : o[f]) {
      if (!s.is_string() && !s.is_null()) typeError(s, goStruct, path + "." + f, "string");
    }
  }
  void container(const json& c, const std::string& path) const {
    if (c.is_null()) return;
    if (!c.is_object()) typeError(c, "PodSpec", path, "v1.Container");
    for (const char* f : {"name", "image", "imagePullPolicy", "workingDir"})
      str(c, "Container", path, f);
    stringList(c, "Container", path, "command");
    stringList(c, "Container", path, "args");
    if (array(c, "Container", path, "ports", "[]v1.ContainerPort")) {
      const std::string p = path + ".ports";
      for (const auto& port : c["ports"]) {
        if (port.is_null()) continue;
        if (!port.is_object()) typeError(port, "Container", p, "v1.ContainerPort");
        integer(port, "ContainerPort", p, "containerPort", "int32");
        integer(port, "ContainerPort", p, "hostPort", "int32");
        str(port, "ContainerPort", p, "name");
        str(port, "ContainerPort", p, "protocol");
      }
    }
    if (array(c, "Container", path, "env", "[]v1.EnvVar")) {
      const std::string p = path + ".env";
      for (const auto& e : c["env"]) {
        if (e.is_null()) continue;
        if (!e.is_object()) typeError(e, "Container", p, "v1.EnvVar");
        str(e, "EnvVar", p, "name");
        str(e, "EnvVar", p, "value");
      }
    }
    if (c.contains("resources") && !c["resources"].is_null()) {
      const json& r = c["resources"];
      const std::string p = path + ".resources";
      if (!r.is_object()) typeError(r, "Container", p, "v1.ResourceRequirements");
      for (const char* f : {"limits", "requests"}) {
        if (!r.contains(f) || r[f].is_null()) continue;
        if (!r[f].is_object())
          typeError(r[f], "ResourceRequirements", p + "." + f, "v1.ResourceList");
        for (const auto& q : r[f]) quantity(q);
      }
    }
  }
  void quantity(const json& q) const {
    if (q.is_number()) return;
    if (!q.is_string()) {
      fail(std::string("quantities must match the regular expression '") + kQuantityPattern + "'");
    }
    if (auto e = quantityError(q.get<std::string>())) fail(*e);
  }

  std::string kind_, version_;
};

}  // namespace

void decodeBuiltin(const std::string& qualifiedResource, const std::string& kind,
                   const std::string& version, const json& obj) {
  Decoder d(kind, version);
  if (!obj.contains("spec") || obj["spec"].is_null()) return;
  if (qualifiedResource == "pods") {
    if (!obj["spec"].is_object()) {
      throw badRequest(kind + " in version " + quote(version) + " cannot be handled as a " + kind +
                       ": json: cannot unmarshal " +
                       (obj["spec"].is_string() ? "string" : "value") +
                       " into Go struct field Pod.spec of type v1.PodSpec");
    }
    d.podSpec(obj["spec"], "spec");
  } else if (qualifiedResource == "jobs.batch") {
    d.jobSpec(obj["spec"], "spec");
  }
}

}  // namespace kubesim
