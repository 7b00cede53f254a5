#include "test/kubesim/storage.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "test/kubesim/decode.h"
#include "test/kubesim/pod_validation.h"
#include "test/kubesim/schema.h"
#include "test/kubesim/selectors.h"
#include "test/kubesim/util.h"

namespace kubesim {

namespace {

std::string keyOf(const std::string& ns, const std::string& name) {
  return ns.empty() ? name : ns + "/" + name;
}

std::string metaString(const json& obj, const char* field) {
  if (!obj.is_object()) return "";
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "";
  auto f = m->find(field);
  if (f == m->end() || !f->is_string()) return "";
  return f->get<std::string>();
}

bool hasFinalizers(const json& obj) {
  const auto& m = obj["metadata"];
  return m.contains("finalizers") && m["finalizers"].is_array() && !m["finalizers"].empty();
}

void addFinalizer(json& obj, const std::string& f) {
  auto& m = obj["metadata"];
  if (!m.contains("finalizers") || !m["finalizers"].is_array()) m["finalizers"] = json::array();
  for (const auto& e : m["finalizers"])
    if (e == f) return;
  m["finalizers"].push_back(f);
}

// Whether a and b are equal leaving out the top-level keys `skip` says to (compares in place:
// no copies of the objects).
template <class Skip>
bool equalExcept(const json& a, const json& b, Skip skip) {
  if (!a.is_object() || !b.is_object()) return a == b;
  auto ia = a.begin();
  auto ib = b.begin();
  while (true) {
    while (ia != a.end() && skip(ia.key())) ++ia;
    while (ib != b.end() && skip(ib.key())) ++ib;
    if (ia == a.end() || ib == b.end()) return ia == a.end() && ib == b.end();
    if (ia.key() != ib.key() || *ia != *ib) return false;
    ++ia;
    ++ib;
  }
}

// Whether the part of an object whose change bumps metadata.generation (all but metadata, and
// status where the kind has a status subresource) differs.
bool specPartChanged(const json& a, const json& b, bool statusSubresource) {
  return !equalExcept(a, b, [&](const std::string& k) {
    return k == "metadata" || (statusSubresource && k == "status");
  });
}

// managedFields entries equal but for their "time" (an entry that is no object compares whole).
bool sameManagedFieldsButTimes(const json& a, const json& b) {
  if (!a.is_array() || !b.is_array()) return a == b;
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].is_object() && b[i].is_object()) {
      if (!equalExcept(a[i], b[i], [](const std::string& k) { return k == "time"; })) return false;
    } else if (a[i].is_object() || b[i].is_object() || a[i] != b[i]) {
      return false;
    }
  }
  return true;
}

// Two stored objects equal leaving out the times of their managedFields entries (a no-op
// update: ownership changes are writes, timestamps are not).
bool sameButManagedFieldsTimes(const json& a, const json& b) {
  static const json kNull;
  auto metadataOf = [](const json& o) -> const json& {
    auto it = o.find("metadata");
    return it == o.end() ? kNull : *it;
  };
  if (!a.is_object() || !b.is_object()) return a == b;
  if (!equalExcept(a, b, [](const std::string& k) { return k == "metadata"; })) return false;
  const json& ma = metadataOf(a);
  const json& mb = metadataOf(b);
  if (!ma.is_object() || !mb.is_object()) return ma == mb;
  if (!equalExcept(ma, mb, [](const std::string& k) { return k == "managedFields"; })) return false;
  auto fa = ma.find("managedFields");
  auto fb = mb.find("managedFields");
  if (fa == ma.end() || fb == mb.end()) return fa == ma.end() && fb == mb.end();
  return sameManagedFieldsButTimes(*fa, *fb);
}

// What managedFields track: user-owned metadata, spec and (for the status subresource) status.
json ownedView(const json& obj, const std::string& subresource, bool statusSubresource) {
  json o = json::object();
  if (!obj.is_object()) return o;
  if (subresource == "status") {
    if (obj.contains("status")) o["status"] = obj["status"];
    return o;
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const auto& k = it.key();
    if (k == "apiVersion" || k == "kind") continue;
    if (k == "status" && statusSubresource) continue;
    if (k == "metadata") {
      json m = json::object();
      for (const char* f : {"labels", "annotations", "finalizers", "ownerReferences"}) {
        if (it->contains(f)) m[f] = (*it)[f];
      }
      if (!m.empty()) o["metadata"] = m;
      continue;
    }
    o[k] = it.value();
  }
  return o;
}

std::string imagePullPolicyFor(const std::string& image) {
  auto slash = image.rfind('/');
  auto colon = image.rfind(':');
  bool tagged = colon != std::string::npos && (slash == std::string::npos || colon > slash);
  if (image.find('@') != std::string::npos) return "IfNotPresent";
  if (!tagged || image.substr(colon + 1) == "latest") return "Always";
  return "IfNotPresent";
}

void defaultContainers(json& podSpec, const char* field) {
  if (!podSpec.contains(field) || !podSpec[field].is_array()) return;
  for (auto& c : podSpec[field]) {
    if (!c.is_object()) continue;
    if (!c.contains("terminationMessagePath")) c["terminationMessagePath"] = "/dev/termination-log";
    if (!c.contains("terminationMessagePolicy")) c["terminationMessagePolicy"] = "File";
    if (!c.contains("imagePullPolicy") && c.contains("image") && c["image"].is_string()) {
      c["imagePullPolicy"] = imagePullPolicyFor(c["image"].get<std::string>());
    }
    if (!c.contains("resources")) c["resources"] = json::object();
    if (c.contains("ports") && c["ports"].is_array()) {
      for (auto& p : c["ports"])
        if (p.is_object() && !p.contains("protocol")) p["protocol"] = "TCP";
    }
  }
}

// Quantities are stored canonical, as strings: "1024Mi" reads back "1Gi", 1 reads back "1".
void canonicalResources(json& spec) {
  for (const char* list : {"containers", "initContainers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (auto& c : spec[list]) {
      if (!c.is_object() || !c.contains("resources") || !c["resources"].is_object()) continue;
      for (const char* f : {"limits", "requests"}) {
        auto& m = c["resources"][f];
        if (m.is_null()) {
          c["resources"].erase(f);
          continue;
        }
        if (!m.is_object()) continue;
        for (auto& q : m) {
          if (q.is_number()) q = q.dump();
          if (q.is_string()) q = canonicalQuantity(q.get<std::string>());
        }
      }
    }
  }
}

void defaultPodSpec(json& spec) {
  if (!spec.is_object()) return;
  canonicalResources(spec);
  if (!spec.contains("restartPolicy")) spec["restartPolicy"] = "Always";
  if (!spec.contains("dnsPolicy")) spec["dnsPolicy"] = "ClusterFirst";
  if (!spec.contains("schedulerName")) spec["schedulerName"] = "default-scheduler";
  if (!spec.contains("terminationGracePeriodSeconds")) spec["terminationGracePeriodSeconds"] = 30;
  if (!spec.contains("securityContext")) spec["securityContext"] = json::object();
  defaultContainers(spec, "containers");
  defaultContainers(spec, "initContainers");
}

std::string nameValidation(const ResourceInfo& info, const std::string& name) {
  if (info.group.empty() && (info.plural == "namespaces" || info.plural == "services")) {
    return validateDns1123Label(name);
  }
  if (info.group == "rbac.authorization.k8s.io") {
    if (name == "." || name == "..") return "may not be '" + name + "'";
    if (name.find('/') != std::string::npos) return "may not contain '/'";
    if (name.find('%') != std::string::npos) return "may not contain '%'";
    return "";
  }
  return validateDns1123Subdomain(name);
}

const char* kStateFile = "kubesim-state.json";
const char* kLastApplied = "kubectl.kubernetes.io/last-applied-configuration";

// etcd refuses a request over 1.5 MiB (--max-request-bytes); kube-apiserver passes etcd's error
// on as a 500 Status without a reason. kubesim measures the stored JSON (see docs/kubesim.md).
// Counts what json::dump() would write, without building the text.
class CountingOutput : public nlohmann::detail::output_adapter_protocol<char> {
 public:
  void write_character(char /*c*/) override { ++size; }
  void write_characters(const char* /*s*/, std::size_t length) override { size += length; }
  std::size_t size = 0;
};

std::size_t dumpedSize(const json& object) {
  auto out = std::make_shared<CountingOutput>();
  nlohmann::detail::serializer<json> s(out, ' ');
  s.dump(object, false, false, 0);
  return out->size;
}

void checkEtcdRequestSize(const json& object) {
  constexpr std::size_t kEtcdMaxRequestBytes = 1536 * 1024;
  if (dumpedSize(object) > kEtcdMaxRequestBytes)
    throw ApiException(500, "", "etcdserver: request is too large");
}

}  // namespace

// The store's exclusive lock for a write; the watches the write woke are notified after it is
// released, so that they do not wake only to block on the lock again.
class Storage::WriteLock {
 public:
  explicit WriteLock(Storage& s) : s_(s), lock_(s.mu_) {}
  ~WriteLock() {
    std::vector<std::condition_variable_any*> wakes;
    wakes.swap(s_.pendingWakes_);
    lock_.unlock();
    for (auto* cv : wakes) cv->notify_all();
  }
  WriteLock(const WriteLock&) = delete;
  WriteLock& operator=(const WriteLock&) = delete;

 private:
  Storage& s_;
  std::unique_lock<std::shared_mutex> lock_;
};

