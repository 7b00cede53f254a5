// prefectsim: the Prefect API simulator as a program.
//   prefectsim --port 0 [--host H] [--api-key KEY] [--seed-demo]
// prints "prefectsim listening on http://HOST:PORT/api" and serves until SIGTERM/SIGINT.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "test/prefectsim/server.h"

namespace {

void usage() {
  std::fprintf(stderr, "usage: prefectsim [--port N] [--host H] [--api-key KEY] [--seed-demo]\n");
}

}  // namespace

int main(int argc, char** argv) {
  prefectsim::ServerOptions o;
  bool seed = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "prefectsim: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--port")
        o.port = std::stoi(value());
      else if (a == "--host")
        o.host = value();
      else if (a == "--api-key")
        o.apiKey = value();
      else if (a == "--seed-demo")
        seed = true;
      else if (a == "--help" || a == "-h") {
        usage();
        return 0;
      } else {
        std::fprintf(stderr, "prefectsim: unknown flag %s\n", a.c_str());
        usage();
        return 2;
      }
    } catch (const std::exception&) {
      std::fprintf(stderr, "prefectsim: bad value for %s\n", a.c_str());
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // the server threads inherit the mask
  prefectsim::Server server(o);
  try {
    server.start();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  if (seed) {
    auto ids = server.seedDemo();
    std::fprintf(stderr, "prefectsim demo: work pool %s (id %s), flow %s, deployment %s\n",
                 ids.workPoolName.c_str(), ids.workPoolId.c_str(), ids.flowId.c_str(),
                 ids.deploymentId.c_str());
  }
  std::printf("prefectsim listening on %s\n", server.url().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  server.stop();
  return 0;
}
