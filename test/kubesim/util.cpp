#include "test/kubesim/util.h"

#include <openssl/rand.h>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <regex>
#include <stdexcept>

namespace kubesim {

std::string formatRfc3339(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string nowRfc3339() {
  return formatRfc3339(std::chrono::system_clock::now());
}

std::string nowRfc3339Micro() {
  auto now = std::chrono::system_clock::now();
  std::time_t tt = std::chrono::system_clock::to_time_t(now);
  auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count() %
      1000000;
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[48];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06ldZ", buf, static_cast<long>(micros));
  return out;
}

bool parseRfc3339(const std::string& s, std::chrono::system_clock::time_point& out) {
  std::tm tm{};
  int y, mo, d, h, mi, sec;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6) {
    return false;
  }
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  std::time_t tt = timegm(&tm);
  // Offsets: "+hh:mm" / "-hh:mm" after the seconds (and optional fraction).
  auto pos = s.find_first_of("+-", 19);
  if (pos != std::string::npos && pos + 5 < s.size() + 1) {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + pos + 1, "%2d:%2d", &oh, &om) == 2) {
      long off = oh * 3600L + om * 60L;
      tt -= (s[pos] == '+') ? off : -off;
    }
  }
  out = std::chrono::system_clock::from_time_t(tt);
  return true;
}

std::string humanDuration(std::chrono::seconds d) {
  long long seconds = d.count();
  char buf[64];
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) {
    std::snprintf(buf, sizeof buf, "%llds", seconds);
    return buf;
  }
  long long minutes = seconds / 60;
  if (minutes < 10) {
    long long s = seconds % 60;
    if (s == 0)
      std::snprintf(buf, sizeof buf, "%lldm", minutes);
    else
      std::snprintf(buf, sizeof buf, "%lldm%llds", minutes, s);
    return buf;
  }
  if (minutes < 60 * 3) {
    std::snprintf(buf, sizeof buf, "%lldm", minutes);
    return buf;
  }
  long long hours = seconds / 3600;
  if (hours < 8) {
    long long m = minutes % 60;
    if (m == 0)
      std::snprintf(buf, sizeof buf, "%lldh", hours);
    else
      std::snprintf(buf, sizeof buf, "%lldh%lldm", hours, m);
    return buf;
  }
  if (hours < 48) {
    std::snprintf(buf, sizeof buf, "%lldh", hours);
    return buf;
  }
  if (hours < 24 * 8) {
    long long h = hours % 24;
    if (h == 0)
      std::snprintf(buf, sizeof buf, "%lldd", hours / 24);
    else
      std::snprintf(buf, sizeof buf, "%lldd%lldh", hours / 24, h);
    return buf;
  }
  if (hours < 24 * 365 * 2) {
    std::snprintf(buf, sizeof buf, "%lldd", hours / 24);
    return buf;
  }
  if (hours < 24 * 365 * 8) {
    long long dy = (hours / 24) % 365;
    if (dy == 0)
      std::snprintf(buf, sizeof buf, "%lldy", hours / 24 / 365);
    else
      std::snprintf(buf, sizeof buf, "%lldy%lldd", hours / 24 / 365, dy);
    return buf;
  }
  std::snprintf(buf, sizeof buf, "%lldy", hours / 24 / 365);
  return buf;
}

std::string ageOf(const json& timestamp) {
  if (!timestamp.is_string()) return "<unknown>";
  std::chrono::system_clock::time_point t;
  if (!parseRfc3339(timestamp.get<std::string>(), t)) return "<unknown>";
  return humanDuration(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - t));
}

std::string randomUuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  char out[37];
  std::snprintf(out, sizeof out,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
                b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
                b[15]);
  return out;
}

std::string randomNameSuffix(std::size_t n) {
  // k8s.io/apimachinery/pkg/util/rand: no vowels, no confusable characters.
  static const char alphanums[] = "bcdfghjklmnpqrstvwxz2456789";
  std::string s;
  std::vector<unsigned char> b(n);
  if (RAND_bytes(b.data(), static_cast<int>(n)) != 1) throw std::runtime_error("RAND_bytes failed");
  for (auto c : b) s += alphanums[c % (sizeof alphanums - 1)];
  return s;
}

std::string base64Encode(std::string_view in) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  while (i + 2 < in.size()) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += tbl[(v >> 18) & 63];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string base64Decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    int v = val(c);
    if (v < 0) throw std::invalid_argument("illegal base64 data");
    buf = (buf << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      out.emplace_back(s.substr(start));
      return out;
    }
    out.emplace_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

std::string trim(std::string_view s) {
  std::size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return std::string(s.substr(a, b - a));
}

std::string urlDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      unsigned v = 0;
      if (std::sscanf(std::string(s.substr(i + 1, 2)).c_str(), "%2x", &v) == 1) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += (s[i] == '+') ? ' ' : s[i];
  }
  return out;
}

std::string groupResource(const std::string& plural, const std::string& group) {
  return group.empty() ? plural : plural + "." + group;
}

std::string quote(const std::string& s) {
  return json(s).dump();
}

namespace {
json nameDetails(const std::string& plural, const std::string& group, const std::string& name) {
  json d = {{"name", name}, {"kind", plural}};
  if (!group.empty()) d["group"] = group;
  return d;
}
}  // namespace

