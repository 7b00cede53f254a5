#pragma once
// Decodes one line of a watch stream ({"type": ..., "object": ...}) into a WatchEvent. An ERROR
// event becomes the ApiError of its Status (a 410 Gone means "relist"); anything malformed is a
// transport error (reason BadResponse), never an exception. With `keep`, the event's object is
// trimmed to that schema while it is decoded (json_decode.h); an ERROR's Status never is.
#include <string>

#include "operator/kube/client.h"

namespace kube {

Result<WatchEvent> decodeWatchEvent(const std::string& line, const json* keep = nullptr);

}  // namespace kube
