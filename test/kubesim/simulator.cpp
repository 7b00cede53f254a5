// Simulator: storage + cluster actors + HTTPS API server in one object, for tests and the binary.
#include "test/kubesim/simulator.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "test/kubesim/cluster.h"
#include "test/kubesim/server.h"
#include "test/kubesim/storage.h"
#include "test/kubesim/tls.h"
#include "test/kubesim/util.h"

namespace kubesim {

struct Simulator::Impl {
  SimulatorOptions options;
  std::unique_ptr<Storage> storage;
  std::unique_ptr<Cluster> cluster;
  RequestLog log;
  std::unique_ptr<ServingCertificates> certs;
  std::unique_ptr<ApiServer> server;
  std::mutex mu;
  bool started = false;
  bool stopped = false;
};

Simulator::Simulator(SimulatorOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  StorageOptions so;
  so.watchWindow = impl_->options.watchWindow;
  so.dataDir = impl_->options.dataDir;
  impl_->storage = std::make_unique<Storage>(so);
  impl_->cluster = std::make_unique<Cluster>(
      *impl_->storage,
      ClusterOptions{impl_->options.timeScale, impl_->options.rbac, impl_->options.faultRules,
                     impl_->options.faultSeed, impl_->options.gcDiscoveryDelaySeconds,
                     impl_->options.dataDir});
}

Simulator::~Simulator() {
  stop();
}

void Simulator::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->started) return;
  auto& o = impl_->options;
  if (o.tls)
    impl_->certs = std::make_unique<ServingCertificates>(
        loadOrGenerateServingCertificates(o.bindAddress, o.dataDir));
  ServerOptions so;
  so.bindAddress = o.bindAddress;
  so.port = o.port;
  so.tls = o.tls;
  so.bookmarkInterval = o.bookmarkInterval;
  so.ownerReferencesPermissionEnforcement = o.ownerReferencesPermissionEnforcement;
  so.startingFor = o.startingFor;
  so.kubeconfigFor = [this](const std::string& user) { return kubeconfigText(user); };
  impl_->server = std::make_unique<ApiServer>(*impl_->storage, *impl_->cluster, impl_->log, so,
                                              impl_->certs.get());
  impl_->server->start();
  if (o.runCluster) impl_->cluster->start();
  impl_->started = true;
}

void Simulator::stop() {
  std::lock_guard lock(impl_->mu);
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->server) impl_->server->stop();
  if (impl_->started && impl_->options.runCluster) impl_->cluster->stop();
  impl_->storage->shutdown();
}

int Simulator::port() const {
  return impl_->server ? impl_->server->port() : 0;
}

std::string Simulator::url() const {
  std::string host =
      impl_->options.bindAddress == "0.0.0.0" ? "127.0.0.1" : impl_->options.bindAddress;
  return std::string(impl_->options.tls ? "https://" : "http://") + host + ":" +
         std::to_string(port());
}

std::string Simulator::caPem() const {
  return impl_->certs ? impl_->certs->caPem : std::string();
}

std::string Simulator::tokenFor(const std::string& user) {
  return impl_->cluster->tokenFor(user);
}

std::string Simulator::kubeconfigText(const std::string& user) {
  std::string token = tokenFor(user);
  std::string userName = user;
  for (auto& c : userName)
    if (c == ':') c = '-';
  std::string cluster = "    server: " + url() + "\n";
  if (impl_->certs)
    cluster += "    certificate-authority-data: " + base64Encode(impl_->certs->caPem) + "\n";
  std::string text =
      "apiVersion: v1\n"
      "kind: Config\n"
      "clusters:\n"
      "- name: kubesim\n"
      "  cluster:\n" +
      cluster +
      "contexts:\n"
      "- name: kubesim\n"
      "  context:\n"
      "    cluster: kubesim\n"
      "    user: " +
      userName +
      "\n"
      "    namespace: default\n"
      "current-context: kubesim\n"
      "preferences: {}\n"
      "users:\n"
      "- name: " +
      userName +
      "\n"
      "  user:\n"
      "    token: " +
      token + "\n";
  return text;
}

std::string Simulator::writeKubeconfig(const std::string& path, const std::string& user) {
  const std::string text = kubeconfigText(user);
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  {
    std::ofstream out(path, std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("kubesim: cannot write kubeconfig " + path);
  }
  std::filesystem::permissions(
      path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
      std::filesystem::perm_options::replace);
  return path;
}

ObjectStore& Simulator::store() {
  return *impl_->storage;
}

RequestLog& Simulator::requestLog() {
  return impl_->log;
}

Cluster* Simulator::cluster() {
  return impl_->options.runCluster ? impl_->cluster.get() : nullptr;
}

}  // namespace kubesim
