#pragma once
// Discovery (/api, /apis, per group and version) and OpenAPI v2/v3 documents generated from the
// resources served right now (built-in kinds and established CRDs).
#include <string>
#include <vector>

#include "test/kubesim/builtin_kinds.h"

namespace kubesim {

// The Kubernetes version kubesim reports at /version.
json versionInfo();
json apiVersions(const std::string& serverAddress);
json apiGroupList(const std::vector<ResourceInfo>& infos);
// null when the group is not served.
json apiGroup(const std::vector<ResourceInfo>& infos, const std::string& group);
// null when the group/version is not served.
json apiResourceList(const std::vector<ResourceInfo>& infos, const std::string& group,
                     const std::string& version);

// /openapi/v3: {"paths": {"apis/g/v": {"serverRelativeURL": "/openapi/v3/apis/g/v?hash=..."}}}
json openapiV3Root(const std::vector<ResourceInfo>& infos);
// /openapi/v3/apis/<g>/<v> or /openapi/v3/api/v1; null when not served.
json openapiV3GroupVersion(const std::vector<ResourceInfo>& infos, const std::string& group,
                           const std::string& version);
// /openapi/v2 (JSON only): definitions of the custom resources.
json openapiV2(const std::vector<ResourceInfo>& infos);

}  // namespace kubesim
