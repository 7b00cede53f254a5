#pragma once
// kubesim in-process: tests and the demo start a whole simulated cluster with one object.
//   kubesim::Simulator sim({});      // port 0, TLS, in-memory
//   sim.start();
//   auto kubeconfig = sim.writeKubeconfig(tmpdir + "/kubeconfig");
//   ... run kubectl with --kubeconfig, or point the operator at it ...
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "test/kubesim/object_store.h"

namespace kubesim {

class Cluster;

struct SimulatorOptions {
  std::string bindAddress = "127.0.0.1";
  int port = 0;            // 0: any free port
  bool tls = true;         // HTTPS with a generated CA; false serves plain HTTP
  std::string dataDir;     // "" keeps everything in memory; else persisted there and reloaded
  double timeScale = 1.0;  // scenario durations are multiplied by this (0.1: ten times faster)
  bool rbac = false;       // --authorization rbac: bearer tokens checked against RBAC objects
  // --enable-admission-plugins OwnerReferencesPermissionEnforcement (needs rbac): setting
  // blockOwnerDeletion needs update on the owner's finalizers, as on OpenShift.
  bool ownerReferencesPermissionEnforcement = false;
  std::size_t watchWindow = 100000;  // events kept for watch resumption; older versions get 410
  std::chrono::milliseconds bookmarkInterval{1000};
  bool runCluster = true;  // start the controller-manager/scheduler/kubelet actors
  // Fault rules active from the start (kubesim --fault; same JSON as POST /kubesim/faults).
  json faultRules = json::array();
  std::uint64_t faultSeed = 1;  // fraction-based faults draw from this seed: runs repeat
  // Serve as a restarting kube-apiserver for this long from the start (kubesim
  // --starting-seconds): custom resources get 503 "server is starting", /readyz fails.
  std::chrono::milliseconds startingFor{0};
  // kubesim --gc-discovery-delay S: the garbage collector learns CRDs created after the start
  // S scenario seconds late (a real one waits for its 30 s discovery refresh).
  double gcDiscoveryDelaySeconds = 0;
};

// One request as the server saw it; tests and benchmarks read these.
struct RequestRecord {
  std::chrono::system_clock::time_point time;  // when the request arrived
  std::string user;    // from the bearer token or client certificate (after impersonation)
  std::string method;  // GET, POST, ...
  std::string verb;    // get list watch create update patch delete deletecollection
  std::string path;
  std::string query;
  std::string apiGroup;
  std::string resource;
  std::string subresource;
  std::string ns;
  std::string name;
  // create: the name and uid of the object made (also when the request used generateName).
  std::string objectName;
  std::string objectUid;
  int code = 0;
};

class RequestLog {
 public:
  void add(RequestRecord r);
  std::vector<RequestRecord> snapshot() const;
  // How many requests matched: empty strings match anything; code 0 matches any code.
  std::size_t count(const std::string& verb, const std::string& resource = "", int code = 0,
                    const std::string& ns = "") const;
  void clear();

 private:
  mutable std::mutex mu_;
  std::vector<RequestRecord> records_;
};

class Simulator {
 public:
  explicit Simulator(SimulatorOptions options = {});
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  void start();  // throws std::runtime_error with a message when it cannot listen
  void stop();   // idempotent; closes watches

  int port() const;
  std::string url() const;  // https://127.0.0.1:PORT
  // Writes a kubeconfig (CA data + bearer token) for `user`; returns the path.
  // user "admin" is system:masters; "system:serviceaccount:NS:NAME" gets that SA's token.
  std::string writeKubeconfig(const std::string& path, const std::string& user = "admin");
  // The same kubeconfig as text; also served to the admin at GET /kubesim/kubeconfig?user=USER.
  std::string kubeconfigText(const std::string& user = "admin");
  std::string caPem() const;
  std::string tokenFor(const std::string& user);

  ObjectStore& store();
  RequestLog& requestLog();
  Cluster* cluster();  // null when runCluster is false

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kubesim
