#pragma once
// Server-side Table output (Accept: application/json;as=Table;g=meta.k8s.io;v=v1): the columns
// kube-apiserver prints for the built-in kinds and CRD additionalPrinterColumns.
#include <string>
#include <vector>

#include "test/kubesim/builtin_kinds.h"

namespace kubesim {

// includeObject: None, Metadata (PartialObjectMetadata, the default) or Object.
json toTable(const ResourceInfo& info, const std::string& version, const std::vector<json>& objects,
             const std::string& includeObject, const json& listMetadata);

// Evaluates the JSONPath subset used by printer columns and `kubectl wait --for=jsonpath`:
// .a.b, [n], [*], [?(@.k=="v")]. Returns every match.
std::vector<json> evalJsonPath(const json& object, const std::string& path);

}  // namespace kubesim
