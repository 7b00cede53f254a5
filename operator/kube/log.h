#pragma once
// Hooks through which the kube client reports to the application without depending on
// operator/runtime (which depends on us): a log sink and a per-request observer for metrics.
// Messages and fields handed to the sink never contain bearer tokens, keys or Secret data.
#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace kube {

enum class LogLevel { Debug, Info, Warn, Error };
// "debug", "info", "warn", "error" (runtime's logger uses the same levels and names).
const char* logLevelName(LogLevel level);
using LogFields = std::vector<std::pair<std::string, std::string>>;
using LogSink =
    std::function<void(LogLevel level, const std::string& message, const LogFields& fields)>;

// Replaces the process-wide sink. The default writes warnings and errors to stderr, one line
// each. Pass nullptr to restore the default. Thread-safe; the sink may be called from any thread.
void setLogSink(LogSink sink);
void log(LogLevel level, const std::string& message, const LogFields& fields = {});

// Called once per HTTP attempt (retries count separately), after the response or the failure.
// method is the HTTP method (GET, POST, ...); code is the HTTP status, 0 when no response
// arrived. Wire it to rest_client_requests_total{code,method}. Pass nullptr to remove it.
using RequestObserver =
    std::function<void(const std::string& method, int code, std::chrono::duration<double> latency)>;
void setRequestObserver(RequestObserver observer);
void observeRequest(const std::string& method, int code, std::chrono::duration<double> latency);

}  // namespace kube
