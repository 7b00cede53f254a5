#include "test/kubesim/scenario.h"

#include "test/kubesim/cluster_json.h"

#include <cctype>
#include <cstdlib>

namespace kubesim {

namespace {

std::string trim(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// Splits on ';' and newlines outside double quotes.
std::vector<std::string> statements(const std::string& text) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted && c == '\\' && i + 1 < text.size()) {
      cur += c;
      cur += text[++i];
      continue;
    }
    if (c == '"') quoted = !quoted;
    if (!quoted && (c == ';' || c == '\n')) {
      out.push_back(trim(cur));
      cur.clear();
      continue;
    }
    cur += c;
  }
  out.push_back(trim(cur));
  return out;
}

std::optional<std::string> unquote(const std::string& s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return std::nullopt;
  std::string out;
  for (std::size_t i = 1; i + 1 < s.size(); ++i) {
    if (s[i] == '\\' && i + 2 < s.size()) {
      char n = s[++i];
      out += n == 'n' ? '\n' : n == 't' ? '\t' : n;
    } else {
      out += s[i];
    }
  }
  return out;
}

const char* kStatements =
    "run DURATION, exit CODE, unschedulable, image-pull-fail [over DURATION], crash-loop, oom, "
    "evict after DURATION, unknown-status, ignore-sigterm DURATION, pull DURATION, log \"TEXT\"";

}  // namespace

std::optional<double> parseDuration(const std::string& raw) {
  std::string text = trim(raw);
  if (text.empty()) return std::nullopt;
  const char* begin = text.c_str();
  char* end = nullptr;
  double value = std::strtod(begin, &end);
  if (end == begin || value < 0 || value != value) return std::nullopt;
  std::string unit = trim(std::string(end));
  double factor = 0;
  if (unit.empty() || unit == "s") {
    factor = 1;
  } else if (unit == "ms") {
    factor = 0.001;
  } else if (unit == "m") {
    factor = 60;
  } else if (unit == "h") {
    factor = 3600;
  } else {
    return std::nullopt;
  }
  return value * factor;
}

ScenarioParse parseScenario(const std::string& text) {
  Scenario sc;
  sc.source = "annotation";
  bool crashLoop = false, exitGiven = false, runGiven = false;
  for (const auto& stmt : statements(text)) {
    if (stmt.empty()) continue;
    auto space = stmt.find_first_of(" \t");
    std::string word = stmt.substr(0, space);
    std::string arg = space == std::string::npos ? "" : trim(stmt.substr(space));
    auto bad = [&](const std::string& why) {
      return ScenarioParse{std::nullopt,
                           "invalid kubesim scenario statement \"" + stmt + "\": " + why};
    };
    auto duration = [&](const std::string& a) { return parseDuration(a); };
    if (word == "run" || word == "sleep") {
      auto d = duration(arg);
      if (!d) return bad("expected a duration such as 2s or 500ms");
      sc.runSeconds = *d;
      runGiven = true;
    } else if (word == "exit") {
      char* end = nullptr;
      long code = std::strtol(arg.c_str(), &end, 10);
      if (arg.empty() || *end != '\0' || code < 0 || code > 255) {
        return bad("expected an exit code from 0 to 255");
      }
      sc.exitCode = static_cast<int>(code);
      exitGiven = true;
    } else if (word == "unschedulable" && arg.empty()) {
      sc.unschedulable = true;
    } else if (word == "image-pull-fail") {
      sc.imagePullFail = true;
      if (!arg.empty()) {
        std::string a = arg;
        if (a.rfind("over", 0) == 0) a = trim(a.substr(4));
        auto d = duration(a);
        if (!d) return bad("expected: image-pull-fail [over DURATION]");
        sc.pullEventsSpread = *d;
      }
    } else if (word == "unknown-status" && arg.empty()) {
      sc.evictUnknownStatus = true;
    } else if (word == "crash-loop" && arg.empty()) {
      crashLoop = true;
    } else if (word == "oom" && arg.empty()) {
      sc.oomKilled = true;
    } else if (word == "evict") {
      std::string a = arg;
      if (a.rfind("after", 0) == 0) a = trim(a.substr(5));
      auto d = a.empty() ? std::optional<double>(0.0) : duration(a);
      if (!d) return bad("expected: evict after DURATION");
      sc.evictAfter = *d;
    } else if (word == "ignore-sigterm") {
      auto d = duration(arg);
      if (!d) return bad("expected a duration such as 5s");
      sc.ignoreSigtermSeconds = *d;
    } else if (word == "pull") {
      auto d = duration(arg);
      if (!d) return bad("expected a duration such as 1s");
      sc.pullSeconds = *d;
    } else if (word == "log") {
      auto s = unquote(arg);
      if (!s) return bad("expected a double-quoted string");
      sc.logs.push_back(*s);
    } else {
      return ScenarioParse{std::nullopt, "unknown kubesim scenario statement \"" + stmt +
                                             "\" (expected one of: " + kStatements + ")"};
    }
  }
  if (crashLoop) {
    // A crash loop is a container that fails quickly every time it starts.
    if (!exitGiven) sc.exitCode = 1;
    if (!runGiven) sc.runSeconds = 0.5;
  }
  if (sc.oomKilled) sc.exitCode = 137;
  return ScenarioParse{sc, ""};
}

