#pragma once
// The environment the kubelet gives a container: env (value with $(VAR) expansion, fieldRef,
// configMapKeyRef, secretKeyRef) and envFrom (configMapRef, secretRef, with prefix), resolved
// when the container is created, with the kubelet's errors when a reference cannot be
// resolved (the container then waits with reason CreateContainerConfigError).
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "test/kubesim/object_store.h"

namespace kubesim {

// Reads a ConfigMap ("configmaps") or Secret ("secrets") of the pod's namespace; nullopt when
// it does not exist.
using ObjectLookup =
    std::function<std::optional<json>(const std::string& resource, const std::string& name)>;

struct ContainerEnv {
  std::vector<std::pair<std::string, std::string>> vars;  // in order, later names win
  std::string error;  // set when the container cannot be created, e.g. configmap "x" not found
  std::map<std::string, std::string> asMap() const;
};

// The environment of the container named `container` (the first container when empty).
ContainerEnv resolveContainerEnv(const json& pod, const std::string& container,
                                 const ObjectLookup& lookup);

// Kubernetes' $(VAR) expansion: a defined VAR is replaced, an undefined one is left as written,
// $$ is a literal $.
std::string expandEnvReferences(const std::string& text,
                                const std::map<std::string, std::string>& env);

}  // namespace kubesim
