#include "controllers/flowrun/own_writes.h"

#include <algorithm>
#include <utility>

#include "controllers/flowrun/json_util.h"

namespace controllers::flowrun {

namespace {

std::string resourceVersionOf(const kube::ObjectPtr& obj) {
  return obj ? jsonutil::str(jsonutil::at(*obj, "metadata"), "resourceVersion") : std::string();
}

// A FlowRun that keeps being written without the cache catching up (no watch) must not grow
// the list without bound; the oldest versions are the least likely to be cached.
constexpr std::size_t kMaxOlder = 16;

}  // namespace

kube::ObjectPtr OwnWrites::freshest(const std::string& key, kube::ObjectPtr cached) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return cached;
  const std::string rv = resourceVersionOf(cached);
  const auto& older = it->second.older;
  if (cached && !rv.empty() && std::find(older.begin(), older.end(), rv) != older.end()) {
    return it->second.object;
  }
  entries_.erase(it);
  return cached;
}

void OwnWrites::wrote(const std::string& key, const std::string& basedOn, kube::ObjectPtr written) {
  std::lock_guard lock(mu_);
  Entry& e = entries_[key];
  if (e.object) e.older.push_back(resourceVersionOf(e.object));
  if (!basedOn.empty()) e.older.push_back(basedOn);
  if (e.older.size() > kMaxOlder) {
    e.older.erase(e.older.begin(), e.older.end() - static_cast<std::ptrdiff_t>(kMaxOlder));
  }
  e.object = std::move(written);
}

void OwnWrites::forget(const std::string& key) {
  std::lock_guard lock(mu_);
  entries_.erase(key);
}

std::size_t OwnWrites::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace controllers::flowrun
