#pragma once
// The ClusterIdentity controller: keeps one cluster-scoped ClusterIdentity (the singleton named by
// --cluster-identity) holding a stable cluster identity in status, backs it up in a ConfigMap in
// the operator's namespace, publishes it to ConfigMaps in the namespaces spec.publish lists, and
// feeds the IdentityProvider other controllers read. docs/cluster-identity.md is the user's view.
//
// Where the identity comes from, first match wins:
//   1. spec.uid, when it is a valid identifier (source Pinned);
//   2. the operator's --cluster-uid / PREFECT_KUBERNETES_CLUSTER_UID (source Pinned);
//   3. the identity already in status (kept forever: a generated identity never changes);
//   4. the backup ConfigMap (source Restored when the object was deleted and re-created);
//   5. with --adopt-cluster-property, the KEP-2149 ClusterProperty cluster.clusterset.k8s.io
//      (source ClusterProperty);
//   6. a new random UUIDv4 (source Generated), claimed by creating the backup ConfigMap first so
//      that two replicas racing both end up with the winner's UUID.
// An invalid spec.uid is ignored for the choice (the identity in use stays) and reported in the
// Ready condition. Nothing here reads Namespaces or anything in kube-system.
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "controllers/clusteridentity/shared_identity.h"
#include "operator/kube/client.h"
#include "operator/kube/store.h"
#include "operator/runtime/event_recorder.h"
#include "operator/runtime/reconciler.h"

namespace controllers::clusteridentity {

struct ClusterIdentityOptions {
  std::string name = "cluster";       // --cluster-identity
  bool create = true;                 // --create-cluster-identity
  std::string pinnedUid;              // --cluster-uid / PREFECT_KUBERNETES_CLUSTER_UID
  bool adoptClusterProperty = false;  // --adopt-cluster-property
  std::string operatorNamespace;      // where the backup ConfigMap lives; "" disables the backup
  std::string backupConfigMap;        // --identity-backup-configmap; "" disables the backup
  // After the object is seen deleted, wait this long before re-creating it, so that a
  // delete-then-create by a user or a GitOps tool (kubectl replace --force, ArgoCD Replace) gets
  // to create it with its own spec first. The first creation on startup is immediate.
  std::chrono::milliseconds recreateDelay{5000};
  // How soon to try again when publishing or the backup failed (a missing namespace may appear;
  // namespaces are never watched).
  std::chrono::milliseconds retryInterval{30000};
};

// Labels on every ConfigMap this controller writes (published copies and the backup).
inline constexpr const char* kManagedByLabel = "app.kubernetes.io/managed-by";
inline constexpr const char* kManagedByValue = "flowrun-operator";
inline constexpr const char* kComponentLabel = "app.kubernetes.io/component";
inline constexpr const char* kComponentValue = "cluster-identity";
inline constexpr const char* kIdentityNameLabel = "prefect.io/cluster-identity";  // object name
inline constexpr const char* kRoleLabel = "prefect.io/cluster-identity-role";  // published|backup
inline constexpr const char* kPublishedDataKey = "uid";
inline constexpr const char* kDefaultPublishConfigMap = "prefect-cluster-identity";
inline constexpr const char* kClusterPropertyName = "cluster.clusterset.k8s.io";

// Label selector for the ConfigMap informer the controller needs (published copies in every
// watched namespace, and the backup when the operator namespace is watched too).
std::string configMapLabelSelector();

class ClusterIdentityReconciler final : public runtime::Reconciler {
 public:
  // `identities` is the ClusterIdentity informer's store; `configMaps` the store of the informer
  // created with configMapLabelSelector(). Both must outlive the reconciler.
  ClusterIdentityReconciler(kube::Client& client, const kube::Store& identities,
                            const kube::Store& configMaps, runtime::EventRecorder& recorder,
                            ClusterIdentityOptions options);
  ~ClusterIdentityReconciler() override;

  runtime::ReconcileOutcome reconcile(const runtime::ObjectKey& key) override;

  // The identity in effect, for the FlowRun controller. Thread-safe, never blocks.
  const IdentityProvider& provider() const { return identity_; }

  // The singleton's work-queue key.
  runtime::ObjectKey key() const { return runtime::ObjectKey{"", options_.name}; }
  // Map functions for informer events: the singleton's key, or nullopt for objects that do not
  // concern it (other ClusterIdentities, ConfigMaps without this controller's labels).
  std::optional<runtime::ObjectKey> keyForClusterIdentity(const kube::json& object) const;
  std::optional<runtime::ObjectKey> keyForConfigMap(const kube::json& configMap) const;

  const ClusterIdentityOptions& options() const { return options_; }

 private:
  struct Decision;
  struct Backup;
  enum class PassResult { Finished, Conflict };

  runtime::ReconcileOutcome reconcileLocked();
  // One attempt against `object`; Conflict means the status write lost a race (re-read, retry).
  PassResult pass(const kube::json& object, runtime::ReconcileOutcome& outcome);
  kube::Result<std::optional<Backup>> readBackup();
  // Makes the backup hold `uid`; returns a problem for the condition message, or nullopt.
  // `repairs` gets a sentence for each copy found changed by someone else and rewritten.
  std::optional<std::string> ensureBackup(const std::string& uid, const std::string& source,
                                          const std::string& objectUid,
                                          std::vector<std::string>& repairs);
  std::optional<std::string> ensurePublished(const std::string& ns, const std::string& name,
                                             const std::string& uid,
                                             std::vector<std::string>& repairs);
  bool backupEnabled() const;
  std::string flagPin() const;  // options_.pinnedUid when valid, else ""
  kube::json backupObject(const std::string& uid, const std::string& source,
                          const std::string& objectUid) const;

  kube::Client& client_;
  const kube::Store& identities_;
  const kube::Store& configMaps_;
  runtime::EventRecorder& recorder_;
  const ClusterIdentityOptions options_;
  SharedIdentity identity_;

  std::mutex mu_;  // serialises reconciles; guards the fields below
  bool seenObject_ = false;
  // Events of a pass whose status write lost a race after it had claimed a new identity (the
  // backup create succeeded): recorded by the retry that finds that identity in status.
  struct PendingEvents;
  std::unique_ptr<PendingEvents> carried_;
  std::optional<std::chrono::steady_clock::time_point> missingSince_;
};

}  // namespace controllers::clusteridentity
