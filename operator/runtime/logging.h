#pragma once
// Structured logging: one JSON object per line (time, level, msg, then fields such as controller,
// object, error) or a readable console line. Thread-safe; lines are never interleaved.
//
//   auto log = runtime::logger().with({{"controller", "flowrun"}});
//   log.info("reconciled", {{"object", key.str()}, {"phase", "Running"}});
//   log.error("create job failed", {{"object", key.str()}, {"error", err.describe()}});
//
// Never pass a Secret or a token as a field: redactSecrets() strips them from objects first.
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "operator/kube/log.h"

namespace runtime {

// The kube client's levels: one enum, so the client's log lines pass through unchanged.
using LogLevel = kube::LogLevel;
using kube::logLevelName;
enum class LogFormat { Json, Console };

// Fields keep their order in the output.
using LogFields = std::vector<std::pair<std::string, nlohmann::json>>;

std::optional<LogLevel> parseLogLevel(const std::string& text);    // debug|info|warn|error
std::optional<LogFormat> parseLogFormat(const std::string& text);  // json|console

// Where finished lines go. The default writes to stderr.
using LogWriter = std::function<void(std::string_view line)>;

// A cheap handle: copies share the same output, level and format; with() adds bound fields.
class Logger {
 public:
  Logger();  // json, info, stderr
  Logger(LogFormat format, LogLevel level, LogWriter writer = nullptr);

  Logger with(const LogFields& fields) const;  // a child with extra fields on every line

  void setLevel(LogLevel level);  // shared with every copy
  void setFormat(LogFormat format);
  LogLevel level() const;
  bool enabled(LogLevel level) const;

  void log(LogLevel level, std::string_view msg, const LogFields& fields = {}) const;
  void debug(std::string_view msg, const LogFields& fields = {}) const {
    log(LogLevel::Debug, msg, fields);
  }
  void info(std::string_view msg, const LogFields& fields = {}) const {
    log(LogLevel::Info, msg, fields);
  }
  void warn(std::string_view msg, const LogFields& fields = {}) const {
    log(LogLevel::Warn, msg, fields);
  }
  void error(std::string_view msg, const LogFields& fields = {}) const {
    log(LogLevel::Error, msg, fields);
  }

  // Formats one line (without the trailing newline); exposed for tests.
  std::string format(LogLevel level, std::string_view msg, const LogFields& fields,
                     std::chrono::system_clock::time_point time) const;

 private:
  friend void setLogWriter(LogWriter writer);
  struct Sink;
  std::shared_ptr<Sink> sink_;
  LogFields bound_;
};

// The process-wide default logger (json, info, stderr until configured).
Logger& logger();
// Reconfigures the default logger (and every copy made from it).
void configureLogging(LogFormat format, LogLevel level);
// Replaces the default logger's output, e.g. to capture lines in tests; nullptr restores stderr.
void setLogWriter(LogWriter writer);

// RFC 3339 UTC with milliseconds: 2026-11-23T18:36:00.123Z
std::string formatTimeMillis(std::chrono::system_clock::time_point t);

// A copy of a Kubernetes object or fragment that is safe to log: the data/stringData values of a
// Secret, env values whose name looks like a credential (…KEY, …TOKEN, …PASSWORD, …SECRET) and
// fields named like credentials are replaced by "<redacted>".
nlohmann::json redactSecrets(const nlohmann::json& value);

}  // namespace runtime
