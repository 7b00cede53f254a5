#pragma once
// A scripted kube::Client for unit tests of the watcher and informer: lists and watches answer
// from queues the test fills, and every call is recorded.
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>

#include "operator/kube/client.h"

namespace kubetest {

using kube::json;

inline json obj(const std::string& ns, const std::string& name, const std::string& rv,
                json labels = json::object()) {
  return {{"apiVersion", "v1"},
          {"kind", "Pod"},
          {"metadata",
           {{"namespace", ns},
            {"name", name},
            {"resourceVersion", rv},
            {"uid", "uid-" + name},
            {"labels", labels}}}};
}

// Events a scripted watch hands out; an empty deque ends the stream (or blocks if `hold`).
struct ScriptedWatch {
  std::deque<kube::Result<kube::WatchEvent>> events;
  bool hold = false;  // block after the events until cancelled
};

class FakeClient : public kube::Client {
 public:
  std::mutex mu;
  std::condition_variable cv;
  std::deque<kube::Result<kube::ObjectList>> lists;
  // Answers for one namespace, taken before `lists` (watchers of several namespaces run at once).
  std::map<std::string, std::deque<kube::Result<kube::ObjectList>>> listsByNamespace;
  std::deque<kube::Result<ScriptedWatch>> watches;
  std::vector<kube::ListOptions> listCalls;
  std::vector<kube::WatchOptions> watchCalls;

  kube::Result<json> get(const kube::ResourceType&, const std::string&,
                         const std::string&) override {
    return kube::ApiError{404, "NotFound", "not found", {}, 0};
  }
  kube::Result<kube::ObjectList> list(const kube::ResourceType&, const std::string& ns,
                                      const kube::ListOptions& o) override {
    std::unique_lock<std::mutex> lock(mu);
    listCalls.push_back(o);
    if (auto it = listsByNamespace.find(ns); it != listsByNamespace.end() && !it->second.empty()) {
      auto r = it->second.front();
      it->second.pop_front();
      return r;
    }
    if (lists.empty()) return kube::ApiError::transport("ConnectionFailed", "no scripted list");
    auto r = lists.front();
    lists.pop_front();
    return r;
  }
  kube::Result<json> create(const kube::ResourceType&, const std::string&, const json&) override {
    return json();
  }
  kube::Result<json> update(const kube::ResourceType&, const json&) override { return json(); }
  kube::Result<json> updateStatus(const kube::ResourceType&, const json&) override {
    return json();
  }
  kube::Result<json> patch(const kube::ResourceType&, const std::string&, const std::string&,
                           const json&, const kube::PatchOptions&) override {
    return json();
  }
  kube::Result<json> remove(const kube::ResourceType&, const std::string&, const std::string&,
                            const kube::DeleteOptions&) override {
    return json();
  }

  class Stream : public kube::WatchStream {
   public:
    explicit Stream(ScriptedWatch w) : w_(std::move(w)) {}
    std::optional<kube::Result<kube::WatchEvent>> next() override {
      std::unique_lock<std::mutex> lock(mu_);
      if (!w_.events.empty()) {
        auto e = w_.events.front();
        w_.events.pop_front();
        return e;
      }
      if (w_.hold) cv_.wait(lock, [&] { return cancelled_; });
      return std::nullopt;
    }
    void cancel() override {
      std::lock_guard<std::mutex> lock(mu_);
      cancelled_ = true;
      cv_.notify_all();
    }

   private:
    std::mutex mu_;
    std::condition_variable cv_;
    ScriptedWatch w_;
    bool cancelled_ = false;
  };

  kube::Result<std::unique_ptr<kube::WatchStream>> watch(const kube::ResourceType&,
                                                         const std::string&,
                                                         const kube::WatchOptions& o) override {
    std::unique_lock<std::mutex> lock(mu);
    watchCalls.push_back(o);
    if (watches.empty()) {
      // Nothing scripted: a quiet stream that ends only when cancelled.
      return std::unique_ptr<kube::WatchStream>(std::make_unique<Stream>(ScriptedWatch{{}, true}));
    }
    auto w = watches.front();
    watches.pop_front();
    if (!w) return w.error();
    return std::unique_ptr<kube::WatchStream>(std::make_unique<Stream>(std::move(w.value())));
  }
};

inline kube::WatchEvent ev(const std::string& type, json o) {
  return {type, std::move(o)};
}

inline kube::ApiError gone() {
  return kube::ApiError{410, "Expired", "too old resource version", {}, 0};
}

}  // namespace kubetest
