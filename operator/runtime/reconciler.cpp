#include "operator/runtime/reconciler.h"

namespace runtime {

ObjectKey ObjectKey::parse(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

}  // namespace runtime
