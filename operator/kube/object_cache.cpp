#include "operator/kube/object_cache.h"

#include <algorithm>
#include <mutex>

namespace kube {

namespace {

const json& field(const json& o, const char* name) {
  static const json kNull;
  if (!o.is_object()) return kNull;
  auto it = o.find(name);
  return it == o.end() ? kNull : *it;
}

std::string str(const json& o, const char* name) {
  const json& v = field(o, name);
  return v.is_string() ? v.get<std::string>() : std::string();
}

// The uids of the owners (only the controller's, with controllerOnly).
std::vector<std::string> ownerUids(const json& object, bool controllerOnly) {
  std::vector<std::string> out;
  const json& owners = field(field(object, "metadata"), "ownerReferences");
  if (!owners.is_array()) return out;
  for (const auto& o : owners) {
    const json& controller = field(o, "controller");
    const bool isController = controller.is_boolean() && controller.get<bool>();
    std::string uid = str(o, "uid");
    if (!uid.empty() && (isController || !controllerOnly)) out.push_back(std::move(uid));
  }
  return out;
}

}  // namespace

IndexFunc controllerUidIndexer() {
  return [](const json& object) { return ownerUids(object, true); };
}

ObjectCache::ObjectCache(std::vector<std::string> scopes, std::vector<std::string> labelIndexes,
                         Indexers indexers)
    : labelIndexes_(std::move(labelIndexes)), indexers_(std::move(indexers)) {
  if (scopes.empty()) scopes.push_back("");
  pendingScopes_.insert(scopes.begin(), scopes.end());
}

std::string ObjectCache::keyOf(const json& object) {
  const json& md = field(object, "metadata");
  std::string ns = str(md, "namespace");
  std::string name = str(md, "name");
  return ns.empty() ? name : ns + "/" + name;
}

bool ObjectCache::inScope(const std::string& scope, const std::string& key) {
  return scope.empty() || (key.size() > scope.size() && key.compare(0, scope.size(), scope) == 0 &&
                           key[scope.size()] == '/');
}

ObjectCache::IndexValues ObjectCache::indexValues(const json& object) const {
  IndexValues out;
  auto add = [&out](const std::string& index, const std::string& value) {
    out.append(index).push_back('\0');
    out.append(value).push_back('\0');
  };
  const json& md = field(object, "metadata");
  std::string ns = str(md, "namespace");
  if (!ns.empty()) add(kIndexNamespace, ns);
  const json& labels = field(md, "labels");
  for (const auto& key : labelIndexes_) {
    const json& v = field(labels, key.c_str());
    if (v.is_string()) add("label:" + key, v.get<std::string>());
  }
  for (const auto& [name, fn] : indexers_) {
    for (const auto& v : fn(object)) add(name, v);
  }
  out.shrink_to_fit();
  return out;
}

namespace {

// Calls fn("index\0value") for each entry of an encoded IndexValues.
template <typename Fn>
void forEachIndexKey(const std::string& values, Fn fn) {
  std::size_t pos = 0;
  while (pos < values.size()) {
    std::size_t mid = values.find('\0', pos);
    std::size_t end = values.find('\0', mid + 1);
    fn(values.substr(pos, end - pos));
    pos = end + 1;
  }
}

std::string indexKey(const std::string& index, const std::string& value) {
  std::string k = index;
  k.push_back('\0');
  return k + value;
}

}  // namespace

void ObjectCache::insertLocked(const std::string& key, PackedPtr packed,
                               const IndexValues& values) {
  eraseLocked(key);
  packedBytes_ += packed->byteSize();
  auto [it, inserted] = objects_.emplace(key, std::move(packed));
  const std::string* stableKey = &it->first;
  forEachIndexKey(values, [&](const std::string& k) { indexes_[k].insert(stableKey); });
}

// The index values are not kept per object (they would be a tenth of the cache): an erase
// computes them again, from the key alone when the namespace is the only index, else from the
// decoded object.
void ObjectCache::eraseLocked(const std::string& key) {
  auto it = objects_.find(key);
  if (it == objects_.end()) return;
  const std::string* stableKey = &it->first;
  IndexValues values;
  if (labelIndexes_.empty() && indexers_.empty()) {
    if (auto slash = key.find('/'); slash != std::string::npos) {
      values = std::string(kIndexNamespace) + '\0' + key.substr(0, slash) + '\0';
    }
  } else {
    values = indexValues(*it->second->unpack());
  }
  forEachIndexKey(values, [&](const std::string& k) {
    auto idx = indexes_.find(k);
    if (idx == indexes_.end()) return;
    idx->second.erase(stableKey);
    if (idx->second.empty()) indexes_.erase(idx);
  });
  packedBytes_ -= it->second->byteSize();
  objects_.erase(it);
}

std::vector<Notification> ObjectCache::apply(const std::string& scope, WatcherEvent event) {
  std::vector<Notification> out;
  std::unique_lock<std::shared_mutex> lock(mu_);
  switch (event.type) {
    case WatcherEvent::Type::Init:
      buffers_[scope].clear();
      return out;
    case WatcherEvent::Type::InitApply: {
      std::string key = keyOf(event.object);
      buffers_[scope][key] = Buffered{pack(event.object), indexValues(event.object)};
      return out;
    }
    case WatcherEvent::Type::InitDone: {
      auto fresh = std::move(buffers_[scope]);
      buffers_.erase(scope);
      // Vanished while we were not watching: deleted, with the last state we knew.
      std::vector<std::string> gone;
      for (const auto& [key, packed] : objects_) {
        if (inScope(scope, key) && !fresh.count(key)) gone.push_back(key);
      }
      for (const auto& key : gone) {
        PackedPtr last = objects_[key];
        eraseLocked(key);
        out.push_back({Notification::Type::Delete, last, last, nullptr});
      }
      for (auto& [key, entry] : fresh) {
        auto it = objects_.find(key);
        PackedPtr old = it == objects_.end() ? nullptr : it->second;
        if (old && old->resourceVersion() == entry.packed->resourceVersion()) continue;
        out.push_back({old ? Notification::Type::Update : Notification::Type::Add, old,
                       entry.packed, nullptr});
        insertLocked(key, entry.packed, entry.indexValues);
      }
      pendingScopes_.erase(scope);
      return out;
    }
    case WatcherEvent::Type::Apply: {
      std::string key = keyOf(event.object);
      auto tree = std::make_shared<const json>(std::move(event.object));
      PackedPtr packed = pack(*tree);
      auto it = objects_.find(key);
      PackedPtr old = it == objects_.end() ? nullptr : it->second;
      if (old && old->resourceVersion() == packed->resourceVersion()) return out;
      insertLocked(key, packed, indexValues(*tree));
      out.push_back({old ? Notification::Type::Update : Notification::Type::Add, old,
                     std::move(packed), std::move(tree)});
      return out;
    }
    case WatcherEvent::Type::Delete: {
      std::string key = keyOf(event.object);
      auto it = objects_.find(key);
      PackedPtr last = it != objects_.end() ? it->second : pack(event.object);
      if (it != objects_.end()) eraseLocked(key);
      out.push_back({Notification::Type::Delete, last, last, nullptr});
      return out;
    }
  }
  return out;
}

ObjectPtr ObjectCache::get(const std::string& ns, const std::string& name) const {
  PackedPtr found;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = objects_.find(ns.empty() ? name : ns + "/" + name);
    if (it == objects_.end()) return nullptr;
    found = it->second;
  }
  return found->unpack();  // outside the lock: decoding is the expensive part
}

