#include "operator/runtime/api_event_recorder.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace runtime {

using nlohmann::json;

namespace {

std::string hostName() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0) return "";
  return host;
}

std::string field(const json& obj, const char* a, const char* b = nullptr) {
  if (!obj.is_object()) return {};
  auto it = obj.find(a);
  if (it == obj.end()) return {};
  if (!b) return it->is_string() ? it->get<std::string>() : std::string();
  if (!it->is_object()) return {};
  auto jt = it->find(b);
  return jt != it->end() && jt->is_string() ? jt->get<std::string>() : std::string();
}

// Keeps the message within the API's limit without cutting a UTF-8 sequence in half.
std::string truncateMessage(const std::string& m, std::size_t max = 1024) {
  if (m.size() <= max) return m;
  std::size_t cut = max - 3;
  while (cut > 0 && (static_cast<unsigned char>(m[cut]) & 0xC0) == 0x80) --cut;
  return m.substr(0, cut) + "...";
}

}  // namespace

std::string formatTimeSeconds(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

ApiEventRecorder::ApiEventRecorder(kube::Client& client, std::string component,
                                   EventRecorderOptions options)
    : client_(client),
      component_(std::move(component)),
      opts_(std::move(options)),
      instance_(opts_.reportingInstance.empty() ? hostName() : opts_.reportingInstance),
      log_((opts_.logger ? *opts_.logger : logger()).with({{"component", component_}})) {
  if (opts_.queueCapacity == 0) opts_.queueCapacity = 1;
  if (opts_.cacheSize == 0) opts_.cacheSize = 1;
  sender_ = std::thread([this] { senderLoop(); });
}

ApiEventRecorder::~ApiEventRecorder() {
  shutdown();
}

void ApiEventRecorder::record(const json& object, const std::string& type,
                              const std::string& reason, const std::string& message) {
  try {
    if (type != "Normal" && type != "Warning") {
      log_.error("Event dropped: type must be Normal or Warning",
                 {{"type", type}, {"reason", reason}});
      std::lock_guard lock(mu_);
      ++dropped_;
      return;
    }
    Pending p;
    std::string name = field(object, "metadata", "name");
    if (name.empty() || reason.empty()) {
      log_.error("Event dropped: the object has no name or the reason is empty",
                 {{"reason", reason}});
      std::lock_guard lock(mu_);
      ++dropped_;
      return;
    }
    p.involved = {{"apiVersion", field(object, "apiVersion")},
                  {"kind", field(object, "kind")},
                  {"name", name}};
    if (auto ns = field(object, "metadata", "namespace"); !ns.empty()) p.involved["namespace"] = ns;
    if (auto uid = field(object, "metadata", "uid"); !uid.empty()) p.involved["uid"] = uid;
    if (auto rv = field(object, "metadata", "resourceVersion"); !rv.empty())
      p.involved["resourceVersion"] = rv;
    p.type = type;
    p.reason = reason;
    p.message = truncateMessage(message);
    p.time = std::chrono::system_clock::now();

    std::unique_lock lock(mu_);
    // Block the producer while the queue is full, as client-go's broadcaster does, rather than
    // lose an Event per transition under a burst.
    bool room = roomCv_.wait_for(lock, opts_.fullQueueWait,
                                 [&] { return stopping_ || queue_.size() < opts_.queueCapacity; });
    if (stopping_) return;
    if (!room) {
      ++dropped_;
      log_.warn("Event dropped: the event queue stayed full (is the API server answering?)",
                {{"object", name},
                 {"reason", reason},
                 {"capacity", opts_.queueCapacity},
                 {"waitedMs", opts_.fullQueueWait.count()}});
      return;
    }
    queue_.push_back(std::move(p));
    cv_.notify_one();
  } catch (...) {
    // Recording an event must never break a reconcile.
    std::lock_guard lock(mu_);
    ++dropped_;
  }
}

bool ApiEventRecorder::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idleCv_.wait_for(lock, timeout, [&] { return queue_.empty() && !busy_; });
}

void ApiEventRecorder::shutdown(std::chrono::milliseconds drainTimeout) {
  flush(drainTimeout);
  {
    std::lock_guard lock(mu_);
    if (stopping_ && !sender_.joinable()) return;
    stopping_ = true;
    dropped_ += queue_.size();
    queue_.clear();
    cv_.notify_all();
    roomCv_.notify_all();
  }
  if (sender_.joinable()) sender_.join();
}

std::size_t ApiEventRecorder::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

