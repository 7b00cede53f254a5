#include "operator/runtime/logging.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace runtime {

using nlohmann::json;

struct Logger::Sink {
  std::atomic<int> level{static_cast<int>(LogLevel::Info)};
  std::atomic<int> format{static_cast<int>(LogFormat::Json)};
  std::mutex mu;  // guards writer and serialises lines
  LogWriter writer;
};

namespace {

void writeStderr(std::string_view line) {
  // One fwrite per line keeps lines whole even with other writers on stderr.
  std::string buf(line);
  buf += '\n';
  std::fwrite(buf.data(), 1, buf.size(), stderr);
  std::fflush(stderr);
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string dumpValue(const json& v) {
  // Invalid UTF-8 from an API message must not throw out of a log call.
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool needsQuotes(const std::string& s) {
  if (s.empty()) return true;
  for (unsigned char c : s)
    if (c <= ' ' || c == '"' || c == '=' || c == '\\') return true;
  return false;
}

bool credentialName(const std::string& key) {
  std::string k = lower(key);
  static const char* const words[] = {"password",        "passwd",  "token",         "secret",
                                      "apikey",          "api_key", "authorization", "bearer",
                                      "client-key-data", "private"};
  for (const char* w : words)
    if (k.find(w) != std::string::npos) return true;
  // A trailing KEY (PREFECT_API_KEY, aws_access_key) but not "keys", "monkey" is fine too.
  return k.size() >= 4 && (k.ends_with("_key") || k.ends_with("-key"));
}

json redactImpl(const json& v, bool secretKind) {
  if (v.is_object()) {
    json out = json::object();
    bool isSecret = secretKind || (v.contains("kind") && v["kind"] == "Secret");
    // env-style entries: {name: PREFECT_API_KEY, value: ...}
    bool envEntry = v.contains("name") && v["name"].is_string() && v.contains("value") &&
                    credentialName(v["name"].get<std::string>());
    for (auto it = v.begin(); it != v.end(); ++it) {
      const std::string& k = it.key();
      if (isSecret && (k == "data" || k == "stringData") && it->is_object()) {
        json masked = json::object();
        for (auto d = it->begin(); d != it->end(); ++d) masked[d.key()] = "<redacted>";
        out[k] = masked;
      } else if (envEntry && k == "value") {
        out[k] = "<redacted>";
      } else if (it->is_primitive() && !it->is_null() && credentialName(k)) {
        out[k] = "<redacted>";
      } else {
        out[k] = redactImpl(*it, false);
      }
    }
    return out;
  }
  if (v.is_array()) {
    json out = json::array();
    for (const auto& e : v) out.push_back(redactImpl(e, false));
    return out;
  }
  return v;
}

}  // namespace

std::optional<LogLevel> parseLogLevel(const std::string& text) {
  auto t = lower(text);
  if (t == "debug") return LogLevel::Debug;
  if (t == "info") return LogLevel::Info;
  if (t == "warn" || t == "warning") return LogLevel::Warn;
  if (t == "error") return LogLevel::Error;
  return std::nullopt;
}

std::optional<LogFormat> parseLogFormat(const std::string& text) {
  auto t = lower(text);
  if (t == "json") return LogFormat::Json;
  if (t == "console" || t == "text") return LogFormat::Console;
  return std::nullopt;
}

std::string formatTimeMillis(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  int frac = static_cast<int>(ms % 1000);
  if (frac < 0) {
    frac += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // sized for any int values, which silences -Wformat-truncation
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

Logger::Logger() : Logger(LogFormat::Json, LogLevel::Info) {}

Logger::Logger(LogFormat format, LogLevel level, LogWriter writer)
    : sink_(std::make_shared<Sink>()) {
  sink_->level = static_cast<int>(level);
  sink_->format = static_cast<int>(format);
  sink_->writer = std::move(writer);
}

Logger Logger::with(const LogFields& fields) const {
  Logger child = *this;
  for (const auto& f : fields) child.bound_.push_back(f);
  return child;
}

void Logger::setLevel(LogLevel level) {
  sink_->level = static_cast<int>(level);
}
void Logger::setFormat(LogFormat format) {
  sink_->format = static_cast<int>(format);
}
LogLevel Logger::level() const {
  return static_cast<LogLevel>(sink_->level.load());
}
bool Logger::enabled(LogLevel level) const {
  return static_cast<int>(level) >= sink_->level;
}

std::string Logger::format(LogLevel level, std::string_view msg, const LogFields& fields,
                           std::chrono::system_clock::time_point time) const {
  std::string line;
  auto all = bound_;
  all.insert(all.end(), fields.begin(), fields.end());
  if (static_cast<LogFormat>(sink_->format.load()) == LogFormat::Json) {
    line += "{\"time\":\"";
    line += formatTimeMillis(time);
    line += "\",\"level\":\"";
    line += logLevelName(level);
    line += "\",\"msg\":";
    line += dumpValue(json(std::string(msg)));
    for (const auto& [k, v] : all) {
      // The reserved keys cannot be overridden by a field: a parser would see duplicates.
      if (k == "time" || k == "level" || k == "msg") continue;
      line += ',';
      line += dumpValue(json(k));
      line += ':';
      line += dumpValue(v);
    }
    line += '}';
    return line;
  }
  // Console: TIME LEVEL msg key=value key="value with spaces"
  std::string lvl = logLevelName(level);
  std::transform(lvl.begin(), lvl.end(), lvl.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  line += formatTimeMillis(time);
  line += ' ';
  line += lvl;
  line.append(6 - std::min<std::size_t>(lvl.size(), 5), ' ');
  line += msg;
  for (const auto& [k, v] : all) {
    line += ' ';
    line += k;
    line += '=';
    std::string text = v.is_string() ? v.get<std::string>() : dumpValue(v);
    if (v.is_string() && needsQuotes(text)) {
      line += dumpValue(v);
    } else {
      line += text;
    }
  }
  // A message with newlines must stay one line.
  for (auto& c : line)
    if (c == '\n') c = ' ';
  return line;
}

void Logger::log(LogLevel level, std::string_view msg, const LogFields& fields) const {
  if (!enabled(level)) return;
  std::string line;
  try {
    line = format(level, msg, fields, std::chrono::system_clock::now());
  } catch (...) {
    // Logging must never throw into the caller.
    line = "{\"level\":\"error\",\"msg\":\"log line could not be formatted\"}";
  }
  std::lock_guard lock(sink_->mu);
  if (sink_->writer) {
    sink_->writer(line);
  } else {
    writeStderr(line);
  }
}

Logger& logger() {
  // Leaked on purpose: threads may log during static destruction.
  static Logger* global = new Logger();
  return *global;
}

void configureLogging(LogFormat format, LogLevel level) {
  logger().setFormat(format);
  logger().setLevel(level);
}

void setLogWriter(LogWriter writer) {
  auto& l = logger();
  std::lock_guard lock(l.sink_->mu);
  l.sink_->writer = std::move(writer);
}

json redactSecrets(const json& value) {
  try {
    return redactImpl(value, false);
  } catch (...) {
    return "<redacted>";
  }
}

}  // namespace runtime
