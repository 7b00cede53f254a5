#include "operator/app/run.h"

#include <iostream>

namespace app {

int run(const Options&) {
  // Wiring lands with the runtime and controllers (issues 5-7).
  std::cerr << "flowrun-operator: the controllers are not wired yet; see --help\n";
  return 1;
}

}  // namespace app
