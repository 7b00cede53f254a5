#include "operator/kube/packed_object.h"

namespace kube {

PackedObject::PackedObject(const json& object) : bytes_(json::to_msgpack(object)) {
  bytes_.shrink_to_fit();
  if (auto md = object.find("metadata"); md != object.end() && md->is_object()) {
    if (auto rv = md->find("resourceVersion"); rv != md->end() && rv->is_string()) {
      resourceVersion_ = rv->get<std::string>();
    }
  }
}

ObjectPtr PackedObject::unpack() const {
  return std::make_shared<const json>(json::from_msgpack(bytes_));
}

}  // namespace kube