// Called with the store locked; a write creates the signal of its resource, a watch on a
// resource nobody wrote yet waits on historyCv_ (a write to it notifies that one too).
std::condition_variable_any& Storage::signalFor(const std::string& resource) {
  auto it = watchSignals_.find(resource);
  return it == watchSignals_.end() ? historyCv_ : *it->second;
}

Storage::Storage(StorageOptions options) : options_(std::move(options)) {
  for (auto& r : builtinResources()) infos_[r.qualified()] = r;
  if (!options_.dataDir.empty()) load();
  if (data_["namespaces"].empty()) {
    WriteOptions w;
    w.fieldManager = "kube-apiserver";
    WriteLock lock(*this);
    auto nsInfo = infos_["namespaces"];
    for (const char* ns : {"default", "kube-system", "kube-public", "kube-node-lease"}) {
      createLocked(nsInfo, "", json{{"metadata", {{"name", ns}}}}, w);
    }
  }
  dispatcher_ = std::thread([this] { dispatchLoop(); });
  if (!options_.dataDir.empty()) persister_ = std::thread([this] { persistLoop(); });
}

Storage::~Storage() {
  shutdown();
}

void Storage::shutdown() {
  if (stopping_.exchange(true)) return;
  { std::lock_guard l(dispatchMu_); }
  dispatchCv_.notify_all();
  { std::lock_guard l(persistMu_); }
  persistCv_.notify_all();
  std::vector<std::condition_variable_any*> all;
  {
    std::unique_lock l(mu_);
    for (auto& [_, cv] : watchSignals_) all.push_back(cv.get());
  }
  historyCv_.notify_all();
  for (auto* cv : all) cv->notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  if (persister_.joinable()) persister_.join();
  if (!options_.dataDir.empty()) persistNow();
}

bool Storage::stopped() const {
  return stopping_.load();
}

// ---------------------------------------------------------------------------------------------
// Registry

std::optional<ResourceInfo> Storage::info(const std::string& resource) {
  std::shared_lock lock(mu_);
  auto it = infos_.find(resource);
  if (it == infos_.end()) return std::nullopt;
  return it->second;
}

std::vector<ResourceInfo> Storage::infos() {
  std::shared_lock lock(mu_);
  std::vector<ResourceInfo> out;
  for (auto& [_, i] : infos_) out.push_back(i);
  return out;
}

ResourceInfo Storage::requireInfo(const std::string& resource) {
  auto i = info(resource);
  if (!i) throw resourceNotFound();
  return *i;
}

std::vector<std::string> Storage::resources() {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (auto& [k, _] : infos_) out.push_back(k);
  return out;
}

json Storage::describe(const std::string& resource) {
  auto i = requireInfo(resource);
  return {{"kind", i.kind},
          {"apiVersion", i.apiVersion()},
          {"namespaced", i.namespaced},
          {"statusSubresource", i.statusSubresource}};
}

void Storage::registerCrd(const json& crd) {
  ResourceInfo r = resourceFromCrd(crd);
  infos_[r.qualified()] = r;
}

void Storage::unregisterCrd(const json& crd) {
  std::string group = crd["spec"].value("group", std::string());
  std::string plural = crd["spec"]["names"].value("plural", std::string());
  std::string q = plural + "." + group;
  auto it = infos_.find(q);
  if (it == infos_.end()) return;
  ResourceInfo info = it->second;
  // The API server's CRD finalizer deletes every instance before the CRD goes.
  auto& bucket = data_[q];
  std::vector<std::string> keys;
  for (auto& [k, _] : bucket) keys.push_back(k);
  for (const auto& k : keys) {
    json obj = bucket[k];
    json old = obj;
    commit(info, StoreEvent::Type::Deleted, obj, old);
  }
  data_.erase(q);
  infos_.erase(q);
}

json Storage::toServed(const ResourceInfo& info, json object, const std::string& version) const {
  if (info.storageResource == "events") return eventToEventsV1(object);
  if (!version.empty() && version != info.version && object.is_object()) {
    object["apiVersion"] = info.apiVersionFor(version);
  }
  return object;
}

// ---------------------------------------------------------------------------------------------
// Reads

json Storage::get(const std::string& resource, const std::string& ns, const std::string& name) {
  return getAs(resource, ns, name, "");
}

json Storage::getAs(const std::string& resource, const std::string& ns, const std::string& name,
                    const std::string& version) {
  auto served = requireInfo(resource);
  std::string storageRes = served.storageResource.empty() ? resource : served.storageResource;
  std::shared_lock lock(mu_);
  auto b = data_.find(storageRes);
  std::string key = keyOf(served.namespaced ? ns : "", name);
  if (b == data_.end() || !b->second.count(key)) throw notFound(served.plural, served.group, name);
  return toServed(served, b->second.at(key), version);
}

std::vector<json> Storage::list(const std::string& resource, const std::string& ns,
                                const std::string& labelSelector) {
  ListOptions o;
  o.labelSelector = labelSelector;
  return listWith(resource, ns, o).items;
}

namespace {

// The messages of k8s.io/apiserver/pkg/storage/etcd3 when etcd has compacted a paged list's
// revision.
const char* kInconsistentContinue =
    "The provided continue parameter is too old to display a consistent list result. You can "
    "start a new list without the continue parameter, or use the continue token in this response "
    "to retrieve the remainder of the results. Continuing with the provided token results in an "
    "inconsistent list - objects that were created, modified, or deleted between the time the "
    "first chunk was returned and now may show up in the list.";

std::string continueToken(std::int64_t rv, const std::string& start) {
  return base64Encode(json{{"v", "meta.k8s.io/v1"}, {"rv", rv}, {"start", start}}.dump());
}

}  // namespace

ListResult Storage::listWith(const std::string& resource, const std::string& ns,
                             const ListOptions& opts) {
  auto served = requireInfo(resource);
  std::string storageRes = served.storageResource.empty() ? resource : served.storageResource;
  auto ls = LabelSelector::parse(opts.labelSelector);
  auto fs = FieldSelector::parse(opts.fieldSelector, supportedFieldLabels(resource));
  std::string start;
  std::int64_t tokenRv = 0;  // the snapshot the first page was served from (-1: the latest)
  if (!opts.continueToken.empty()) {
    try {
      json t = json::parse(base64Decode(opts.continueToken));
      start = t.at("start").get<std::string>();
      tokenRv = t.at("rv").get<std::int64_t>();
      if (tokenRv == 0 || tokenRv < -1) throw std::invalid_argument("rv");
    } catch (const std::exception&) {
      throw badRequest(
          "continue key is not valid: incorrect encoded start resourceVersion (version "
          "meta.k8s.io/v1)");
    }
  }
  ListResult r;
  std::shared_lock lock(mu_);
  // Every page of a paged list answers from the first page's revision, as etcd serves it.
  const std::uint64_t at = tokenRv > 0 ? static_cast<std::uint64_t>(tokenRv) : rv_;
  if (at < compacted_) {
    ApiException e = expired(kInconsistentContinue);
    e.listMeta = {{"continue", continueToken(-1, start)}};
    throw e;
  }
  r.resourceVersion = at;
  std::string prefix = (served.namespaced && !ns.empty()) ? ns + "/" : "";
  const std::string& from = start.empty() ? prefix : start;
  auto inRange = [&](const std::string& key) {
    return (prefix.empty() || key.compare(0, prefix.size(), prefix) == 0) && key >= from;
  };
  // The objects as they were at `at` are the current ones with every later change undone: the
  // changes after `at` (few: a page's snapshot is recent) are an overlay over the bucket, key ->
  // the object at `at` (nullptr: it did not exist then), merged with the bucket in key order as
  // the page is read, so a page costs its own objects, not every object after it.
  std::map<std::string, const json*> overlay;
  for (auto h = history_.rbegin(); h != history_.rend() && (*h)->rv > at; ++h) {
    const auto& e = **h;
    if (e.resource != storageRes) continue;
    std::string key = keyOf(e.ns, metaString(e.object, "name"));
    if (!inRange(key)) continue;
    overlay[std::move(key)] = e.type == StoreEvent::Type::Added ? nullptr : &e.oldObject;
  }
  static const std::map<std::string, json> kEmpty;
  auto b = data_.find(storageRes);
  const auto& bucket = b == data_.end() ? kEmpty : b->second;
  auto bi = bucket.lower_bound(from);
  auto oi = overlay.begin();
  auto bucketDone = [&] {
    return bi == bucket.end() ||
           (!prefix.empty() && bi->first.compare(0, prefix.size(), prefix) != 0);
  };
  // The next object of the view in key order (nullptr at the end).
  const std::string* key = nullptr;
  bool current = false;  // the object returned by next() is the stored one (not an older state)
  auto next = [&]() -> const json* {
    while (true) {
      const bool bEnd = bucketDone();
      const bool oEnd = oi == overlay.end();
      if (bEnd && oEnd) return nullptr;
      const json* obj;
      if (!oEnd && (bEnd || oi->first <= bi->first)) {
        if (!bEnd && oi->first == bi->first) ++bi;
        key = &oi->first;
        obj = oi->second;
        current = false;
        ++oi;
      } else {
        key = &bi->first;
        obj = &bi->second;
        current = true;
        ++bi;
      }
      if (obj) return obj;
    }
  };
  const bool sameShape =
      served.storageResource.empty() && (opts.version.empty() || opts.version == served.version);
  static const json kNoLabels = json::object();
  auto selected = [&](const json& stored) {
    if (!ls.empty()) {
      const json& md = stored["metadata"];
      auto it = md.find("labels");
      if (!ls.matches(it != md.end() ? *it : kNoLabels)) return false;
    }
    if (!fs.empty()) {
      if (sameShape) return fs.matches(stored);
      if (!fs.matches(toServed(served, stored, opts.version))) return false;
    }
    return true;
  };
  // An item's text: the one its latest change has (the same dump, made once for every watch,
  // response and list) while that change is in the history, else dumped now.
  auto textOf = [&](const json& stored, const std::string* storedKey) -> std::string {
    if (!sameShape) return toServed(served, stored, opts.version).dump();
    if (storedKey) {
      auto l = latest_.find(storageRes + '\n' + *storedKey);
      if (l != latest_.end()) {
        if (auto e = l->second.lock();
            e && metaString(stored, "resourceVersion") == std::to_string(e->rv)) {
          return e->servedText(opts.version, [&](const json& o) { return o; });
        }
      }
    }
    return stored.dump();
  };
  std::int64_t remaining = 0;
  std::string lastKey;
  bool full = false;
  std::size_t taken = 0;
  while (const json* obj = next()) {
    const json& stored = *obj;
    if (!selected(stored)) continue;
    if (full) {
      ++remaining;
      continue;
    }
    if (opts.asText) {
      r.texts.push_back(textOf(stored, current ? key : nullptr));
    } else {
      r.items.push_back(toServed(served, stored, opts.version));
    }
    ++taken;
    lastKey = *key;
    if (opts.limit > 0 && static_cast<std::int64_t>(taken) >= opts.limit) full = true;
  }
  if (full && remaining > 0) {
    // A continuation of an inconsistent (rv -1) list stays at the latest revision.
    r.continueToken = continueToken(tokenRv == -1 ? -1 : static_cast<std::int64_t>(at),
                                    lastKey + std::string(1, '\x01'));
    r.remainingItemCount = remaining;
  }
  return r;
}