std::vector<PackedPtr> ObjectCache::snapshot() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  std::vector<PackedPtr> out;
  out.reserve(objects_.size());
  for (const auto& [key, packed] : objects_) out.push_back(packed);
  return out;
}

std::vector<ObjectPtr> ObjectCache::list(const std::string& ns) const {
  if (!ns.empty()) return byIndex(kIndexNamespace, ns);
  std::vector<ObjectPtr> out;
  for (const auto& p : snapshot()) out.push_back(p->unpack());
  return out;
}

bool ObjectCache::maintains(const std::string& indexName) const {
  if (indexName == kIndexNamespace || indexers_.count(indexName)) {
    return true;
  }
  return indexName.rfind("label:", 0) == 0 && std::find(labelIndexes_.begin(), labelIndexes_.end(),
                                                        indexName.substr(6)) != labelIndexes_.end();
}

namespace {

// What an index nobody maintains would hold for this object: answered by a scan.
bool matchesUnmaintained(const json& object, const std::string& indexName,
                         const std::string& value) {
  const json& md = field(object, "metadata");
  if (indexName.rfind("label:", 0) == 0) {
    const json& v = field(field(md, "labels"), indexName.substr(6).c_str());
    return v.is_string() && v.get<std::string>() == value;
  }
  if (indexName == kIndexOwnerUid || indexName == kIndexControllerUid) {
    for (const auto& uid : ownerUids(object, indexName == kIndexControllerUid)) {
      if (uid == value) return true;
    }
  }
  return false;
}

}  // namespace

std::vector<ObjectPtr> ObjectCache::byIndex(const std::string& indexName,
                                            const std::string& value) const {
  std::vector<PackedPtr> found;
  const bool maintained = maintains(indexName);
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (maintained) {
      auto idx = indexes_.find(indexKey(indexName, value));
      if (idx == indexes_.end()) return {};
      for (const std::string* key : idx->second) found.push_back(objects_.at(*key));
    } else {
      for (const auto& [k, packed] : objects_) found.push_back(packed);
    }
  }
  std::vector<ObjectPtr> out;
  out.reserve(found.size());
  for (const auto& p : found) {
    ObjectPtr obj = p->unpack();
    if (maintained || matchesUnmaintained(*obj, indexName, value)) out.push_back(std::move(obj));
  }
  return out;
}

bool ObjectCache::hasSynced() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return pendingScopes_.empty();
}

std::size_t ObjectCache::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return objects_.size();
}

std::size_t ObjectCache::packedBytes() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return packedBytes_;
}

}  // namespace kube
