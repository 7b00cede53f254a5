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
    log.log(level, message, f);
  });
}

}  // namespace runtime