std::pair<std::vector<json>, std::uint64_t> Storage::snapshot(const std::string& resource,
                                                              const std::string& ns,
                                                              const std::string& version) {
  auto served = requireInfo(resource);
  std::string storageRes = served.storageResource.empty() ? resource : served.storageResource;
  std::shared_lock lock(mu_);
  std::vector<json> out;
  auto b = data_.find(storageRes);
  if (b != data_.end()) {
    std::string prefix = (served.namespaced && !ns.empty()) ? ns + "/" : "";
    for (auto it = b->second.lower_bound(prefix); it != b->second.end(); ++it) {
      if (!prefix.empty() && it->first.compare(0, prefix.size(), prefix) != 0) break;
      out.push_back(toServed(served, it->second, version));
    }
  }
  return {out, rv_};
}

std::uint64_t Storage::currentResourceVersion() {
  std::shared_lock lock(mu_);
  return rv_;
}

std::uint64_t Storage::oldestResumable() {
  std::shared_lock lock(mu_);
  return compacted_;
}

Storage::WaitResult Storage::waitEvents(std::uint64_t& after, const std::string& resource,
                                        std::vector<std::shared_ptr<const HistoryEntry>>& out,
                                        std::chrono::steady_clock::time_point deadline) {
  std::shared_lock lock(mu_);
  while (true) {
    if (stopping_) return WaitResult::Stopped;
    if (after < compacted_) return WaitResult::Expired;
    if (!history_.empty() && history_.back()->rv > after) {
      auto it = std::upper_bound(history_.begin(), history_.end(), after,
                                 [](std::uint64_t v, const auto& e) { return v < e->rv; });
      std::size_t n = 0;
      for (; it != history_.end() && n < 2000; ++it) {
        after = (*it)->rv;
        if ((*it)->resource != resource) continue;
        out.push_back(*it);
        ++n;
      }
      if (!out.empty()) return WaitResult::Events;
      continue;
    }
    if (signalFor(resource).wait_until(lock, deadline) == std::cv_status::timeout) {
      if (!history_.empty() && history_.back()->rv > after) continue;
      return WaitResult::Timeout;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Writes

std::string Storage::managerFor(const WriteOptions& w) const {
  return w.fieldManager.empty() ? std::string("unknown") : w.fieldManager;
}

void Storage::commit(const ResourceInfo& info, StoreEvent::Type type, json& object,
                     const json& old) {
  ++rv_;
  object["metadata"]["resourceVersion"] = std::to_string(rv_);
  std::string ns = info.namespaced ? metaString(object, "namespace") : "";
  std::string key = keyOf(ns, metaString(object, "name"));
  auto e = std::make_shared<HistoryEntry>();
  e->rv = rv_;
  e->type = type;
  e->resource = info.qualified();
  e->ns = ns;
  e->object = object;
  // `old` may be the stored object itself (updateLocked reads it in place): copied before the
  // bucket is written.
  if (type != StoreEvent::Type::Added) e->oldObject = old;
  auto& bucket = data_[e->resource];
  if (type == StoreEvent::Type::Deleted) {
    bucket.erase(key);
    latest_.erase(e->resource + '\n' + key);
  } else {
    bucket[key] = object;
    latest_[e->resource + '\n' + key] = e;
  }
  history_.push_back(e);
  while (history_.size() > options_.watchWindow) {
    compacted_ = history_.front()->rv;
    history_.pop_front();
  }
  {
    std::lock_guard l(dispatchMu_);
    dispatchQueue_.push_back(std::move(e));
  }
  dispatchCv_.notify_one();
  dirty_ = true;
  // Wake the watches of this resource once the lock is released (a watch that started before
  // the resource's first write waits on historyCv_).
  auto& sig = watchSignals_[history_.back()->resource];
  if (!sig) {
    sig = std::make_unique<std::condition_variable_any>();
    pendingWakes_.push_back(&historyCv_);
  }
  if (std::find(pendingWakes_.begin(), pendingWakes_.end(), sig.get()) == pendingWakes_.end())
    pendingWakes_.push_back(sig.get());
}

void Storage::updateManagedFields(json& object, const json* old, const std::string& manager,
                                  const std::string& operation, const std::string& apiVersion,
                                  const std::string& subresource, const json* appliedSet,
                                  const json* baseEntries) {
  // Status is tracked on the main resource only where the kind has no status subresource.
  auto infoIt = infos_.end();
  const std::string kind = object.value("kind", std::string());
  const std::string objectApiVersion = object.value("apiVersion", std::string());
  for (auto it = infos_.begin(); it != infos_.end(); ++it) {
    if (it->second.kind == kind && it->second.apiVersion() == objectApiVersion) {
      infoIt = it;
      break;
    }
  }
  bool statusSub = infoIt != infos_.end() && infoIt->second.statusSubresource;
  const json* baseMf = baseEntries;
  if (!baseMf && old && old->contains("metadata") && (*old)["metadata"].contains("managedFields"))
    baseMf = &(*old)["metadata"]["managedFields"];
  json mf = baseMf && baseMf->is_array() ? *baseMf : json::array();
  json changed;
  if (appliedSet) {
    changed = *appliedSet;
  } else if (old) {
    changed = changedFields(ownedView(*old, subresource, statusSub),
                            ownedView(object, subresource, statusSub));
  } else {
    changed = fieldSetOf(ownedView(object, subresource, false));
  }
  if (fieldSetEmpty(changed) && !appliedSet) {
    object["metadata"]["managedFields"] = mf;
    if (mf.empty()) object["metadata"].erase("managedFields");
    return;
  }
  json out = json::array();
  bool merged = false;
  for (auto& e : mf) {
    bool same = e.value("manager", std::string()) == manager &&
                e.value("operation", std::string()) == operation &&
                e.value("subresource", std::string()) == subresource;
    if (same) {
      e["fieldsV1"] =
          appliedSet ? *appliedSet : fieldSetUnion(e.value("fieldsV1", json::object()), changed);
      e["time"] = nowRfc3339();
      e["apiVersion"] = apiVersion;
      merged = true;
      out.push_back(e);
      continue;
    }
    if (!appliedSet && e.value("subresource", std::string()) == subresource) {
      e["fieldsV1"] = fieldSetDifference(e.value("fieldsV1", json::object()), changed);
      if (fieldSetEmpty(e["fieldsV1"])) continue;
    }
    out.push_back(e);
  }
  if (!merged) {
    json e = {{"manager", manager},   {"operation", operation},   {"apiVersion", apiVersion},
              {"time", nowRfc3339()}, {"fieldsType", "FieldsV1"}, {"fieldsV1", changed}};
    if (!subresource.empty()) e["subresource"] = subresource;
    out.push_back(e);
  }
  object["metadata"]["managedFields"] = out;
}

void Storage::prepareObject(const ResourceInfo& info, json& obj, const json* old, bool status,
                            WriteOptions& w) {
  std::string name = metaString(obj, "name");
  std::vector<FieldCause> causes;
  // Labels must be valid whatever the kind.
  if (obj["metadata"].contains("labels")) {
    const auto& labels = obj["metadata"]["labels"];
    if (!labels.is_object()) {
      causes.push_back({"FieldValueInvalid", "metadata.labels", "Invalid value: must be a map"});
    } else {
      for (auto it = labels.begin(); it != labels.end(); ++it) {
        if (auto e = validateLabelKey(it.key()); !e.empty()) {
          causes.push_back({"FieldValueInvalid", "metadata.labels",
                            "Invalid value: " + quote(it.key()) + ": " + e});
        }
        if (!it->is_string()) {
          causes.push_back({"FieldValueTypeInvalid", "metadata.labels." + it.key(),
                            "Invalid value: must be a string"});
        } else if (auto e = validateLabelValue(it->get<std::string>()); !e.empty()) {
          causes.push_back({"FieldValueInvalid", "metadata.labels",
                            "Invalid value: " + quote(it->get<std::string>()) + ": " + e});
        }
      }
    }
  }
  // ValidateAnnotations: keys and values together at most 256 KiB (kubectl apply's
  // last-applied-configuration of a big object hits this first).
  if (obj["metadata"].contains("annotations") && obj["metadata"]["annotations"].is_object()) {
    std::size_t total = 0;
    for (auto it = obj["metadata"]["annotations"].begin();
         it != obj["metadata"]["annotations"].end(); ++it) {
      total += it.key().size() + (it->is_string() ? it->get<std::string>().size() : 0);
    }
    if (total > 262144) {
      causes.push_back({"FieldValueTooLong", "metadata.annotations",
                        "Too long: may not be more than 262144 bytes"});
    }
  }
  if (info.crd) {
    std::string av = obj.value("apiVersion", std::string());
    std::string version = av.substr(av.find('/') + 1);
    const json* schema = info.schemaFor(version);
    if (!schema) schema = info.schemaFor(info.version);
    if (schema) {
      std::vector<std::string> unknown;
      pruneAndDefault(*schema, obj, unknown);
      if (!unknown.empty()) {
        if (w.fieldValidation == "Strict") {
          std::string msg = info.kind + " in version " + quote(version) +
                            " cannot be handled as a " + info.kind + ": strict decoding error: ";
          for (std::size_t i = 0; i < unknown.size(); ++i) {
            msg += (i ? ", " : "") + std::string("unknown field ") + quote(unknown[i]);
          }
          throw badRequest(msg);
        }
        if (w.fieldValidation != "Ignore") {
          for (const auto& u : unknown) w.warnings.push_back("unknown field " + quote(u));
        }
      }
      auto more = validateSchema(*schema, obj);
      causes.insert(causes.end(), more.begin(), more.end());
    }
    if (!causes.empty()) throw invalid(info.kind, info.group, name, causes);
    return;
  }
  if (status) {
    if (!causes.empty()) throw invalid(info.kind, info.group, name, causes);
    return;
  }
  const std::string q = info.qualified();
  {
    const std::string av = obj.value("apiVersion", std::string());
    decodeBuiltin(q, info.kind, av.substr(av.find('/') + 1), obj);
  }
  if (q == "pods") {
    if (!old) {
      defaultPodSpec(obj["spec"]);
      if (!obj["spec"].contains("serviceAccountName"))
        obj["spec"]["serviceAccountName"] = "default";
      obj["spec"]["serviceAccount"] = obj["spec"]["serviceAccountName"];
      if (!obj["spec"].contains("enableServiceLinks")) obj["spec"]["enableServiceLinks"] = true;
      if (!obj["spec"].contains("priority")) obj["spec"]["priority"] = 0;
      if (!obj["spec"].contains("preemptionPolicy"))
        obj["spec"]["preemptionPolicy"] = "PreemptLowerPriority";
      obj["status"] = {{"phase", "Pending"}, {"qosClass", "BestEffort"}};
    }
    validatePodSpec(obj["spec"], "spec", causes, false);
  } else if (q == "jobs.batch") {
    auto& spec = obj["spec"];
    if (!spec.is_object()) spec = json::object();
    auto& tmpl = spec["template"];
    if (!tmpl.is_object()) tmpl = json::object();
    if (!old) {
      if (!tmpl.contains("spec")) tmpl["spec"] = json::object();
      defaultPodSpec(tmpl["spec"]);
      if (!spec.contains("completions") && !spec.contains("parallelism")) {
        spec["completions"] = 1;
        spec["parallelism"] = 1;
      }
      if (!spec.contains("parallelism")) spec["parallelism"] = 1;
      if (!spec.contains("backoffLimit")) spec["backoffLimit"] = 6;
      if (!spec.contains("completionMode")) spec["completionMode"] = "NonIndexed";
      if (!spec.contains("suspend")) spec["suspend"] = false;
      if (!spec.contains("podReplacementPolicy"))
        spec["podReplacementPolicy"] = "TerminatingOrFailed";
      if (!tmpl.contains("metadata") || !tmpl["metadata"].is_object())
        tmpl["metadata"] = json::object();
      auto& tl = tmpl["metadata"]["labels"];
      if (!tl.is_object()) tl = json::object();
      // Job labels default to the template's labels (SetDefaults_Job), before the selector labels.
      if (!obj["metadata"].contains("labels") || obj["metadata"]["labels"].empty()) {
        if (!tl.empty()) obj["metadata"]["labels"] = tl;
      }
      if (!spec.value("manualSelector", false)) {
        // generateSelector: labels the user set are kept (validation then refuses a conflict),
        // and the selector gains the controller-uid label.
        const std::string uid = metaString(obj, "uid");
        for (const char* k : {"controller-uid", "batch.kubernetes.io/controller-uid"})
          if (!tl.contains(k)) tl[k] = uid;
        for (const char* k : {"job-name", "batch.kubernetes.io/job-name"})
          if (!tl.contains(k)) tl[k] = name;
        auto& sel = spec["selector"];
        if (!sel.is_object()) sel = json::object();
        if (!sel.contains("matchLabels") || !sel["matchLabels"].is_object())
          sel["matchLabels"] = json::object();
        if (!sel["matchLabels"].contains("batch.kubernetes.io/controller-uid"))
          sel["matchLabels"]["batch.kubernetes.io/controller-uid"] = uid;
        validateGeneratedSelector(obj, causes);
      } else if (!spec.contains("selector") || spec["selector"].is_null()) {
        causes.push_back({"FieldValueRequired", "spec.selector", "Required value"});
      }
      obj["status"] = json::object();
    } else {
      const auto& os = (*old)["spec"];
      if (os.contains("selector") && spec.value("selector", json()) != os["selector"]) {
        causes.push_back(
            {"FieldValueInvalid", "spec.selector",
             "Invalid value: " + spec.value("selector", json()).dump() + ": field is immutable"});
      }
    }
    validateTemplateLabels(tmpl, "spec.template", causes);
    validatePodSpec(tmpl.value("spec", json()), "spec.template.spec", causes, true);
    if (spec.contains("selector") && !spec["selector"].is_null()) {
      const json tlabels = tmpl.contains("metadata") && tmpl["metadata"].is_object()
                               ? tmpl["metadata"].value("labels", json::object())
                               : json::object();
      if (!LabelSelector::fromObject(spec["selector"]).matches(tlabels))
        causes.push_back({"FieldValueInvalid", "spec.template.metadata.labels",
                          "Invalid value: " + goStringMap(tlabels) +
                              ": `selector` does not match template `labels`"});
    }
    if (spec.contains("backoffLimit") && spec["backoffLimit"].is_number() &&
        spec["backoffLimit"].get<double>() < 0) {
      causes.push_back({"FieldValueInvalid", "spec.backoffLimit",
                        "Invalid value: " + spec["backoffLimit"].dump() +
                            ": must be greater than or equal to 0"});
    }
  } else if (q == "deployments.apps") {
    auto& spec = obj["spec"];
    if (!spec.is_object()) spec = json::object();
    if (!old) {
      if (!spec.contains("replicas")) spec["replicas"] = 1;
      if (!spec.contains("revisionHistoryLimit")) spec["revisionHistoryLimit"] = 10;
      if (!spec.contains("progressDeadlineSeconds")) spec["progressDeadlineSeconds"] = 600;
      if (!spec.contains("strategy"))
        spec["strategy"] = {{"type", "RollingUpdate"},
                            {"rollingUpdate", {{"maxSurge", "25%"}, {"maxUnavailable", "25%"}}}};
      if (spec.contains("template") && spec["template"].is_object())
        defaultPodSpec(spec["template"]["spec"]);
      obj["status"] = json::object();
    }
    if (!spec.contains("selector"))
      causes.push_back({"FieldValueRequired", "spec.selector", "Required value"});
    validatePodSpec(spec.contains("template") ? spec["template"].value("spec", json()) : json(),
                    "spec.template.spec", causes, false);
  } else if (q == "events") {
    // legacyValidateEvent: an Event lives in its object's namespace; one about a cluster-scoped
    // object (no involvedObject.namespace) only in "default" (or "kube-system" for Events with
    // an eventTime, as events.k8s.io/v1 writes them).
    const std::string ns = metaString(obj, "namespace");
    const json io = obj.value("involvedObject", json::object());
    const std::string ions = io.is_object() ? io.value("namespace", std::string()) : "";
    const bool hasEventTime =
        obj.contains("eventTime") && !obj["eventTime"].is_null() &&
        !(obj["eventTime"].is_string() && obj["eventTime"].get<std::string>().empty());
    bool ok = true;
    if (ions.empty()) {
      ok = ns.empty() || ns == "default" || (hasEventTime && ns == "kube-system");
    } else {
      ok = ns == ions;
    }
    if (!ok) {
      causes.push_back({"FieldValueInvalid", "involvedObject.namespace",
                        "Invalid value: " + quote(ions) + ": does not match event.namespace"});
    }
  } else if (q == "configmaps") {
    // ValidateConfigMap: the values of data and binaryData together at most 1 MiB.
    std::size_t total = 0;
    for (const char* bag : {"data", "binaryData"}) {
      if (!obj.contains(bag) || !obj[bag].is_object()) continue;
      for (const auto& v : obj[bag]) {
        if (!v.is_string()) continue;
        const std::size_t n = v.get<std::string>().size();
        total += std::string_view(bag) == "data" ? n : n / 4 * 3;  // binaryData: decoded bytes
      }
    }
    if (total > 1048576) {
      causes.push_back({"FieldValueTooLong", "[]", "Too long: may not be more than 1048576 bytes"});
    }
  } else if (q == "namespaces") {
    if (!old) {
      obj["spec"] = {{"finalizers", json::array({"kubernetes"})}};
      obj["status"] = {{"phase", "Active"}};
    }
    obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
  } else if (q == "secrets") {
    if (!obj.contains("type")) obj["type"] = "Opaque";
    if (obj.contains("stringData") && obj["stringData"].is_object()) {
      for (auto it = obj["stringData"].begin(); it != obj["stringData"].end(); ++it) {
        if (it->is_string()) obj["data"][it.key()] = base64Encode(it->get<std::string>());
      }
      obj.erase("stringData");
    }
    if (obj.contains("data") && obj["data"].is_object()) {
      for (auto it = obj["data"].begin(); it != obj["data"].end(); ++it) {
        bool ok = it->is_string();
        if (ok) {
          try {
            base64Decode(it->get<std::string>());
          } catch (const std::exception&) {
            ok = false;
          }
        }
        if (!ok)
          throw badRequest(
              "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at "
              "input byte 0");
      }
    }
  } else if (q == "services") {
    auto& spec = obj["spec"];
    if (!spec.is_object()) spec = json::object();
    if (!spec.contains("type")) spec["type"] = "ClusterIP";
    if (!spec.contains("sessionAffinity")) spec["sessionAffinity"] = "None";
    if (!old && !spec.contains("clusterIP")) {
      unsigned h = 0;
      for (char c : metaString(obj, "namespace") + "/" + name)
        h = h * 31 + static_cast<unsigned char>(c);
      spec["clusterIP"] =
          "10.96." + std::to_string((h >> 8) % 254 + 1) + "." + std::to_string(h % 254 + 1);
      spec["clusterIPs"] = json::array({spec["clusterIP"]});
      spec["ipFamilies"] = json::array({"IPv4"});
      spec["ipFamilyPolicy"] = "SingleStack";
      spec["internalTrafficPolicy"] = "Cluster";
    }
    if (spec.contains("ports") && spec["ports"].is_array()) {
      for (auto& p : spec["ports"]) {
        if (!p.is_object()) continue;
        if (!p.contains("protocol")) p["protocol"] = "TCP";
        if (!p.contains("targetPort") && p.contains("port")) p["targetPort"] = p["port"];
      }
    }
    if (!old) obj["status"] = {{"loadBalancer", json::object()}};
  } else if (q == "customresourcedefinitions.apiextensions.k8s.io") {
    validateCrd(obj);
    auto& spec = obj["spec"];
    auto& names = spec["names"];
    if (!names.contains("singular")) {
      std::string k = names["kind"].get<std::string>();
      for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      names["singular"] = k;
    }
    if (!names.contains("listKind")) names["listKind"] = names["kind"].get<std::string>() + "List";
    if (!spec.contains("conversion")) spec["conversion"] = {{"strategy", "None"}};
    std::string storageVersion;
    for (const auto& v : spec["versions"])
      if (v.value("storage", false)) storageVersion = v["name"];
    json oldStatus = old ? (*old).value("status", json::object()) : json::object();
    std::string now = nowRfc3339();
    auto conditionTime = [&](const std::string& type) {
      if (oldStatus.contains("conditions")) {
        for (const auto& c : oldStatus["conditions"])
          if (c.value("type", std::string()) == type) return c.value("lastTransitionTime", now);
      }
      return now;
    };
    json stored = oldStatus.value("storedVersions", json::array());
    if (std::find(stored.begin(), stored.end(), json(storageVersion)) == stored.end())
      stored.push_back(storageVersion);
    obj["status"] = {{"acceptedNames", names},
                     {"conditions",
                      {{{"type", "NamesAccepted"},
                        {"status", "True"},
                        {"reason", "NoConflicts"},
                        {"message", "no conflicts found"},
                        {"lastTransitionTime", conditionTime("NamesAccepted")}},
                       {{"type", "Established"},
                        {"status", "True"},
                        {"reason", "InitialNamesAccepted"},
                        {"message", "the initial names have been accepted"},
                        {"lastTransitionTime", conditionTime("Established")}}}},
                     {"storedVersions", stored}};
  }
  if (!causes.empty()) throw invalid(info.kind, info.group, name, causes);
}

json Storage::create(const std::string& resource, const std::string& ns, json object) {
  WriteOptions w;
  w.fieldManager = "kubesim";
  w.fieldValidation = "Ignore";
  return createWith(resource, ns, std::move(object), w);
}

json Storage::createWith(const std::string& resource, const std::string& ns, json object,
                         WriteOptions& w) {
  auto served = requireInfo(resource);
  if (!served.storageResource.empty()) {
    auto storage = requireInfo(served.storageResource);
    if (!object.is_object()) throw badRequest("the body of the request was in an unknown format");
    json converted = eventFromEventsV1(object);
    WriteLock lock(*this);
    return toServed(served, createLocked(storage, ns, converted, w), w.version);
  }
  WriteLock lock(*this);
  return toServed(served, createLocked(served, ns, std::move(object), w), w.version);
}

json Storage::createLocked(const ResourceInfo& info, const std::string& nsIn, json object,
                           WriteOptions& w, const json* appliedSet) {
  if (!object.is_object()) {
    throw badRequest(
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml, application/vnd.kubernetes.protobuf");
  }
  if (!object.contains("metadata") || !object["metadata"].is_object())
    object["metadata"] = json::object();
  auto& meta = object["metadata"];
  std::string version = w.version.empty() ? info.version : w.version;
  std::string kind = object.value("kind", std::string());
  if (!kind.empty() && kind != info.kind) {
    throw badRequest("the object provided is unrecognized (must be of type " + info.kind +
                     "): " + kind);
  }
  std::string av = object.value("apiVersion", std::string());
  if (!av.empty() && av != info.apiVersionFor(version) && info.storageResource.empty()) {
    bool served = false;
    for (const auto& v : info.versions) served = served || av == info.apiVersionFor(v);
    if (!served) {
      throw badRequest("the API version in the data (" + av +
                       ") does not match the expected API version (" + info.apiVersionFor(version) +
                       ")");
    }
  }
  // Stored with the storage version; no conversion beyond apiVersion (strategy None).
  object["apiVersion"] = info.apiVersion();
  object["kind"] = info.kind;
  std::string ns;
  if (info.namespaced) {
    std::string objNs = meta.value("namespace", std::string());
    ns = nsIn.empty() ? objNs : nsIn;
    if (ns.empty()) ns = "default";
    if (!objNs.empty() && objNs != ns) {
      throw badRequest(
          "the namespace of the provided object does not match the namespace sent on the request");
    }
    meta["namespace"] = ns;
  } else {
    meta.erase("namespace");
  }
  std::string name = meta.value("name", std::string());
  auto& bucket = data_[info.qualified()];
  if (name.empty()) {
    std::string gen = meta.value("generateName", std::string());
    if (gen.empty()) {
      throw invalid(info.kind, info.group, "",
                    {{"FieldValueRequired", "metadata.name",
                      "Required value: name or generateName is required"}});
    }
    if (gen.size() > 58) gen = gen.substr(0, 58);
    for (int i = 0; i < 8; ++i) {
      name = gen + randomNameSuffix();
      if (!bucket.count(keyOf(ns, name))) break;
    }
    meta["name"] = name;
  }
  {
    // ValidateObjectMeta: generateName is checked as a prefix (a trailing '-' allowed), then the
    // name the storage generated from it.
    std::vector<FieldCause> causes;
    const std::string gen = meta.value("generateName", std::string());
    if (!gen.empty()) {
      std::string masked = gen;
      if (masked.back() == '-') masked.back() = 'a';
      if (auto e = nameValidation(info, masked); !e.empty())
        causes.push_back({"FieldValueInvalid", "metadata.generateName",
                          "Invalid value: " + quote(gen) + ": " + e});
    }
    if (auto e = nameValidation(info, name); !e.empty())
      causes.push_back(
          {"FieldValueInvalid", "metadata.name", "Invalid value: " + quote(name) + ": " + e});
    if (!causes.empty()) throw invalid(info.kind, info.group, name, causes);
  }
  if (info.namespaced) {
    auto& nsb = data_["namespaces"];
    auto it = nsb.find(ns);
    if (it == nsb.end()) throw notFound("namespaces", "", ns);
    if (it->second["metadata"].contains("deletionTimestamp")) {
      throw forbidden(
          info.plural, info.group, name,
          "unable to create new content in namespace " + ns + " because it is being terminated");
    }
  }
  if (bucket.count(keyOf(ns, name))) throw alreadyExists(info.plural, info.group, name);
  if (meta.contains("resourceVersion") && !meta["resourceVersion"].is_null() &&
      meta["resourceVersion"] != "") {
    throw ApiException(500, "InternalError",
                       "resourceVersion should not be set on objects to be created");
  }
  meta["uid"] = randomUuid();
  meta["creationTimestamp"] = nowRfc3339();
  meta.erase("deletionTimestamp");
  meta.erase("deletionGracePeriodSeconds");
  meta.erase("selfLink");
  meta.erase("managedFields");
  if (info.hasGeneration)
    meta["generation"] = 1;
  else
    meta.erase("generation");
  if (info.statusSubresource && info.crd) object.erase("status");
  prepareObject(info, object, nullptr, false, w);
  updateManagedFields(object, nullptr, managerFor(w), appliedSet ? "Apply" : "Update",
                      info.apiVersionFor(version), "", appliedSet);
  if (w.admit) w.admit(object, nullptr);
  if (w.dryRun) return object;
  checkEtcdRequestSize(object);
  json none;
  commit(info, StoreEvent::Type::Added, object, none);
  w.committed = history_.back();
  if (info.qualified() == "namespaces") createNamespaceDefaults(name);
  if (info.qualified() == "customresourcedefinitions.apiextensions.k8s.io") registerCrd(object);
  return object;
}

void Storage::createNamespaceDefaults(const std::string& ns) {
  // The ServiceAccount controller gives every namespace a "default" ServiceAccount.
  auto sa = infos_.find("serviceaccounts");
  if (sa == infos_.end() || data_["serviceaccounts"].count(keyOf(ns, "default"))) return;
  WriteOptions w;
  w.fieldManager = "kube-controller-manager";
  createLocked(sa->second, ns, json{{"metadata", {{"name", "default"}, {"namespace", ns}}}}, w);
}

json Storage::update(const std::string& resource, json object) {
  WriteOptions w;
  w.fieldManager = "kubesim";
  w.fieldValidation = "Ignore";
  std::string ns = metaString(object, "namespace"), name = metaString(object, "name");
  return updateWith(resource, ns, name, std::move(object), false, w);
}

json Storage::updateStatus(const std::string& resource, json object) {
  WriteOptions w;
  w.fieldManager = "kubesim";
  w.fieldValidation = "Ignore";
  std::string ns = metaString(object, "namespace"), name = metaString(object, "name");
  return updateWith(resource, ns, name, std::move(object), true, w);
}

json Storage::updateWith(const std::string& resource, const std::string& ns,
                         const std::string& name, json object, bool status, WriteOptions& w) {
  auto served = requireInfo(resource);
  if (!object.is_object()) throw badRequest("the body of the request was in an unknown format");
  if (!served.storageResource.empty()) {
    auto storage = requireInfo(served.storageResource);
    json converted = eventFromEventsV1(object);
    WriteLock lock(*this);
    return toServed(served, updateLocked(storage, ns, name, converted, status, w), w.version);
  }
  WriteLock lock(*this);
  return toServed(served, updateLocked(served, ns, name, std::move(object), status, w), w.version);
}

json Storage::updateLocked(const ResourceInfo& info, const std::string& nsIn,
                           const std::string& name, json object, bool status, WriteOptions& w,
                           const json* managedFieldsOverride) {
  std::string ns = info.namespaced ? nsIn : "";
  if (!object.contains("metadata") || !object["metadata"].is_object())
    object["metadata"] = json::object();
  std::string bodyName = metaString(object, "name");
  if (!bodyName.empty() && bodyName != name) {
    throw badRequest("the name of the object (" + bodyName +
                     ") does not match the name on the URL (" + name + ")");
  }
  std::string bodyNs = metaString(object, "namespace");
  if (info.namespaced && !bodyNs.empty() && bodyNs != ns) {
    throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request");
  }
  auto& bucket = data_[info.qualified()];
  auto it = bucket.find(keyOf(ns, name));
  if (it == bucket.end()) throw notFound(info.plural, info.group, name);
  // The stored object, read in place (commit copies it into the history before replacing it).
  const json& old = it->second;
  std::string rv = metaString(object, "resourceVersion");
  if (!rv.empty() && rv != metaString(old, "resourceVersion"))
    throw staleConflict(info.plural, info.group, name);
  if (rv.empty() && info.crd && !managedFieldsOverride) {
    throw invalid(info.kind, info.group, name,
                  {{"FieldValueInvalid", "metadata.resourceVersion",
                    "Invalid value: 0x0: must be specified for an update"}});
  }
  std::string av = object.value("apiVersion", std::string());
  std::string version = w.version.empty() ? info.version : w.version;
  json next;
  if (status) {
    next = old;
    if (object.contains("status"))
      next["status"] = object["status"];
    else
      next.erase("status");
    if (info.crd) prepareObject(info, next, &old, true, w);
  } else {
    next = object;
    if (info.statusSubresource) {
      if (old.contains("status"))
        next["status"] = old["status"];
      else
        next.erase("status");
    }
    auto& m = next["metadata"];
    const auto& om = old["metadata"];
    for (const char* k : {"uid", "creationTimestamp", "deletionTimestamp",
                          "deletionGracePeriodSeconds", "generation", "name", "namespace"}) {
      if (om.contains(k))
        m[k] = om[k];
      else
        m.erase(k);
    }
    if (!m.contains("managedFields") && om.contains("managedFields"))
      m["managedFields"] = om["managedFields"];
    m.erase("selfLink");
    next["apiVersion"] = old["apiVersion"];
    next["kind"] = info.kind;
    prepareObject(info, next, &old, false, w);
  }
  next["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"];
  if (info.hasGeneration && specPartChanged(next, old, info.statusSubresource)) {
    next["metadata"]["generation"] = old["metadata"].value("generation", 0) + 1;
  }
  if (managedFieldsOverride) {
    next["metadata"]["managedFields"] = *managedFieldsOverride;
  } else {
    // A request that changes managedFields itself (kubectl's client-side-apply upgrade patch)
    // has them taken as given; otherwise the live ones are kept.
    const json sent = object["metadata"].value("managedFields", json());
    const json live = old["metadata"].value("managedFields", json::array());
    next["metadata"]["managedFields"] =
        !status && sent.is_array() && !sent.empty() && sent != live ? sent : live;
    // The entries to start from are the ones just chosen, the fields changed are old's.
    updateManagedFields(next, &old, managerFor(w), "Update", info.apiVersionFor(version),
                        status ? "status" : "", nullptr, &next["metadata"]["managedFields"]);
  }
  (void)av;
  // A no-op update writes nothing and bumps nothing, as in the real API server. Ownership
  // changes (a server-side apply taking over fields) are writes; timestamps are not.
  if (sameButManagedFieldsTimes(next, old)) return old;
  if (w.admit) w.admit(next, &old);
  if (w.dryRun) return next;
  bool deleting = next["metadata"].contains("deletionTimestamp");
  if (deleting && !hasFinalizers(next) &&
      next["metadata"].value("deletionGracePeriodSeconds", 0) == 0) {
    deleteNow(info, next);
    return next;
  }
  checkEtcdRequestSize(next);
  commit(info, StoreEvent::Type::Modified, next, old);
  w.committed = history_.back();
  if (info.qualified() == "customresourcedefinitions.apiextensions.k8s.io") registerCrd(next);
  return next;
}

void Storage::deleteNow(const ResourceInfo& info, json& object) {
  json old = object;
  commit(info, StoreEvent::Type::Deleted, object, old);
  if (info.qualified() == "customresourcedefinitions.apiextensions.k8s.io") unregisterCrd(object);
  if (info.namespaced) finishNamespaceIfEmpty(metaString(object, "namespace"));
}

void Storage::finishNamespaceIfEmpty(const std::string& ns) {
  auto& nsb = data_["namespaces"];
  auto it = nsb.find(ns);
  if (it == nsb.end() || !it->second["metadata"].contains("deletionTimestamp")) return;
  std::string prefix = ns + "/";
  for (auto& [res, i] : infos_) {
    if (!i.namespaced || !i.storageResource.empty()) continue;
    auto b = data_.find(res);
    if (b == data_.end()) continue;
    auto lb = b->second.lower_bound(prefix);
    if (lb != b->second.end() && lb->first.compare(0, prefix.size(), prefix) == 0) return;
  }
  json obj = it->second;
  auto nsInfo = infos_["namespaces"];
  json old = obj;
  commit(nsInfo, StoreEvent::Type::Deleted, obj, old);
}

json Storage::remove(const std::string& resource, const std::string& ns, const std::string& name,
                     const DeleteOptions& options) {
  WriteOptions w;
  w.fieldManager = "kubesim";
  return removeWith(resource, ns, name, options, w);
}

json Storage::removeWith(const std::string& resource, const std::string& ns,
                         const std::string& name, const DeleteOptions& options, WriteOptions& w) {
  auto served = requireInfo(resource);
  auto info = served.storageResource.empty() ? served : requireInfo(served.storageResource);
  WriteLock lock(*this);
  return toServed(served, removeLocked(info, ns, name, options, w), w.version);
}

json Storage::removeLocked(const ResourceInfo& info, const std::string& nsIn,
                           const std::string& name, const DeleteOptions& options, WriteOptions& w) {
  std::string ns = info.namespaced ? nsIn : "";
  auto& bucket = data_[info.qualified()];
  auto it = bucket.find(keyOf(ns, name));
  if (it == bucket.end()) throw notFound(info.plural, info.group, name);
  json obj = it->second;
  const json old = obj;
  auto& meta = obj["metadata"];
  if (options.preconditionUid && *options.preconditionUid != meta.value("uid", std::string())) {
    throw conflict(info.plural, info.group, name,
                   "Precondition failed: UID in precondition: " + *options.preconditionUid +
                       ", UID in object meta: " + meta.value("uid", std::string()));
  }
  if (options.preconditionResourceVersion &&
      *options.preconditionResourceVersion != meta.value("resourceVersion", std::string())) {
    throw conflict(info.plural, info.group, name,
                   "Precondition failed: ResourceVersion in precondition: " +
                       *options.preconditionResourceVersion + ", ResourceVersion in object meta: " +
                       meta.value("resourceVersion", std::string()));
  }
  const std::string q = info.qualified();
  if (q == "namespaces") {
    if (name == "default" || name == "kube-system" || name == "kube-public") {
      throw forbidden("namespaces", "", name, "this namespace may not be deleted");
    }
    if (meta.contains("deletionTimestamp")) return obj;
    if (w.dryRun) return obj;
    meta["deletionTimestamp"] = nowRfc3339();
    meta["deletionGracePeriodSeconds"] = 0;
    obj["status"]["phase"] = "Terminating";
    commit(info, StoreEvent::Type::Modified, obj, old);
    // The namespace controller: delete everything inside, then the namespace itself.
    std::string prefix = name + "/";
    std::vector<std::pair<ResourceInfo, std::string>> victims;
    for (auto& [res, i] : infos_) {
      if (!i.namespaced || !i.storageResource.empty()) continue;
      auto b = data_.find(res);
      if (b == data_.end()) continue;
      for (auto k = b->second.lower_bound(prefix);
           k != b->second.end() && k->first.compare(0, prefix.size(), prefix) == 0; ++k) {
        victims.emplace_back(i, k->first.substr(prefix.size()));
      }
    }
    DeleteOptions bg;
    bg.propagationPolicy = "Background";
    for (auto& [i, n] : victims) {
      try {
        removeLocked(i, name, n, bg, w);
      } catch (const ApiException&) {
        // Already gone through a cascade.
      }
    }
    finishNamespaceIfEmpty(name);
    auto cur = data_["namespaces"].find(name);
    return cur == data_["namespaces"].end() ? obj : cur->second;
  }
  // Propagation policy. batch/v1 Jobs default to orphaning their pods, like the real API server.
  std::string policy =
      options.propagationPolicy.value_or(q == "jobs.batch" ? "Orphan" : "Background");
  if (policy != "Background" && policy != "Foreground" && policy != "Orphan") {
    throw invalid(
        "DeleteOptions", "meta.k8s.io", "",
        {{"FieldValueNotSupported", "propagationPolicy",
          "Unsupported value: " + quote(policy) +
              ": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""}});
  }
  bool changed = false;
  if (policy == "Foreground") {
    addFinalizer(obj, "foregroundDeletion");
    changed = true;
  } else if (policy == "Orphan") {
    addFinalizer(obj, "orphan");
    changed = true;
  }
  if (meta.contains("deletionTimestamp")) {
    // Already being deleted: a pod deleted again with grace 0 goes now (when no finalizers).
    if (q == "pods" && options.gracePeriodSeconds && *options.gracePeriodSeconds == 0 &&
        !hasFinalizers(obj)) {
      if (w.dryRun) return obj;
      meta["deletionGracePeriodSeconds"] = 0;
      deleteNow(info, obj);
      return obj;
    }
    if (q == "pods" && options.gracePeriodSeconds && *options.gracePeriodSeconds == 0) {
      meta["deletionGracePeriodSeconds"] = 0;
      changed = true;
    }
    if (changed && obj != old && !w.dryRun) commit(info, StoreEvent::Type::Modified, obj, old);
    return obj;
  }
  std::int64_t grace = 0;
  if (q == "pods") {
    grace =
        options.gracePeriodSeconds.value_or(obj["spec"].value("terminationGracePeriodSeconds", 30));
    // Unscheduled and finished pods go at once, as the real pod strategy decides.
    std::string phase = obj.contains("status") ? obj["status"].value("phase", std::string()) : "";
    if (obj["spec"].value("nodeName", std::string()).empty() || phase == "Succeeded" ||
        phase == "Failed")
      grace = 0;
    if (grace < 0) grace = 1;
  }
  if (w.dryRun) return obj;
  if (grace > 0) {
    auto when = std::chrono::system_clock::now() + std::chrono::seconds(grace);
    meta["deletionTimestamp"] = formatRfc3339(when);
    meta["deletionGracePeriodSeconds"] = grace;
    commit(info, StoreEvent::Type::Modified, obj, old);
    return obj;
  }
  if (hasFinalizers(obj)) {
    meta["deletionTimestamp"] = nowRfc3339();
    meta["deletionGracePeriodSeconds"] = 0;
    if (info.hasGeneration) meta["generation"] = meta.value("generation", 0) + 1;
    commit(info, StoreEvent::Type::Modified, obj, old);
    return obj;
  }
  deleteNow(info, obj);
  return obj;
}

std::vector<json> Storage::removeCollection(const std::string& resource, const std::string& ns,
                                            const ListOptions& selection,
                                            const DeleteOptions& options, WriteOptions& w) {
  auto served = requireInfo(resource);
  auto items = listWith(resource, ns, selection).items;
  std::vector<json> out;
  for (const auto& item : items) {
    try {
      out.push_back(removeWith(resource, metaString(item, "namespace"), metaString(item, "name"),
                               options, w));
    } catch (const ApiException& e) {
      if (e.code != 404) throw;
    }
  }
  return out;
}

json Storage::patchWith(const std::string& resource, const std::string& ns, const std::string& name,
                        bool status, PatchType type, const json& patch, WriteOptions& w) {
  auto served = requireInfo(resource);
  auto info = served.storageResource.empty() ? served : requireInfo(served.storageResource);
  WriteLock lock(*this);
  std::string sns = info.namespaced ? ns : "";
  auto& bucket = data_[info.qualified()];
  auto it = bucket.find(keyOf(sns, name));
  if (type == PatchType::Apply)
    return toServed(served, applyLocked(served, info, sns, name, status, patch, w), w.version);
  if (it == bucket.end()) throw notFound(served.plural, served.group, name);
  json current = toServed(served, it->second, w.version);
  json patched;
  switch (type) {
    case PatchType::Merge:
      if (!patch.is_object())
        throw badRequest("json: cannot unmarshal " + std::string(patch.type_name()) +
                         " into Go value of type map[string]interface {}");
      patched = applyMergePatch(current, patch);
      break;
    case PatchType::Json:
      if (!patch.is_array())
        throw badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
      patched = applyJsonPatch(current, patch);
      break;
    case PatchType::Strategic:
      if (info.crd) {
        throw ApiException(
            415, "UnsupportedMediaType",
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml");
      }
      patched = applyStrategicMergePatch(current, patch);
      break;
    case PatchType::Apply:
      break;
  }
  if (!patched.is_object())
    throw badRequest("the patch produced an object that is not a JSON object");
  if (!patched.contains("metadata") || !patched["metadata"].is_object())
    patched["metadata"] = json::object();
  if (metaString(patched, "resourceVersion").empty()) {
    patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"];
  }
  if (!served.storageResource.empty()) patched = eventFromEventsV1(patched);
  return toServed(served, updateLocked(info, sns, name, patched, status, w), w.version);
}

json Storage::applyLocked(const ResourceInfo& served, const ResourceInfo& info,
                          const std::string& ns, const std::string& name, bool status,
                          const json& appliedIn, WriteOptions& w) {
  if (w.fieldManager.empty()) {
    throw invalid(
        "PatchOptions", "meta.k8s.io", "",
        {{"FieldValueRequired", "fieldManager", "Required value: is required for apply patch"}});
  }
  if (!appliedIn.is_object())
    throw badRequest("error decoding YAML: the applied configuration is not an object");
  json applied = appliedIn;
  if (!served.storageResource.empty()) applied = eventFromEventsV1(applied);
  if (!applied.contains("metadata") || !applied["metadata"].is_object())
    applied["metadata"] = json::object();
  std::string bodyName = metaString(applied, "name");
  if (bodyName.empty()) {
    throw badRequest("metadata.name is required in an apply configuration");
  }
  if (bodyName != name) {
    throw badRequest("the name of the object (" + bodyName +
                     ") does not match the name on the URL (" + name + ")");
  }
  if (applied.value("kind", std::string()).empty() ||
      applied.value("apiVersion", std::string()).empty()) {
    throw badRequest("invalid object type: /, Kind=");
  }
  applied["metadata"].erase("managedFields");
  std::string version = w.version.empty() ? info.version : w.version;
  const std::string manager = w.fieldManager;
  std::string sub = status ? "status" : "";
  json appliedView = ownedView(applied, sub, info.statusSubresource);
  json appliedSet = fieldSetOf(appliedView);
  auto& bucket = data_[info.qualified()];
  auto it = bucket.find(keyOf(ns, name));
  if (it == bucket.end()) {
    if (status) throw notFound(info.plural, info.group, name);
    return createLocked(info, ns, applied, w, &appliedSet);
  }
  json current = it->second;
  json mf = current["metadata"].value("managedFields", json::array());
  if (!mf.is_array()) mf = json::array();
  // lastAppliedManager: the "kubectl" manager upgrading an object from client-side apply takes
  // over, without conflicts, the fields its last-applied-configuration annotation lists.
  const std::string lastApplied =
      current["metadata"].contains("annotations") && current["metadata"]["annotations"].is_object()
          ? current["metadata"]["annotations"].value(kLastApplied, std::string())
          : std::string();
  json allowed = json::object();
  if (manager == "kubectl" && !lastApplied.empty()) {
    const json la = json::parse(lastApplied, nullptr, false);
    if (la.is_object()) allowed = fieldSetOf(ownedView(la, sub, info.statusSubresource));
  }
  // Conflicts: fields another manager owns whose value this apply would change.
  json conflicts = json::array();
  std::vector<std::string> conflictMsgs;
  json conflictSet = json::object();
  json prevSet = json::object();
  json othersUnion = json::object();
  std::map<std::string, std::vector<std::string>> byManager;
  for (const auto& e : mf) {
    if (e.value("subresource", std::string()) != sub) continue;
    std::string m = e.value("manager", std::string());
    json fs = e.value("fieldsV1", json::object());
    if (m == manager && e.value("operation", std::string()) == "Apply") {
      prevSet = fs;
      continue;
    }
    othersUnion = fieldSetUnion(othersUnion, fs);
    json inter = fieldSetIntersection(appliedSet, fs);
    for (const auto& leaf : fieldSetLeafSegments(inter)) {
      if (valueAtSetPath(current, leaf) != valueAtSetPath(applied, leaf)) {
        json one = json::object();
        json* cur = &one;
        for (const auto& s : leaf) cur = &((*cur)[s] = json::object());
        conflictSet = fieldSetUnion(conflictSet, one);
        if (!fieldSetEmpty(fieldSetIntersection(one, allowed))) continue;  // taken over
        for (const auto& p : fieldSetPaths(one)) byManager[m].push_back(p);
      }
    }
  }
  if (!byManager.empty() && !w.force) {
    std::size_t n = 0;
    json causes = json::array();
    std::string body;
    for (auto& [m, paths] : byManager) {
      for (auto& p : paths) {
        ++n;
        causes.push_back(
            {{"reason", "FieldManagerConflict"},
             {"message", "conflict with " + quote(m) + " using " + info.apiVersionFor(version)},
             {"field", p}});
      }
    }
    std::string msg =
        "Apply failed with " + std::to_string(n) + (n == 1 ? " conflict: " : " conflicts: ");
    if (n == 1) {
      msg += "conflict with " + quote(byManager.begin()->first) + " using " +
             info.apiVersionFor(version) + ": " + byManager.begin()->second[0];
    } else {
      for (auto& [m, paths] : byManager) {
        msg += "conflicts with " + quote(m) + " using " + info.apiVersionFor(version) + ":";
        for (auto& p : paths) msg += "\n- " + p;
        msg += "\n";
      }
    }
    throw ApiException(
        409, "Conflict", msg,
        json{{"name", name}, {"group", info.group}, {"kind", info.plural}, {"causes", causes}});
  }
  // Fields this manager applied before and no longer applies, and nobody else owns, go away.
  json toRemove = fieldSetDifference(fieldSetDifference(prevSet, appliedSet), othersUnion);
  json result = current;
  if (status) {
    json st = result.value("status", json::object());
    json wrap = {{"status", st}};
    removeFieldSet(wrap, toRemove);
    result["status"] = wrap["status"];
  } else {
    removeFieldSet(result, toRemove);
  }
  json patchBody = applied;
  patchBody.erase("apiVersion");
  patchBody.erase("kind");
  patchBody["metadata"].erase("resourceVersion");
  result = applyStrategicMergePatch(result, patchBody);
  // lastAppliedUpdater: an apply by kubectl keeps an existing last-applied-configuration
  // annotation current (the applied object without the annotation, as JSON with a newline).
  if (!lastApplied.empty() && manager == "kubectl" && !status) {
    json la = appliedIn;
    if (la.contains("metadata") && la["metadata"].is_object() &&
        la["metadata"].contains("annotations") && la["metadata"]["annotations"].is_object()) {
      la["metadata"]["annotations"].erase(kLastApplied);
      if (la["metadata"]["annotations"].empty()) la["metadata"].erase("annotations");
    }
    result["metadata"]["annotations"][kLastApplied] = la.dump() + "\n";
  }
  if (!metaString(applied, "resourceVersion").empty()) {
    result["metadata"]["resourceVersion"] = applied["metadata"]["resourceVersion"];
  }
  // New ownership: this manager owns what it applied; forced fields leave their old owners.
  json newMf = json::array();
  bool found = false;
  for (auto e : mf) {
    bool same = e.value("subresource", std::string()) == sub &&
                e.value("manager", std::string()) == manager &&
                e.value("operation", std::string()) == "Apply";
    if (same) {
      e["fieldsV1"] = appliedSet;
      e["time"] = nowRfc3339();
      e["apiVersion"] = info.apiVersionFor(version);
      found = true;
    } else if (e.value("subresource", std::string()) == sub && !fieldSetEmpty(conflictSet)) {
      e["fieldsV1"] = fieldSetDifference(e.value("fieldsV1", json::object()), conflictSet);
      if (fieldSetEmpty(e["fieldsV1"])) continue;
    }
    newMf.push_back(e);
  }
  if (!found) {
    json e = {{"manager", manager},
              {"operation", "Apply"},
              {"apiVersion", info.apiVersionFor(version)},
              {"time", nowRfc3339()},
              {"fieldsType", "FieldsV1"},
              {"fieldsV1", appliedSet}};
    if (status) e["subresource"] = "status";
    newMf.push_back(e);
  }
  return updateLocked(info, ns, name, result, status, w, &newMf);
}

// ---------------------------------------------------------------------------------------------
// Subscribers

int Storage::subscribe(Subscriber subscriber) {
  std::lock_guard l(subscribersMu_);
  int id = nextSubscriber_++;
  subscribers_[id] = std::move(subscriber);
  return id;
}

void Storage::unsubscribe(int id) {
  std::lock_guard l(subscribersMu_);
  subscribers_.erase(id);
}

void Storage::dispatchLoop() {
  std::vector<Subscriber> subs;
  while (true) {
    std::shared_ptr<const HistoryEntry> ev;
    {
      std::unique_lock l(dispatchMu_);
      dispatchCv_.wait(l, [&] { return stopping_ || !dispatchQueue_.empty(); });
      if (stopping_) return;
      ev = std::move(dispatchQueue_.front());
      dispatchQueue_.pop_front();
    }
    subs.clear();
    {
      std::lock_guard l(subscribersMu_);
      for (auto& [_, s] : subscribers_) subs.push_back(s);
    }
    for (auto& s : subs) {
      try {
        s(*ev);
      } catch (const std::exception& e) {
        // A subscriber's failure (e.g. a conflict on a write-back) must not stop the others.
        std::fprintf(stderr, "kubesim: subscriber failed on %s: %s\n", ev->resource.c_str(),
                     e.what());
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Persistence: a JSON snapshot of every object and the resourceVersion counter, written at most
// every persistInterval after a change and at shutdown; loaded at construction.

void Storage::persistNow() {
  if (options_.dataDir.empty()) return;
  json state;
  {
    std::shared_lock lock(mu_);
    state["resourceVersion"] = rv_;
    json res = json::object();
    for (auto& [r, bucket] : data_) {
      json arr = json::array();
      for (auto& [_, o] : bucket) arr.push_back(o);
      res[r] = arr;
    }
    state["resources"] = res;
  }
  std::filesystem::create_directories(options_.dataDir);
  std::string path = options_.dataDir + "/" + kStateFile;
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << state.dump();
    if (!out) {
      std::fprintf(stderr, "kubesim: cannot write %s\n", tmp.c_str());
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec)
    std::fprintf(stderr, "kubesim: cannot rename %s: %s\n", tmp.c_str(), ec.message().c_str());
}

void Storage::persistLoop() {
  while (!stopping_) {
    {
      std::unique_lock l(persistMu_);
      persistCv_.wait_for(l, options_.persistInterval, [&] { return stopping_.load(); });
    }
    if (stopping_) return;
    if (dirty_.exchange(false)) persistNow();
  }
}

void Storage::load() {
  std::string path = options_.dataDir + "/" + kStateFile;
  std::ifstream in(path);
  if (!in) return;
  json state = json::parse(in, nullptr, false);
  if (state.is_discarded() || !state.is_object()) {
    throw std::runtime_error("kubesim: " + path +
                             " is not valid JSON; move it away to start empty");
  }
  rv_ = state.value("resourceVersion", std::uint64_t{0});
  compacted_ = rv_;
  const json& res = state["resources"];
  const std::string crds = "customresourcedefinitions.apiextensions.k8s.io";
  if (res.contains(crds)) {
    for (const auto& crd : res[crds]) {
      try {
        registerCrd(crd);
      } catch (const ApiException& e) {
        std::fprintf(stderr, "kubesim: skipping stored CRD: %s\n", e.what());
      }
    }
  }
  for (auto it = res.begin(); it != res.end(); ++it) {
    auto& bucket = data_[it.key()];
    auto infoIt = infos_.find(it.key());
    bool namespaced = infoIt == infos_.end() ? true : infoIt->second.namespaced;
    for (const auto& o : it.value()) {
      bucket[keyOf(namespaced ? metaString(o, "namespace") : "", metaString(o, "name"))] = o;
    }
  }
}

}  // namespace kubesim
