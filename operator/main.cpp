// flowrun-operator: parses flags, then hands over to app::run (operator/app/run.h).
#include <iostream>

#include "operator/app/options.h"
#include "operator/app/run.h"

int main(int argc, char** argv) {
  auto parsed = app::parseOptions(argc, argv);
  if (parsed.error) {
    std::cerr << "flowrun-operator: " << *parsed.error << "\n";
    return 2;
  }
  if (parsed.options.help) {
    std::cout << app::helpText();
    return 0;
  }
  if (parsed.options.version) {
    std::cout << "flowrun-operator " << FLOWRUN_VERSION << "\n";
    return 0;
  }
  return app::run(parsed.options);
}
