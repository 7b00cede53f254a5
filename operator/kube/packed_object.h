#pragma once
// One object as an informer's cache holds it: the transformed object encoded as MessagePack
// (nlohmann's encoder), several times smaller than a json tree, whose every value and map node
// is a heap allocation. Readers get a json tree decoded on demand and dropped after use, so the
// memory of a cache is its bytes, not its trees (issue 13: 10,000 runs in 64 MB).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "operator/kube/store.h"

namespace kube {

class PackedObject {
 public:
  explicit PackedObject(const json& object);

  const std::string& resourceVersion() const { return resourceVersion_; }
  std::size_t byteSize() const { return bytes_.size(); }
  // A fresh tree each call: the caller may keep it as long as it wants.
  ObjectPtr unpack() const;

 private:
  std::string resourceVersion_;
  std::vector<std::uint8_t> bytes_;
};

using PackedPtr = std::shared_ptr<const PackedObject>;

inline PackedPtr pack(const json& object) {
  return std::make_shared<const PackedObject>(object);
}

}  // namespace kube
