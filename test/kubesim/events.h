#pragma once
// core/v1 Events as the kubelet, scheduler and controller manager write them: one object per
// (object, reason, message, source), repeated occurrences bump count and lastTimestamp.
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
  ObjectStore& store_;
  std::mutex mu_;
  std::map<std::string, std::string> names_;  // aggregation key -> Event name
};

}  // namespace kubesim
