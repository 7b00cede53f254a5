#pragma once
// Decodes JSON text into a json tree, keeping only what a "keep" schema names.
//
// Informers receive whole objects (managedFields, a pod's spec, a Job's pod template) and keep a
// small part of each (controllers/flowrun/watches.cpp). Parsing the whole into a tree, one heap
// allocation per value, and trimming it afterwards was most of the operator's CPU per event and
// what bounded its restart (issue 13). The text is parsed with simdjson (Debian's
// libsimdjson-dev; a SIMD parser, gigabytes per second) and tree values are built only for what
// is kept: the rest costs a scan, not allocations.
//
// Schema: null keeps everything; an object keeps the members it names, each with its own schema
// (true, or any non-object, keeps the whole value); on an array, the schema applies to each
// element; on a scalar, it is ignored. Text simdjson refuses (e.g. an integer beyond 64 bits,
// which nlohmann reads as a double) is parsed by nlohmann and trimmed by the same schema, so the
// result never depends on which parser read it.
#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>

namespace kube {

// nullopt when the text is not JSON (either parser refuses it).
std::optional<nlohmann::json> decodeJson(std::string_view text,
                                         const nlohmann::json* keep = nullptr);

// The same trimming, on a tree already parsed.
nlohmann::json projectJson(nlohmann::json value, const nlohmann::json* keep);

}  // namespace kube
