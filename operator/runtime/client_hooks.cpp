#include "operator/runtime/client_hooks.h"

#include "operator/kube/log.h"

namespace runtime {

void installKubeClientHooks(MetricsRegistry& registry, Logger log) {
  kube::setRequestObserver(restClientObserver(registry));
  kube::setLogSink([log = log.with({{"component", "kube-client"}})](kube::LogLevel level,
                                                                    const std::string& message,
                                                                    const kube::LogFields& fields) {
    LogFields f;
    f.reserve(fields.size());
    for (const auto& [k, v] : fields) f.emplace_back(k, v);
    LogLevel l = LogLevel::Info;
    switch (level) {
      case kube::LogLevel::Debug:
        l = LogLevel::Debug;
        break;
      case kube::LogLevel::Info:
        l = LogLevel::Info;
        break;
      case kube::LogLevel::Warn:
        l = LogLevel::Warn;
        break;
      case kube::LogLevel::Error:
        l = LogLevel::Error;
        break;
    }
    log.log(l, message, f);
  });
}

}  // namespace runtime
