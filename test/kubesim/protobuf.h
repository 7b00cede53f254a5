#pragma once
// kubectl's typed clients (kubectl create namespace/configmap/secret/job/..., kubectl run) send
// request bodies as Kubernetes protobuf ("k8s\0" + runtime.Unknown) and cannot fall back to JSON.
// kubesim answers in JSON (kubectl accepts it) but must read those bodies: this decodes the
// envelope and the kinds kubectl creates imperatively into the JSON the rest of kubesim uses.
#include <string>

#include "test/kubesim/object_store.h"

namespace kubesim {

bool isKubernetesProtobuf(const std::string& contentType);
// Throws ApiException 415 UnsupportedMediaType for kinds (or fields) it does not know, 400 for a
// malformed body.
json decodeKubernetesProtobuf(const std::string& body);

}  // namespace kubesim
