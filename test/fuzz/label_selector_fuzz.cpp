// Fuzzes kube::LabelSelector::parse: any input either parses or yields a BadSelector error with
// a UTF-8 message; a parsed selector prints in the API syntax and that text parses back to the
// same selector (the operator sends toString() to the server as labelSelector=).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "operator/kube/selector.h"
#include "test/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto parsed = kube::LabelSelector::parse(text);
  if (!parsed) {
    fuzz::requireUtf8(parsed.error().message, "the selector error message");
    return 0;
  }
  std::string printed = parsed.value().toString();
  auto again = kube::LabelSelector::parse(printed);
  if (!again || again.value().toString() != printed) {
    std::fprintf(stderr, "finding: \"%s\" does not parse back to itself\n", printed.c_str());
    std::abort();
  }
  nlohmann::json labels = {{"app", "web"}, {"tier", "db"}, {"prefect.io/flowrun", "x"}};
  if (parsed.value().matches(labels) != again.value().matches(labels)) {
    std::fprintf(stderr, "finding: \"%s\" matches differently after a round trip\n",
                 printed.c_str());
    std::abort();
  }
  return 0;
}
