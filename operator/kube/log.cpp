#include "operator/kube/log.h"

#include <iostream>
#include <memory>
#include <mutex>

namespace kube {

namespace {
std::mutex& hookMutex() {
  static std::mutex m;
  return m;
}
// Shared pointers so a call in progress keeps its hook alive while another thread replaces it.
std::shared_ptr<LogSink>& sinkSlot() {
  static std::shared_ptr<LogSink> s;
  return s;
}
std::shared_ptr<RequestObserver>& observerSlot() {
  static std::shared_ptr<RequestObserver> o;
  return o;
}

}  // namespace

void setLogSink(LogSink sink) {
  std::lock_guard<std::mutex> lock(hookMutex());
  sinkSlot() = sink ? std::make_shared<LogSink>(std::move(sink)) : nullptr;
}

const char* logLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "info";
}

void log(LogLevel level, const std::string& message, const LogFields& fields) {
  std::shared_ptr<LogSink> sink;
  {
    std::lock_guard<std::mutex> lock(hookMutex());
    sink = sinkSlot();
  }
  if (sink) {
    (*sink)(level, message, fields);
    return;
  }
  if (level < LogLevel::Warn) return;
  std::string line = std::string("kube ") + logLevelName(level) + ": " + message;
  for (const auto& [k, v] : fields) line += " " + k + "=" + v;
  line += "\n";
  std::cerr << line << std::flush;
}

void setRequestObserver(RequestObserver observer) {
  std::lock_guard<std::mutex> lock(hookMutex());
  observerSlot() = observer ? std::make_shared<RequestObserver>(std::move(observer)) : nullptr;
}

void observeRequest(const std::string& method, int code, std::chrono::duration<double> latency) {
  std::shared_ptr<RequestObserver> observer;
  {
    std::lock_guard<std::mutex> lock(hookMutex());
    observer = observerSlot();
  }
  if (observer) (*observer)(method, code, latency);
}

}  // namespace kube
