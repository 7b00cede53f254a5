#include "operator/app/run.h"

#include <atomic>
#include <iostream>
#include <memory>
#include <set>
#include <thread>

#include "controllers/clusteridentity/reconciler.h"
#include "controllers/clusteridentity/uid.h"
#include "controllers/flowrun/flowrun_reconciler.h"
#include "controllers/flowrun/watches.h"
#include "controllers/workpool/cached_reads.h"
#include "controllers/workpool/flowrun_for.h"
#include "controllers/workpool/runner.h"
#include "operator/kube/http_client.h"
#include "operator/kube/informer.h"
#include "operator/kube/kubeconfig.h"
#include "operator/runtime/api_event_recorder.h"
#include "operator/runtime/client_hooks.h"
#include "operator/runtime/controller.h"
#include "operator/runtime/graceful_shutdown.h"
#include "operator/runtime/http_server.h"
#include "operator/runtime/leader_election.h"
#include "operator/runtime/logging.h"
#include "operator/runtime/metrics.h"
#include "operator/runtime/shutdown.h"

namespace app {

namespace {

// The namespaces whose ConfigMaps the identity controller reads: every namespace when the
// operator is cluster-wide, else the pool plus the operator's own (for the backup copy).
std::vector<std::string> configMapNamespaces(const Options& o) {
  if (o.namespaces.empty()) return {};
  std::set<std::string> set(o.namespaces.begin(), o.namespaces.end());
  set.insert(o.operatorNamespace);
  return {set.begin(), set.end()};
}

// flowrun_operator_informer_cache_objects and _bytes{resource}: what each informer's cache holds.
std::function<void(std::size_t, std::size_t)> cacheGauges(runtime::MetricsRegistry& metrics,
                                                          const kube::ResourceType& type) {
  const runtime::Labels labels{{"resource", type.qualifiedName()}};
  auto& objects = metrics.gauge("flowrun_operator_informer_cache_objects",
                                "Objects held by an informer's cache.", labels);
  auto& bytes =
      metrics.gauge("flowrun_operator_informer_cache_bytes",
                    "Bytes of the packed (MessagePack) objects an informer's cache holds.", labels);
  return [&objects, &bytes](std::size_t n, std::size_t b) {
    objects.set(static_cast<double>(n));
    bytes.set(static_cast<double>(b));
  };
}

// Starts the controllers on their own thread (start() waits for the caches) so that the caller
// can keep waiting for shutdown.
class ControllerGroup {
 public:
  explicit ControllerGroup(std::vector<runtime::Controller*> controllers,
                           std::function<void()> onStarted)
      : controllers_(std::move(controllers)), onStarted_(std::move(onStarted)) {}
  ~ControllerGroup() { join(); }

  void start(runtime::ShutdownSignal& shutdown) {
    thread_ = std::thread([this, &shutdown] {
      for (auto* c : controllers_) {
        if (auto err = c->start()) {
          if (!shutdown.requested()) {
            runtime::logger().error("controller did not start",
                                    {{"controller", c->name()}, {"error", *err}});
            shutdown.request("controller " + c->name() + " did not start: " + *err);
          }
          return;
        }
      }
      if (onStarted_) onStarted_();
    });
  }

