#pragma once
// A SharedInformer driven by the test: it stores objects and calls handlers synchronously.
#include <atomic>
#include <map>
#include <mutex>
#include <vector>

#include "operator/kube/informer.h"

namespace runtimetest {

class FakeStore : public kube::Store {
 public:
  kube::ObjectPtr get(const std::string& ns, const std::string& name) const override {
    std::lock_guard l(mu);
    auto it = objects.find(ns + "/" + name);
    return it == objects.end() ? nullptr : it->second;
  }
  std::vector<kube::ObjectPtr> list(const std::string& ns) const override {
    std::lock_guard l(mu);
    std::vector<kube::ObjectPtr> out;
    for (auto& [k, v] : objects)
      if (ns.empty() || v->value("/metadata/namespace"_json_pointer, "") == ns) out.push_back(v);
    return out;
  }
  std::vector<kube::ObjectPtr> byIndex(const std::string&, const std::string&) const override {
    return {};
  }
  bool hasSynced() const override { return synced; }
  std::size_t size() const override {
    std::lock_guard l(mu);
    return objects.size();
  }

  mutable std::mutex mu;
  std::map<std::string, kube::ObjectPtr> objects;
  std::atomic<bool> synced{false};
};

class FakeInformer : public kube::SharedInformer {
 public:
  const kube::Store& store() const override { return store_; }
  void addEventHandler(kube::EventHandler h) override { handlers_.push_back(std::move(h)); }
  void start() override { store_.synced = true; }
  void stop() override {}
  bool hasSynced() const override { return store_.synced; }
  void setSynced(bool s) { store_.synced = s; }

  static std::string keyOf(const kube::json& o) {
    return o["metadata"].value("namespace", "") + "/" + o["metadata"].value("name", "");
  }
  void add(const kube::json& o) {
    auto p = std::make_shared<const kube::json>(o);
    kube::ObjectPtr old;
    {
      std::lock_guard l(store_.mu);
      auto& slot = store_.objects[keyOf(o)];
      old = slot;
      slot = p;
    }
    for (auto& h : handlers_) {
      if (old) {
        if (h.onUpdate) h.onUpdate(old, p);
      } else if (h.onAdd) {
        h.onAdd(p);
      }
    }
  }
  void remove(const kube::json& o) {
    kube::ObjectPtr old;
    {
      std::lock_guard l(store_.mu);
      auto it = store_.objects.find(keyOf(o));
      if (it == store_.objects.end()) return;
      old = it->second;
      store_.objects.erase(it);
    }
    for (auto& h : handlers_)
      if (h.onDelete) h.onDelete(old);
  }

 private:
  FakeStore store_;
  std::vector<kube::EventHandler> handlers_;
};

}  // namespace runtimetest
