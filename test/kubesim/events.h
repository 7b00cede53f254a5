#pragma once
// Events as the kubelet, scheduler and controller manager write them: core/v1 (kubelet,
// controllers) with one object per (object, reason, message, source), repeated occurrences bump
// count and lastTimestamp; events.k8s.io/v1 (the scheduler, as a current kube-scheduler writes
// them: reportingController, action, note, regarding, eventTime; repeats grow `series`).
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "test/kubesim/object_store.h"

namespace kubesim {

struct EventSpec {
  std::string type = "Normal";  // Normal | Warning
  std::string reason;
  std::string message;
  std::string fieldPath;  // "spec.containers{main}" for container events
};

class EventRecorder {
 public:
  explicit EventRecorder(ObjectStore& store) : store_(store) {}
  // Records `event` about `object` as `component` (kubelet, default-scheduler, job-controller).
  // Never throws: an event that cannot be written (namespace terminating) is dropped, as in a
  // real cluster.
  void record(const json& object, const std::string& resource, const std::string& component,
              const EventSpec& event, const std::string& host = "");

 private:
  void recordEventsV1(const json& object, const std::string& resource,
                      const std::string& controller, const std::string& action,
                      const EventSpec& event);
  // Applies `grow` to the event recorded under the aggregation `key` and writes it back (retried
  // on 409); false when there is none or it is gone, so the caller writes a new one.
  bool growExisting(const std::string& key, const std::string& resource, const std::string& ns,
                    const std::function<void(json&)>& grow);
  ObjectStore& store_;
  std::mutex mu_;
  std::map<std::string, std::string> names_;  // aggregation key -> Event name
};

}  // namespace kubesim
