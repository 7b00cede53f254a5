// Fuzzes kube::decodeWatchEvent, the decoder of each line of a watch stream: any line is an event
// with an object, or an ApiError whose message is valid UTF-8; never an exception.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "operator/kube/watch_event_decoder.h"
#include "test/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string line(reinterpret_cast<const char*>(data), size);
  auto ev = kube::decodeWatchEvent(line);
  if (!ev) {
    fuzz::requireUtf8(ev.error().message, "the watch error message");
    fuzz::requireUtf8(ev.error().reason, "the watch error reason");
    return 0;
  }
  if (!ev.value().object.is_object()) std::abort();
  fuzz::requireSerializable(ev.value().object, "the decoded object");
  return 0;
}
