#pragma once
// Records Kubernetes Events about an object; repeats of the same (object, reason, message) are
// aggregated into a count instead of new Events.
#include <nlohmann/json.hpp>

#include <string>

namespace runtime {

class EventRecorder {
 public:
  virtual ~EventRecorder() = default;
  // `object` is the involved object as read from the API (apiVersion, kind, metadata.name,
  // namespace, uid, resourceVersion are used). type is "Normal" or "Warning"; reason is CamelCase.
  virtual void record(const nlohmann::json& object, const std::string& type,
                      const std::string& reason, const std::string& message) = 0;
};

}  // namespace runtime