void ApiEventRecorder::senderLoop() {
  while (true) {
    Pending p;
    {
      std::unique_lock lock(mu_);
      busy_ = false;
      if (queue_.empty()) idleCv_.notify_all();
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      p = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      roomCv_.notify_one();
    }
    try {
      send(p);
    } catch (const std::exception& e) {
      log_.error("Event could not be sent", {{"error", e.what()}});
    } catch (...) {
      log_.error("Event could not be sent");
    }
  }
}

bool ApiEventRecorder::allowSpam(const std::string& objectKey) {
  auto now = std::chrono::steady_clock::now();
  auto [it, inserted] = spam_.try_emplace(objectKey, Bucket{double(opts_.spamBurst), now});
  Bucket& b = it->second;
  if (!inserted) {
    double refill = std::chrono::duration<double>(now - b.last).count() /
                    std::max(1.0, double(opts_.spamRefill.count()));
    b.tokens = std::min<double>(opts_.spamBurst, b.tokens + refill);
    b.last = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  // Bound the filter's memory: objects come and go for the whole life of the operator.
  if (spam_.size() > opts_.cacheSize * 2) {
    for (auto s = spam_.begin(); s != spam_.end();) {
      if (s->second.tokens >= opts_.spamBurst - 1 && s->first != objectKey) {
        s = spam_.erase(s);
      } else {
        ++s;
      }
    }
  }
  return true;
}

void ApiEventRecorder::remember(const std::string& key, Cached c) {
  auto it = cache_.find(key);
  if (it != cache_.end()) {
    lru_.erase(it->second.second);
    cache_.erase(it);
  }
  lru_.push_front(key);
  cache_.emplace(key, std::make_pair(std::move(c), lru_.begin()));
  while (cache_.size() > opts_.cacheSize) {
    cache_.erase(lru_.back());
    lru_.pop_back();
  }
}

void ApiEventRecorder::send(const Pending& p) {
  std::string objectKey = p.involved.value("uid", "");
  if (objectKey.empty())
    objectKey = p.involved.value("kind", "") + "/" + p.involved.value("namespace", "") + "/" +
                p.involved.value("name", "");
  if (!allowSpam(objectKey)) {
    std::lock_guard lock(mu_);
    ++dropped_;
    log_.debug("Event dropped by the per-object spam filter",
               {{"object", p.involved.value("name", "")}, {"reason", p.reason}});
    return;
  }
  std::string key = objectKey + '\x1f' + p.type + '\x1f' + p.reason + '\x1f' + p.message;
  std::string now = formatTimeSeconds(p.time);
  // Events of cluster-scoped objects live in "default" (client-go), or where the options say.
  std::string ns = p.involved.value("namespace", "");
  if (ns.empty()) ns = opts_.clusterScopedNamespace;

  auto cached = cache_.find(key);
  if (cached != cache_.end()) {
    Cached c = cached->second.first;
    json patch = {{"count", c.count + 1}, {"lastTimestamp", now}};
    auto r = client_.patch(kube::resources::CoreEvents, c.ns, c.name, patch);
    if (r) {
      c.count += 1;
      remember(key, c);
      return;
    }
    if (!r.error().isNotFound()) {
      std::lock_guard lock(mu_);
      ++dropped_;
      log_.warn("Event count update failed", {{"error", r.error().describe()}});
      return;
    }
    // The Event expired (the API server keeps them for an hour): start a new one.
  }

  auto nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".%llx", static_cast<unsigned long long>(nanos));
  std::string name = p.involved.value("name", "") + suffix;
  json event = {{"apiVersion", "v1"},
                {"kind", "Event"},
                {"metadata", {{"name", name}, {"namespace", ns}}},
                {"involvedObject", p.involved},
                {"reason", p.reason},
                {"message", p.message},
                {"type", p.type},
                {"source", {{"component", component_}}},
                {"firstTimestamp", now},
                {"lastTimestamp", now},
                {"count", 1},
                {"reportingComponent", component_},
                {"reportingInstance", instance_}};
  if (!instance_.empty()) event["source"]["host"] = instance_;
  auto r = client_.create(kube::resources::CoreEvents, ns, event);
  if (!r) {
    std::lock_guard lock(mu_);
    ++dropped_;
    log_.warn("Event could not be created", {{"object", p.involved.value("name", "")},
                                             {"reason", p.reason},
                                             {"error", r.error().describe()}});
    return;
  }
  remember(key, Cached{ns, name, 1, now});
}

}  // namespace runtime
