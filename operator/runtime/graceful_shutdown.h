#pragma once
// The order of a clean stop, in one place, so every binary does it the same way:
//   1. stop every controller: no new reconciles; in-flight ones finish within the time left;
//   2. flush the event recorder (what the last reconciles recorded reaches the API server);
//   3. stop the elector, which releases the Lease (only now: no reconcile can still run);
//   4. stop the informers, then the HTTP servers (probes answer until the very end).
// All steps share one deadline (--shutdown-timeout).
#include <chrono>
#include <vector>

#include "operator/kube/informer.h"
#include "operator/runtime/api_event_recorder.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/http_server.h"
#include "operator/runtime/leader_election.h"

namespace runtime {

struct ShutdownPlan {
  std::vector<Controller*> controllers;
  ApiEventRecorder* recorder = nullptr;
  LeaseElector* elector = nullptr;
  std::vector<kube::SharedInformer*> informers;
  std::vector<HttpServer*> servers;
};

// Returns true when every in-flight reconcile finished within the timeout. Null entries are
// skipped. The caller exits 0 on true; on false it should exit too (a stuck reconcile thread
// has been abandoned), with a non-zero code if it wants the restart noticed.
bool gracefulShutdown(const ShutdownPlan& plan, std::chrono::milliseconds timeout);

}  // namespace runtime