ApiException notFound(const std::string& plural, const std::string& group,
                      const std::string& name) {
  return ApiException(404, "NotFound",
                      groupResource(plural, group) + " " + quote(name) + " not found",
                      nameDetails(plural, group, name));
}

ApiException alreadyExists(const std::string& plural, const std::string& group,
                           const std::string& name) {
  return ApiException(409, "AlreadyExists",
                      groupResource(plural, group) + " " + quote(name) + " already exists",
                      nameDetails(plural, group, name));
}

ApiException conflict(const std::string& plural, const std::string& group, const std::string& name,
                      const std::string& why) {
  return ApiException(409, "Conflict",
                      "Operation cannot be fulfilled on " + groupResource(plural, group) + " " +
                          quote(name) + ": " + why,
                      nameDetails(plural, group, name));
}

ApiException staleConflict(const std::string& plural, const std::string& group,
                           const std::string& name) {
  return conflict(plural, group, name,
                  "the object has been modified; please apply your changes to the latest version "
                  "and try again");
}

ApiException badRequest(const std::string& message) {
  return ApiException(400, "BadRequest", message);
}

ApiException methodNotSupported(const std::string& method, const std::string& what) {
  return ApiException(
      405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
      json{{"kind", what},
           {"causes",
            json::array({{{"reason", "UnexpectedServerResponse"}, {"message", method}}})}});
}

ApiException expired(const std::string& message) {
  return ApiException(410, "Expired", message);
}

ApiException forbidden(const std::string& plural, const std::string& group, const std::string& name,
                       const std::string& why) {
  return ApiException(403, "Forbidden",
                      groupResource(plural, group) + " " + quote(name) + " is forbidden: " + why,
                      nameDetails(plural, group, name));
}

ApiException resourceNotFound() {
  return ApiException(404, "NotFound", "the server could not find the requested resource",
                      json::object());
}

ApiException invalid(const std::string& kind, const std::string& group, const std::string& name,
                     const std::vector<FieldCause>& causes) {
  std::string qualified = group.empty() ? kind : kind + "." + group;
  std::string msg = qualified + " " + quote(name) + " is invalid: ";
  json jcauses = json::array();
  std::vector<std::string> parts;
  for (const auto& c : causes) {
    parts.push_back(c.field.empty() ? c.detail : c.field + ": " + c.detail);
    jcauses.push_back({{"reason", c.reason}, {"message", c.detail}, {"field", c.field}});
  }
  if (parts.size() == 1) {
    msg += parts[0];
  } else {
    msg += "[";
    for (std::size_t i = 0; i < parts.size(); ++i) msg += (i ? ", " : "") + parts[i];
    msg += "]";
  }
  json d = {{"name", name}, {"kind", kind}, {"causes", jcauses}};
  if (!group.empty()) d["group"] = group;
  return ApiException(422, "Invalid", msg, d);
}

std::string validateEnvVarName(const std::string& v) {
  // IsRelaxedEnvVarName (RelaxedEnvironmentVariableValidation, on by default since 1.32).
  std::string err;
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e || c == '=') {
      err =
          "a valid environment variable name must consist only of printable ASCII characters "
          "other than '='";
      break;
    }
  }
  std::string chdir;
  if (v == ".") {
    chdir = "must not be '.'";
  } else if (v == "..") {
    chdir = "must not be '..'";
  } else if (v.rfind("..", 0) == 0) {
    chdir = "must not start with '..'";
  }
  if (!chdir.empty()) err += (err.empty() ? "" : "; ") + chdir;
  return err;
}

std::string validateDns1123Subdomain(const std::string& v) {
  static const std::regex re(R"([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)");
  if (v.size() > 253) return "must be no more than 253 characters";
  if (!std::regex_match(v, re)) {
    return "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
           "'-' or '.', and must start and end with an alphanumeric character (e.g. "
           "'example.com', regex used for validation is "
           "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
  }
  return "";
}

std::string validateDns1123Label(const std::string& v) {
  static const std::regex re(R"([a-z0-9]([-a-z0-9]*[a-z0-9])?)");
  if (v.size() > 63) return "must be no more than 63 characters";
  if (!std::regex_match(v, re)) {
    return "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
           "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
           "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
  }
  return "";
}

std::string validateLabelKey(const std::string& k) {
  static const std::regex nameRe(R"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])");
  std::string name = k;
  auto slash = k.find('/');
  if (slash != std::string::npos) {
    auto prefix = k.substr(0, slash);
    name = k.substr(slash + 1);
    if (prefix.empty()) return "prefix part must be non-empty";
    auto e = validateDns1123Subdomain(prefix);
    if (!e.empty()) return "prefix part " + e;
  }
  if (name.empty()) return "name part must be non-empty";
  if (name.size() > 63) return "name part must be no more than 63 characters";
  if (!std::regex_match(name, nameRe)) {
    return "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
           "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or "
           "'123-abc', regex used for validation is "
           "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
  }
  return "";
}

std::string validateLabelValue(const std::string& v) {
  static const std::regex re(R"((([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?)");
  if (v.size() > 63) return "must be no more than 63 characters";
  if (!std::regex_match(v, re)) {
    return "a valid label must be an empty string or consist of alphanumeric characters, '-', "
           "'_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  "
           "or 'my_value',  or '12345', regex used for validation is "
           "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";
  }
  return "";
}

}  // namespace kubesim
