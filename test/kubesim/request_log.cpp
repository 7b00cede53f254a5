// The request log: one record per request, kept in memory for tests and benchmarks.
#include "test/kubesim/simulator.h"

namespace kubesim {

void RequestLog::add(RequestRecord r) {
  std::lock_guard lock(mu_);
  records_.push_back(std::move(r));
}

std::vector<RequestRecord> RequestLog::snapshot() const {
  std::lock_guard lock(mu_);
  return records_;
}

std::size_t RequestLog::count(const std::string& verb, const std::string& resource, int code,
                              const std::string& ns) const {
  std::lock_guard lock(mu_);
  std::size_t n = 0;
  for (const auto& r : records_) {
    if (!verb.empty() && r.verb != verb) continue;
    if (!resource.empty() && r.resource != resource &&
        (r.apiGroup.empty() || r.resource + "." + r.apiGroup != resource)) {
      continue;
    }
    if (code != 0 && r.code != code) continue;
    if (!ns.empty() && r.ns != ns) continue;
    ++n;
  }
  return n;
}

void RequestLog::clear() {
  std::lock_guard lock(mu_);
  records_.clear();
}

}  // namespace kubesim
