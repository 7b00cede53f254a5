#include "controllers/flowrun/outcome_finalizer.h"

#include <string>

namespace controllers::flowrun {

namespace {

using json = nlohmann::json;

void addTo(json& metadata) {
  if (!metadata.is_object()) metadata = json::object();
  json& f = metadata["finalizers"];
  if (!f.is_array()) f = json::array();
  for (const json& x : f) {
    if (x == kOutcomeFinalizer) return;
  }
  f.push_back(kOutcomeFinalizer);
}

const json* finalizersOf(const json& object) {
  if (!object.is_object()) return nullptr;
  auto md = object.find("metadata");
  if (md == object.end() || !md->is_object()) return nullptr;
  auto f = md->find("finalizers");
  if (f == md->end() || !f->is_array()) return nullptr;
  return &*f;
}

}  // namespace

void addOutcomeFinalizer(json& job) {
  addTo(job["metadata"]);
  if (job.contains("spec") && job["spec"].is_object() && job["spec"].contains("template") &&
      job["spec"]["template"].is_object()) {
    addTo(job["spec"]["template"]["metadata"]);
  }
}

bool hasOutcomeFinalizer(const json& object) {
  return outcomeFinalizerRemoval(object).has_value();
}

std::optional<json> outcomeFinalizerRemoval(const json& object) {
  const json* f = finalizersOf(object);
  if (!f) return std::nullopt;
  for (std::size_t i = 0; i < f->size(); ++i) {
    if ((*f)[i] != kOutcomeFinalizer) continue;
    const std::string path = "/metadata/finalizers/" + std::to_string(i);
    return json::array({json{{"op", "test"}, {"path", path}, {"value", kOutcomeFinalizer}},
                        json{{"op", "remove"}, {"path", path}}});
  }
  return std::nullopt;
}

}  // namespace controllers::flowrun