std::optional<Scenario> scenarioFromImage(const std::string& image) {
  // Accept registry prefixes: docker.io/kubesim/exit:3, localhost:5000/kubesim/exit:3.
  auto pos = image.rfind("kubesim/");
  if (pos == std::string::npos || (pos != 0 && image[pos - 1] != '/')) return std::nullopt;
  std::string rest = image.substr(pos + 8);
  auto at = rest.find('@');
  if (at != std::string::npos) rest = rest.substr(0, at);
  std::string what = rest, tag;
  auto colon = rest.find(':');
  if (colon != std::string::npos) {
    what = rest.substr(0, colon);
    tag = rest.substr(colon + 1);
  }
  if (tag == "latest") tag.clear();
  std::string text;
  if (what == "exit") {
    text = "exit " + (tag.empty() ? std::string("0") : tag);
  } else if (what == "fail") {
    text = "exit " + (tag.empty() ? std::string("1") : tag);
  } else if (what == "run" || what == "sleep") {
    text = "run " + (tag.empty() ? std::string("1s") : tag);
  } else if (what == "unschedulable" || what == "crash-loop" || what == "oom") {
    text = what;
  } else if (what == "image-pull-fail") {
    text = what + (tag.empty() ? std::string() : " over " + tag);
  } else if (what == "evict-unknown") {
    text = "run 1h; unknown-status; evict after " + (tag.empty() ? std::string("1s") : tag);
  } else if (what == "evict") {
    text = "run 1h; evict after " + (tag.empty() ? std::string("1s") : tag);
  } else if (what == "ignore-sigterm") {
    text = "run 1h; ignore-sigterm " + (tag.empty() ? std::string("30s") : tag);
  } else if (what == "success" || what == "ok") {
    text = "";
  } else {
    return std::nullopt;
  }
  auto parsed = parseScenario(text);
  if (!parsed.scenario) return std::nullopt;
  parsed.scenario->source = "image";
  return parsed.scenario;
}

ScenarioParse scenarioForPod(const nlohmann::json& pod) {
  const auto metadata = objectAt(pod, "metadata");
  const auto annotations = objectAt(metadata, "annotations");
  if (annotations.is_object() && annotations.contains(kScenarioAnnotation) &&
      annotations[kScenarioAnnotation].is_string()) {
    return parseScenario(annotations[kScenarioAnnotation].get<std::string>());
  }
  const auto spec = objectAt(pod, "spec");
  const auto containers = arrayAt(spec, "containers");
  if (containers.is_array() && !containers.empty() && containers[0].is_object()) {
    std::string image = containers[0].value("image", "");
    if (auto sc = scenarioFromImage(image)) return ScenarioParse{sc, ""};
  }
  Scenario sc;
  sc.source = "default";
  return ScenarioParse{sc, ""};
}

}  // namespace kubesim