  // Call after the controllers were stopped (their start() then returns at once).
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::vector<runtime::Controller*> controllers_;
  std::function<void()> onStarted_;
  std::thread thread_;
};

}  // namespace

int run(const Options& options) {
  // First, before any thread exists, so that every thread inherits the blocked signal mask.
  auto& shutdown = runtime::ShutdownSignal::install();

  runtime::configureLogging(*runtime::parseLogFormat(options.logFormat),
                            *runtime::parseLogLevel(options.logLevel));
  auto& log = runtime::logger();
  auto& metrics = runtime::MetricsRegistry::global();
  runtime::installKubeClientHooks(metrics, log);

  // With --create-cluster-identity=false and a --cluster-uid, the pin is the identity and the
  // operator neither reads nor writes ClusterIdentity objects (the "pinned-uid" install, which
  // grants nothing cluster-scoped).
  const bool pinnedOnly = !options.createClusterIdentity && !options.clusterUid.empty();
  if (!options.clusterUid.empty()) {
    if (auto problem = controllers::clusteridentity::identifierProblem(options.clusterUid)) {
      std::cerr << "flowrun-operator: --cluster-uid / PREFECT_KUBERNETES_CLUSTER_UID: " << *problem
                << "\n";
      return 2;
    }
  }

  auto config = kube::loadRestConfig(options.kubeconfig, options.context);
  if (!config) {
    std::cerr << "flowrun-operator: " << config.error().message << "\n";
    return 1;
  }
  kube::HttpClientOptions clientOptions;
  clientOptions.qps = options.kubeApiQps;
  clientOptions.burst = options.kubeApiBurst;
  auto created = kube::createHttpClient(*config, clientOptions);
  if (!created) {
    std::cerr << "flowrun-operator: " << created.error().message << "\n";
    return 1;
  }
  kube::Client& client = **created;
  log.info("starting flowrun-operator",
           {{"version", FLOWRUN_VERSION},
            {"server", config->server},
            {"scope", options.namespaces.empty() ? std::string("cluster") : "namespaces " + [&] {
               std::string s;
               for (const auto& n : options.namespaces) {
                 s += (s.empty() ? "" : ",") + n;
               }
               return s;
             }()}});

  // Shared informers: one list+watch per kind (per namespace in namespace-pool mode).
  kube::InformerOptions identityInformerOptions;
  identityInformerOptions.fieldSelector = "metadata.name=" + options.clusterIdentity;
  identityInformerOptions.transform = kube::defaultTransform();
  identityInformerOptions.resyncPeriod = options.resyncPeriod;
  identityInformerOptions.onCacheSize = cacheGauges(metrics, kube::resources::ClusterIdentities);
  auto identities =
      kube::makeInformer(client, kube::resources::ClusterIdentities, identityInformerOptions);

  kube::InformerOptions cmOptions;
  cmOptions.namespaces = configMapNamespaces(options);
  cmOptions.labelSelector = controllers::clusteridentity::configMapLabelSelector();
  cmOptions.transform = kube::defaultTransform();
  cmOptions.resyncPeriod = options.resyncPeriod;
  cmOptions.onCacheSize = cacheGauges(metrics, kube::resources::ConfigMaps);
  auto configMaps = kube::makeInformer(client, kube::resources::ConfigMaps, cmOptions);

  kube::InformerOptions frOptions;
  frOptions.namespaces = options.namespaces;
  frOptions.transform = controllers::flowrun::flowRunTransform();
  frOptions.keep = controllers::flowrun::flowRunFields();
  // Worker mode lists a pool's FlowRuns from the cache each tick (CachedFlowRunReads).
  frOptions.labelIndexes = {controllers::workpool::kLabelWorkPool};
  frOptions.resyncPeriod = options.resyncPeriod;
  frOptions.onCacheSize = cacheGauges(metrics, kube::resources::FlowRuns);
  auto flowRuns = kube::makeInformer(client, kube::resources::FlowRuns, frOptions);

  kube::InformerOptions jobOptions;
  jobOptions.namespaces = options.namespaces;
  jobOptions.labelSelector = controllers::flowrun::kManagedJobSelector;
  jobOptions.transform = controllers::flowrun::jobTransform();
  jobOptions.keep = controllers::flowrun::jobFields();
  jobOptions.resyncPeriod = options.resyncPeriod;
  jobOptions.onCacheSize = cacheGauges(metrics, kube::resources::Jobs);
  auto jobs = kube::makeInformer(client, kube::resources::Jobs, jobOptions);

  kube::InformerOptions podOptions = jobOptions;
  podOptions.transform = controllers::flowrun::podTransform();
  podOptions.keep = controllers::flowrun::podFields();
  podOptions.indexers = controllers::flowrun::podIndexers();
  podOptions.onCacheSize = cacheGauges(metrics, kube::resources::Pods);
  auto pods = kube::makeInformer(client, kube::resources::Pods, podOptions);

  std::vector<kube::SharedInformer*> informers = {flowRuns.get(), jobs.get(), pods.get()};
  if (!pinnedOnly) {
    informers.push_back(identities.get());
    informers.push_back(configMaps.get());
  }

  // Events about cluster-scoped objects (the ClusterIdentity) go to "default", the only namespace
  // the API server accepts them in; namespace-pool mode grants create/patch there for them.
  runtime::EventRecorderOptions recorderOptions;
  runtime::ApiEventRecorder recorder(client, "flowrun-operator", std::move(recorderOptions));

  controllers::clusteridentity::ClusterIdentityOptions idOptions;
  idOptions.name = options.clusterIdentity;
  idOptions.create = options.createClusterIdentity;
  idOptions.pinnedUid = options.clusterUid;
  idOptions.adoptClusterProperty = options.adoptClusterProperty;
  idOptions.operatorNamespace = options.operatorNamespace;
  idOptions.backupConfigMap = options.identityBackupConfigMap;
  controllers::clusteridentity::ClusterIdentityReconciler identityReconciler(
      client, identities->store(), configMaps->store(), recorder, idOptions);

  controllers::flowrun::FlowRunOptions frOpts;
  frOpts.storeApiKeyInSecret = options.storeApiKeyInSecret;
  controllers::flowrun::FlowRunReconciler flowRunReconciler(
      client, flowRuns->store(), jobs->store(), pods->store(), recorder, metrics,
      identityReconciler.provider(), frOpts);

  runtime::ControllerOptions identityControllerOptions;
  identityControllerOptions.maxConcurrentReconciles = 1;
  runtime::Controller identityController("clusteridentity", identityReconciler,
                                         std::move(identityControllerOptions));
  auto toKeys = [](std::optional<runtime::ObjectKey> k) {
    return k ? std::vector<runtime::ObjectKey>{*k} : std::vector<runtime::ObjectKey>{};
  };
  identityController.watches(*identities, [&](const kube::json& o) {
    return toKeys(identityReconciler.keyForClusterIdentity(o));
  });
  identityController.watches(*configMaps, [&](const kube::json& o) {
    return toKeys(identityReconciler.keyForConfigMap(o));
  });

  runtime::ControllerOptions flowRunControllerOptions;
  flowRunControllerOptions.maxConcurrentReconciles = options.maxConcurrentReconciles;
  runtime::Controller flowRunController("flowrun", flowRunReconciler,
                                        std::move(flowRunControllerOptions));
  flowRunController.forKind(kube::resources::FlowRuns, *flowRuns)
      .owns(*jobs)
      .watches(*pods,
               [&](const kube::json& o) { return toKeys(controllers::flowrun::flowRunKeyFor(o)); });

  // Probes and metrics.
  auto synced = [&informers] {
    for (auto* i : informers) {
      if (!i->hasSynced()) return false;
    }
    return true;
  };
  runtime::HttpServer probes("health");
  runtime::addHealthProbes(probes, {{"informers-synced", synced}});
  runtime::HttpServer metricsServer("metrics");
  runtime::addMetricsEndpoint(metricsServer, metrics);
  if (options.metricsBindAddress == options.healthProbeBindAddress &&
      options.metricsBindAddress != "0") {
    runtime::addMetricsEndpoint(probes, metrics);
  } else if (auto err = metricsServer.start(options.metricsBindAddress)) {
    std::cerr << "flowrun-operator: --metrics-bind-address: " << *err << "\n";
    return 1;
  }
  if (auto err = probes.start(options.healthProbeBindAddress)) {
    std::cerr << "flowrun-operator: --health-probe-bind-address: " << *err << "\n";
    return 1;
  }
  log.info("serving probes and metrics",
           {{"healthPort", probes.port()},
            {"metricsPort", metricsServer.enabled() ? metricsServer.port() : probes.port()}});

  // Caches start at once, also on standby replicas, so that a takeover is fast.
  for (auto* i : informers) i->start();

  std::vector<runtime::Controller*> controllers = {&flowRunController};
  if (!pinnedOnly) controllers.insert(controllers.begin(), &identityController);
  // Worker mode: polls Prefect only on the leader (started with the controllers).
  std::unique_ptr<kube::Client> workPoolClient;
  std::unique_ptr<controllers::workpool::CachedFlowRunReads> workPoolReads;
  std::unique_ptr<controllers::workpool::WorkPoolRunner> workPools;
  if (options.enableWorkPools) {
    controllers::workpool::RunnerOptions wpOptions;
    wpOptions.namespaces = options.namespaces;
    // Its own client, so its own --kube-api-qps budget, as the Python worker's own process has:
    // a burst of runs does not wait behind the FlowRun controller's status writes, nor they
    // behind it.
    auto own = kube::createHttpClient(*config, clientOptions);
    if (!own) {
      std::cerr << "flowrun-operator: " << own.error().message << "\n";
      return 1;
    }
    workPoolClient = std::move(*own);
    // Its FlowRun lists (each tick) from the FlowRun informer's cache, not the server.
    workPoolReads = std::make_unique<controllers::workpool::CachedFlowRunReads>(*workPoolClient,
                                                                                flowRuns->store());
    workPools = std::make_unique<controllers::workpool::WorkPoolRunner>(
        *workPoolReads, recorder, identityReconciler.provider(), wpOptions);
  }
  ControllerGroup group(controllers, [&] {
    if (workPools) workPools->start();
    // The singleton may not exist yet: nothing would trigger its first reconcile.
    if (!pinnedOnly) identityController.enqueue(identityReconciler.key());
    log.info("controllers started",
             {{"identity", pinnedOnly ? "pinned by --cluster-uid"
                                      : "ClusterIdentity " + options.clusterIdentity}});
  });

  std::atomic<bool> lostLeadership{false};
  std::unique_ptr<runtime::LeaseElector> elector;
  if (options.leaderElect) {
    runtime::LeaseElectorOptions le;
    le.leaseName = options.leaderElectionId;
    le.leaseNamespace = options.leaderElectionNamespace.empty() ? options.operatorNamespace
                                                                : options.leaderElectionNamespace;
    le.leaseDuration = options.leaseDuration;
    le.renewDeadline = options.renewDeadline;
    le.retryPeriod = options.retryPeriod;
    le.onStartedLeading = [&] { group.start(shutdown); };
    le.onStoppedLeading = [&] {
      lostLeadership = true;
      shutdown.request("leader election lost");
    };
    elector = std::make_unique<runtime::LeaseElector>(client, std::move(le));
    if (auto err = elector->start()) {
      std::cerr << "flowrun-operator: leader election: " << *err << "\n";
      for (auto* i : informers) i->stop();
      return 2;
    }
  } else {
    group.start(shutdown);
  }

  shutdown.wait();
  log.info("shutting down", {{"reason", shutdown.reason()}});
  if (workPools) workPools->stop();
  runtime::ShutdownPlan plan;
  plan.controllers = controllers;
  plan.recorder = &recorder;
  plan.elector = elector.get();
  plan.informers = informers;
  plan.servers = {&probes, &metricsServer};
  bool clean = runtime::gracefulShutdown(plan, options.shutdownTimeout);
  group.join();
  if (lostLeadership) {
    log.error("leadership lost; exiting so that a new leader takes over");
    return 1;
  }
  if (!clean) {
    log.warn("a reconcile was still running at the shutdown timeout");
    return 1;
  }
  log.info("stopped");
  return 0;
}

}  // namespace app
