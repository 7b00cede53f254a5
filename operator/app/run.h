#pragma once
#include "operator/app/options.h"

namespace app {
// Wires client, informers, controllers, leader election and servers; returns the exit code.
int run(const Options& options);
}  // namespace app
