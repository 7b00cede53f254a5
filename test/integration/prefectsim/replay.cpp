#include "test/integration/prefectsim/replay.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>

namespace prefectsim_test {
namespace {

// Only the "+00:00"/"Z" timestamps the recordings contain.
long long parseUtc(const std::string& s) {
  std::tm tm{};
  int us = 0;
  std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
              &tm.tm_min, &tm.tm_sec, &us);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<long long>(timegm(&tm)) * 1000000 + us;
}

std::string formatUtc(long long t) {
  std::time_t secs = static_cast<std::time_t>(t / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lld+00:00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, t % 1000000);
  return buf;
}

// Values that differ from run to run by nature: compared for type only.
bool volatileKey(const std::string& key) {
  return key == "total_run_time" || key == "estimated_run_time" ||
         key == "estimated_start_time_delta";
}

}  // namespace

std::string recordingsDir() {
  return PREFECTSIM_RECORDINGS_DIR;
}

json loadJson(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  return json::parse(in);
}

std::vector<std::string> numberedRecordings() {
  std::vector<std::string> out;
  static const std::regex re(R"(\d\d-.*\.json)");
  for (auto& e : std::filesystem::directory_iterator(recordingsDir()))
    if (std::regex_match(e.path().filename().string(), re)) out.push_back(e.path().string());
  std::sort(out.begin(), out.end());
  return out;
}

bool isUuid(const std::string& s) {
  static const std::regex re(R"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})");
  return std::regex_match(s, re);
}

bool isTimestamp(const std::string& s) {
  static const std::regex re(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00)");
  return std::regex_match(s, re);
}

std::string Replayer::mapString(const std::string& s) const {
  static const std::regex uuid(R"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})");
  std::string out;
  auto begin = std::sregex_iterator(s.begin(), s.end(), uuid);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    out += s.substr(last, static_cast<size_t>(it->position()) - last);
    auto found = ids_.find(it->str());
    out += found == ids_.end() ? it->str() : found->second;
    last = static_cast<size_t>(it->position() + it->length());
  }
  out += s.substr(last);
  if (shiftKnown_ && isTimestamp(out)) return formatUtc(parseUtc(out) + shiftMicros_);
  return out;
}

json Replayer::mapIds(const json& j) const {
  if (j.is_string()) return mapString(j.get<std::string>());
  if (j.is_array()) {
    json out = json::array();
    for (auto& e : j) out.push_back(mapIds(e));
    return out;
  }
  if (j.is_object()) {
    json out = json::object();
    for (auto& [k, v] : j.items()) out[k] = mapIds(v);
    return out;
  }
  return j;
}

void Replayer::learn(const json& expected, const json& actual) {
  if (expected.is_string() && actual.is_string()) {
    const std::string e = expected, a = actual;
    if (isUuid(e) && isUuid(a) && !ids_.count(e)) ids_[e] = a;
    if (!shiftKnown_ && isTimestamp(e) && isTimestamp(a)) {
      shiftMicros_ = parseUtc(a) - parseUtc(e);
      shiftKnown_ = true;
    }
  } else if (expected.is_array() && actual.is_array()) {
    for (size_t i = 0; i < std::min(expected.size(), actual.size()); ++i)
      learn(expected[i], actual[i]);
  } else if (expected.is_object() && actual.is_object()) {
    for (auto& [k, v] : expected.items())
      if (actual.contains(k)) learn(v, actual[k]);
  }
}

void Replayer::compare(const json& e, const json& a, const std::string& where,
                       std::vector<std::string>& out) {
  auto fail = [&](const std::string& why) { out.push_back(where + ": " + why); };
  if (e.is_null() != a.is_null()) {
    fail("expected " + e.dump() + ", got " + a.dump());
    return;
  }
  if (e.is_object()) {
    if (!a.is_object()) return fail("expected an object, got " + a.dump());
    for (auto& [k, v] : e.items()) {
      if (!a.contains(k)) {
        fail("missing key " + k);
        continue;
      }
      if (volatileKey(k)) {
        if (v.is_number() != a[k].is_number()) fail(k + ": expected a number");
        continue;
      }
      // a flow run's generated name ("onyx-vole") is random on the real server too
      if (k == "name" && e.contains("state_type")) continue;
      compare(v, a[k], where + "." + k, out);
    }
    for (auto& [k, v] : a.items())
      if (!e.contains(k)) fail("unexpected key " + k);
    return;
  }
  if (e.is_array()) {
    if (!a.is_array()) return fail("expected an array, got " + a.dump());
    if (e.size() != a.size())
      return fail("expected " + std::to_string(e.size()) + " items, got " +
                  std::to_string(a.size()));
    for (size_t i = 0; i < e.size(); ++i)
      compare(e[i], a[i], where + "[" + std::to_string(i) + "]", out);
    return;
  }
  if (e.is_string()) {
    if (!a.is_string()) return fail("expected a string, got " + a.dump());
    const std::string es = e, as = a;
    if (isUuid(es)) {
      if (!isUuid(as)) fail("expected an id, got " + as);
      auto found = ids_.find(es);
      if (found != ids_.end() && found->second != as)
        fail("expected id " + found->second + " (recorded " + es + "), got " + as);
      return;
    }
    if (isTimestamp(es)) {
      if (!isTimestamp(as)) fail("expected a timestamp like " + es + ", got " + as);
      return;
    }
    if (mapString(es) != as && es != as) fail("expected " + e.dump() + ", got " + a.dump());
    return;
  }
  if (e.is_number() && a.is_number()) {
    if (e.get<double>() != a.get<double>()) fail("expected " + e.dump() + ", got " + a.dump());
    return;
  }
  if (e != a) fail("expected " + e.dump() + ", got " + a.dump());
}

Replayer::Result Replayer::replay(const std::string& method, const std::string& path,
                                  const json& body, int expectedStatus, const json& expectedBody,
                                  const httplib::Headers& headers) {
  std::string p = mapString(path);
  std::string b = body.is_null() ? "" : mapIds(body).dump();
  httplib::Result r = method == "GET"      ? client_.Get(p, headers)
                      : method == "DELETE" ? client_.Delete(p, headers)
                      : method == "PATCH"  ? client_.Patch(p, headers, b, "application/json")
                                           : client_.Post(p, headers, b, "application/json");
  Result out;
  if (!r) {
    out.mismatches.push_back(method + " " + p + ": no answer (" + httplib::to_string(r.error()) +
                             ")");
    return out;
  }
  out.status = r->status;
  out.body = r->body.empty() ? json(nullptr) : json::parse(r->body, nullptr, false);
  if (out.status != expectedStatus)
    out.mismatches.push_back(method + " " + p + ": status " + std::to_string(out.status) +
                             ", recorded " + std::to_string(expectedStatus) + "; body " + r->body);
  learn(expectedBody, out.body);
  compare(expectedBody, out.body, method + " " + path, out.mismatches);
  return out;
}

}  // namespace prefectsim_test
