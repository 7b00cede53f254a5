#include "operator/kube/watch_event_decoder.h"

#include "operator/kube/json_decode.h"

namespace kube {

namespace {

bool knownType(const std::string& type) {
  return type == "ADDED" || type == "MODIFIED" || type == "DELETED" || type == "BOOKMARK";
}

int statusCode(const json& status) {
  auto it = status.is_object() ? status.find("code") : status.end();
  if (it == status.end() || !it->is_number_integer()) return 500;
  // A code outside what HTTP can carry is a malformed Status, not a reason to misclassify.
  auto code = it->get<std::int64_t>();
  return code >= 100 && code <= 599 ? static_cast<int>(code) : 500;
}

// The type as a JSON string, ASCII-only with invalid UTF-8 replaced, cut to a readable length:
// it ends up in logs and status messages that must stay valid UTF-8.
std::string jsonQuoted(const std::string& text) {
  return json(text.substr(0, 64)).dump(-1, ' ', true, json::error_handler_t::replace);
}

}  // namespace

Result<WatchEvent> decodeWatchEvent(const std::string& line, const json* keep) {
  const json lineSchema = keep ? json{{"type", true}, {"object", *keep}} : json();
  auto decoded = decodeJson(line, keep ? &lineSchema : nullptr);
  // An ERROR carries a Status, which the object schema would trim: decoded again whole (rare).
  if (keep && decoded && decoded->is_object() && decoded->value("type", json()) == "ERROR") {
    decoded = decodeJson(line);
  }
  if (!decoded)
    return ApiError::transport("BadResponse", "the watch stream sent a malformed event");
  json j = std::move(*decoded);
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return ApiError::transport("BadResponse", "the watch stream sent a malformed event");
  }
  WatchEvent ev;
  ev.type = j["type"].get<std::string>();
  ev.object = std::move(j["object"]);
  if (ev.type == "ERROR") return ApiError::fromStatus(statusCode(ev.object), ev.object);
  if (!knownType(ev.type)) {
    return ApiError::transport(
        "BadResponse", "the watch stream sent an unknown event type " + jsonQuoted(ev.type));
  }
  if (!ev.object.is_object()) {
    return ApiError::transport("BadResponse",
                               "the watch stream sent a " + ev.type + " event without an object");
  }
  return ev;
}

}  // namespace kube
