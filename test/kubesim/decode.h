#pragma once
// Decoding of built-in kinds as kube-apiserver's JSON decoder does it, before defaulting and
// validation: a field of the wrong JSON type, or a resource quantity that does not parse, makes the
// whole request a 400 BadRequest "<Kind> in version "v1" cannot be handled as a <Kind>: ...".
// Only the pod and Job fields that templates render are typed here (see docs/kubesim.md).
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace kubesim {

// Throws ApiException 400 when `obj` (a pods or jobs.batch object) cannot be decoded.
void decodeBuiltin(const std::string& qualifiedResource, const std::string& kind,
                   const std::string& version, const nlohmann::json& obj);

// Parses a resource.Quantity string; returns the apiserver's error text when it does not parse.
std::optional<std::string> quantityError(const std::string& text);
// The canonical form the API server stores a quantity in ("1024Mi" -> "1Gi", "0.5" -> "500m");
// the text itself when it cannot be canonicalised exactly here.
std::string canonicalQuantity(const std::string& text);
// The quantity's value as a number (for comparisons such as requests <= limits); nullopt when it
// does not parse.
std::optional<long double> quantityValue(const std::string& text);

}  // namespace kubesim
