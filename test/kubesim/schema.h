#pragma once
// Structural openAPIV3Schema handling for custom resources, in the order the API server applies
// it: prune unknown fields (remembering them for fieldValidation=Strict/Warn), default, validate.
#include <string>
#include <vector>

#include "test/kubesim/object_store.h"
#include "test/kubesim/util.h"

namespace kubesim {

// Removes fields the schema does not declare (unless x-kubernetes-preserve-unknown-fields) and
// fills `default`s. `unknown` receives the pruned paths ("spec.bogus", "spec.items[0].x").
// At the root, apiVersion, kind and metadata are always kept.
void pruneAndDefault(const json& schema, json& object, std::vector<std::string>& unknown);

// Validates type, required, enum, pattern, min/max, length, items and properties counts.
// Field paths and messages match kube-apiserver's for custom resources.
std::vector<FieldCause> validateSchema(const json& schema, const json& object);

}  // namespace kubesim
