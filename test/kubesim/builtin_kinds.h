#pragma once
// What kubesim serves: one ResourceInfo per resource (built-in kinds and CRD-defined kinds), with
// what discovery, openapi, tables and storage need to know about it.
#include <memory>
#include <string>
#include <vector>

#include "test/kubesim/object_store.h"

namespace kubesim {

struct PrinterColumn {
  std::string name;
  std::string type;  // string integer number boolean date
  std::string format;
  std::string description;
  std::string jsonPath;  // CRD additionalPrinterColumns; "" for built-in printers
  int priority = 0;
};

struct ResourceInfo {
  std::string group;                  // "" for core
  std::string version;                // the storage / preferred version
  std::vector<std::string> versions;  // served versions, preferred first
  std::string plural, singular, kind, listKind;
  bool namespaced = true;
  std::vector<std::string> shortNames, categories;
  bool statusSubresource = false;
  bool logSubresource = false;  // pods
  bool hasGeneration = false;   // metadata.generation maintained
  bool crd = false;
  // Another resource's storage seen through a conversion (events.k8s.io/v1 events are core/v1
  // events): the qualified plural of the storage resource, "" when this is its own storage.
  std::string storageResource;
  // CRD only: per-version schema and printer columns (index matches versions). Schemas are
  // shared: a ResourceInfo is copied on every request, and a CRD schema is the largest part.
  std::vector<std::shared_ptr<const json>> schemas;
  std::vector<std::vector<PrinterColumn>> columns;

  std::string qualified() const { return group.empty() ? plural : plural + "." + group; }
  std::string apiVersion() const { return group.empty() ? version : group + "/" + version; }
  std::string apiVersionFor(const std::string& v) const {
    return group.empty() ? v : group + "/" + v;
  }
  bool servesVersion(const std::string& v) const;
  const json* schemaFor(const std::string& v) const;
  const std::vector<PrinterColumn>* columnsFor(const std::string& v) const;
};

// The built-in kinds kubesim serves (core, batch, apps, coordination, rbac, events, apiextensions).
std::vector<ResourceInfo> builtinResources();

// Builds the ResourceInfo a CRD defines; throws ApiException 422 when the CRD is invalid.
ResourceInfo resourceFromCrd(const json& crd);
// Validates a CustomResourceDefinition as the API server would (names, versions, scope).
void validateCrd(const json& crd);

// core/v1 Event <-> events.k8s.io/v1 Event.
json eventToEventsV1(const json& coreEvent);
json eventFromEventsV1(const json& v1Event);

}  // namespace kubesim
