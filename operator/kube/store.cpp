#include "operator/kube/store.h"

namespace kube {

Transform defaultTransform() {
  return [](json obj) {
    if (auto md = obj.find("metadata"); md != obj.end() && md->is_object()) {
      md->erase("managedFields");
      if (auto an = md->find("annotations"); an != md->end() && an->is_object()) {
        an->erase("kubectl.kubernetes.io/last-applied-configuration");
        if (an->empty()) md->erase("annotations");
      }
    }
    return obj;
  };
}

}  // namespace kube
