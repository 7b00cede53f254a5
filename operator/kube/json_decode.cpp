#include "operator/kube/json_decode.h"

#include <simdjson.h>

#include <cstdint>

namespace kube {

namespace {

using json = nlohmann::json;

// The schema for a member of an object schema: nullptr when the member is not kept, and
// `keepAll` (a null schema) when it is kept whole.
const json keepAll;

const json* memberSchema(const json* keep, std::string_view key) {
  if (!keep || !keep->is_object()) return &keepAll;
  auto it = keep->find(key);
  if (it == keep->end()) return nullptr;
  return it->is_object() ? &*it : &keepAll;
}

const json* orNull(const json* schema) {
  return schema == &keepAll ? nullptr : schema;
}

json build(simdjson::dom::element e, const json* keep) {
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      json out = json::object();
      for (auto field : simdjson::dom::object(e)) {
        const json* sub = memberSchema(keep, field.key);
        if (!sub) continue;
        // Duplicate keys: the last wins, as nlohmann's parser does.
        out[std::string(field.key)] = build(field.value, orNull(sub));
      }
      return out;
    }
    case simdjson::dom::element_type::ARRAY: {
      json out = json::array();
      for (auto v : simdjson::dom::array(e)) out.push_back(build(v, keep));
      return out;
    }
    case simdjson::dom::element_type::STRING:
      return std::string(std::string_view(e));
    case simdjson::dom::element_type::INT64: {
      // nlohmann reads a non-negative integer as unsigned: the same types either way.
      const std::int64_t v = std::int64_t(e);
      if (v >= 0) return static_cast<std::uint64_t>(v);
      return v;
    }
    case simdjson::dom::element_type::UINT64:
      return std::uint64_t(e);
    case simdjson::dom::element_type::DOUBLE:
      return double(e);
    case simdjson::dom::element_type::BOOL:
      return bool(e);
    case simdjson::dom::element_type::NULL_VALUE:
      return nullptr;
  }
  return nullptr;
}

}  // namespace

json projectJson(json value, const json* keep) {
  if (!keep || !keep->is_object()) return value;
  if (value.is_array()) {
    for (auto& v : value) v = projectJson(std::move(v), keep);
    return value;
  }
  if (!value.is_object()) return value;
  json out = json::object();
  for (auto it = value.begin(); it != value.end(); ++it) {
    const json* sub = memberSchema(keep, it.key());
    if (sub) out[it.key()] = projectJson(std::move(it.value()), orNull(sub));
  }
  return out;
}

std::optional<json> decodeJson(std::string_view text, const json* keep) {
  // One parser per thread for small documents (watch events, single objects): it keeps its
  // buffers between documents, and is not safe to share. A large one (a list page) gets a parser
  // of its own, freed after: a parser's buffers are several bytes per byte of input, and kept for
  // good per thread they would be most of an idle operator's memory.
  constexpr std::size_t kLarge = 256 * 1024;
  thread_local simdjson::dom::parser shared;
  std::optional<simdjson::dom::parser> own;
  if (text.size() > kLarge) own.emplace();
  simdjson::dom::parser& parser = own ? *own : shared;
  simdjson::dom::element doc;
  if (parser.parse(text.data(), text.size()).get(doc) == simdjson::SUCCESS) {
    return build(doc, keep);
  }
  json tree = json::parse(text, nullptr, false);
  if (tree.is_discarded()) return std::nullopt;
  return projectJson(std::move(tree), keep);
}

}  // namespace kube
