#pragma once
// Patches (JSON merge, JSON patch, strategic merge) and field ownership (managedFields, server-side
// apply) with the list-merge keys of the built-in kinds kubesim serves.
#include <string>
#include <vector>

#include "test/kubesim/object_store.h"

namespace kubesim {

enum class PatchType { Merge, Json, Strategic, Apply };

// RFC 7386 JSON merge patch.
json applyMergePatch(json target, const json& patch);
// RFC 6902 JSON patch; throws ApiException 422 when an operation does not apply.
json applyJsonPatch(const json& target, const json& ops);
// Strategic merge patch: lists with a merge key (containers by name, env by name, conditions by
// type, ...) are merged element-wise; directives $patch, $retainKeys, $setElementOrder and
// $deleteFromPrimitiveList are honoured. Lists without a merge key are replaced.
json applyStrategicMergePatch(json target, const json& patch);

// Field sets in the FieldsV1 format ("f:spec": {"f:image": {}}, "k:{\"name\":\"x\"}": {...}).
json fieldSetOf(const json& object);
json fieldSetUnion(const json& a, const json& b);
json fieldSetDifference(const json& a, const json& b);  // a minus b (leaves)
json fieldSetIntersection(const json& a, const json& b);
bool fieldSetEmpty(const json& s);
// Leaf paths of a set, printed like the API server prints them in conflicts: ".spec.image".
std::vector<std::string> fieldSetPaths(const json& s);
// The fields whose values differ between two objects (added, changed or removed).
json changedFields(const json& before, const json& after);
// Removes from `object` the leaves in `set`.
void removeFieldSet(json& object, const json& set);
// The value at a set path (as produced by fieldSetPaths' segments); null when absent.
json valueAtSetPath(const json& object, const std::vector<std::string>& segments);
std::vector<std::vector<std::string>> fieldSetLeafSegments(const json& s);

}  // namespace kubesim
