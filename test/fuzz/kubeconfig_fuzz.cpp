// Fuzzes kube::loadRestConfig on a kubeconfig file with the input as its content: any file loads
// or yields an InvalidKubeconfig error whose message is valid UTF-8 (it is printed on stderr and
// in /readyz); never an exception, never a crash. Files it names (certificate-authority, ...)
// are looked up next to it, in a fresh directory with nothing else.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "operator/kube/kubeconfig.h"
#include "test/fuzz/fuzz_check.h"

namespace {

const std::string& kubeconfigPath() {
  static const std::string path = [] {
    std::string dir = "/tmp/flowrun-kubeconfig-fuzz-" + std::to_string(::getpid());
    std::string cmd = "mkdir -p " + dir;
    if (std::system(cmd.c_str()) != 0) std::abort();
    std::atexit([] {
      std::string rm = "rm -rf /tmp/flowrun-kubeconfig-fuzz-" + std::to_string(::getpid());
      (void)std::system(rm.c_str());
    });
    return dir + "/config";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    std::ofstream out(kubeconfigPath(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  auto cfg = kube::loadRestConfig(kubeconfigPath());
  if (!cfg) {
    fuzz::requireUtf8(cfg.error().message, "the kubeconfig error message");
    return 0;
  }
  fuzz::requireUtf8(cfg.value().source, "the kubeconfig source label");
  return 0;
}
