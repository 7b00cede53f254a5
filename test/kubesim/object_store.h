#pragma once
// The seam between kubesim's API server (storage, HTTP, discovery, CRDs) and the parts that play
// the cluster (garbage collector, Job controller, scheduler/kubelet, RBAC, fault injection).
// The API server implements ObjectStore and calls Authenticator/Authorizer/FaultInjector on every
// request; the cluster actors use ObjectStore exactly as a controller would use the API.
// Inside kubesim errors are exceptions (ApiException); the HTTP layer turns them into Status.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kubesim {

using json = nlohmann::json;

// A failure shaped like a metav1.Status: code 404 reason NotFound, 409 Conflict/AlreadyExists,
// 410 Expired, 422 Invalid (details.causes), 403 Forbidden, 429 TooManyRequests, ...
class ApiException : public std::runtime_error {
 public:
  ApiException(int code, std::string reason, std::string message, json details = json::object())
      : std::runtime_error(message),
        code(code),
        reason(std::move(reason)),
        details(std::move(details)) {}
  int code;
  std::string reason;
  json details;  // {name, group, kind, causes: [{reason, message, field}], retryAfterSeconds}
  json listMeta = json::object();  // Status.metadata (a 410's fresh continue token)
  json status() const {
    json s = {{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", listMeta},
              {"status", "Failure"}, {"message", what()},  {"code", code}};
    if (!reason.empty()) s["reason"] = reason;  // StatusReasonUnknown is "", omitted
    if (!details.empty()) s["details"] = details;
    return s;
  }
};

struct StoreEvent {
  enum class Type { Added, Modified, Deleted };
  Type type;
  std::string resource;  // qualified plural: "pods", "jobs.batch", "flowruns.prefect.io"
  json object;           // the object after the change (for Deleted: its last state)
  json oldObject;        // before the change (null for Added)
};

struct DeleteOptions {
  std::optional<std::string> propagationPolicy;  // Background | Foreground | Orphan
  std::optional<std::int64_t> gracePeriodSeconds;
  std::optional<std::string> preconditionUid;
  std::optional<std::string> preconditionResourceVersion;
};

// Thread-safe storage with real API semantics (resourceVersion, uid, generation, finalizers,
// deletionTimestamp, status subresource split, validation and defaulting of CRD schemas).
// `resource` is always the qualified plural ("jobs.batch"). ns is "" for cluster-scoped kinds.
class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  virtual json get(const std::string& resource, const std::string& ns, const std::string& name) = 0;
  // ns "" lists all namespaces. labelSelector uses the API syntax (a=b,c!=d,e in (f),!g).
  virtual std::vector<json> list(const std::string& resource, const std::string& ns,
                                 const std::string& labelSelector = "") = 0;
  virtual json create(const std::string& resource, const std::string& ns, json object) = 0;
  // Whole-object update of the main resource (status ignored where the kind has a status
  // subresource). A set metadata.resourceVersion must match, else 409 Conflict.
  virtual json update(const std::string& resource, json object) = 0;
  // Update of the status subresource only (everything but status ignored).
  virtual json updateStatus(const std::string& resource, json object) = 0;
  // Real delete semantics: with finalizers (including orphan / foregroundDeletion added for
  // the propagation policy) the object gets deletionTimestamp and stays; a pod deleted with a
  // grace period > 0 gets deletionTimestamp + deletionGracePeriodSeconds and stays until the
  // kubelet deletes it with gracePeriodSeconds 0. Otherwise it is removed at once. Removing
  // dependents is the garbage collector's job, not the store's.
  virtual json remove(const std::string& resource, const std::string& ns, const std::string& name,
                      const DeleteOptions& options = {}) = 0;
  // Every qualified plural served now (built-in kinds and established CRDs).
  virtual std::vector<std::string> resources() = 0;
  // Kind and scope of a served resource, e.g.
  // {"kind":"Job","apiVersion":"batch/v1","namespaced":true}.
  virtual json describe(const std::string& resource) = 0;

  // Callbacks run on the store's dispatcher thread, one at a time, in resourceVersion order,
  // after the write committed. They may call the store (their writes dispatch later).
  using Subscriber = std::function<void(const StoreEvent&)>;
  virtual int subscribe(Subscriber subscriber) = 0;
  virtual void unsubscribe(int id) = 0;
};

// Who is calling. Anonymous requests have user "system:anonymous".
struct UserInfo {
  std::string name;  // "admin", "system:serviceaccount:ns:sa"
  std::vector<std::string> groups;
  std::string uid;                                        // set only by impersonation
  std::map<std::string, std::vector<std::string>> extra;  // set only by impersonation
};

struct RequestAttributes {
  UserInfo user;
  bool resourceRequest = true;  // false for /version, /api, /openapi/..., /healthz
  std::string verb;             // get list watch create update patch delete deletecollection
  std::string apiGroup;         // "" for core
  std::string apiVersion;
  std::string resource;     // plural, unqualified: "jobs"
  std::string subresource;  // "status", "log", ""
  std::string ns;
  std::string name;
  std::string path;  // the request path, for non-resource requests
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  // nullopt: the token is unknown (401). An empty token is never passed here.
  virtual std::optional<UserInfo> authenticate(const std::string& bearerToken) = 0;
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // nullopt when allowed; otherwise the Forbidden message exactly as kube-apiserver words it.
  virtual std::optional<std::string> deny(const RequestAttributes& request) = 0;
  // Decisions for `user` over the policy as it is now, without reading the store again: for
  // checks made while the store is locked (admission). True when allowed.
  virtual std::function<bool(const RequestAttributes&)> snapshotFor(const UserInfo& user) = 0;
};

struct FaultDecision {
  int delayMs = 0;     // answer after this delay
  int statusCode = 0;  // 0: no fault; else answer with this code and a matching Status
  int retryAfterSeconds = 0;
  bool goneForWatch = false;  // answer this watch with 410 Expired
};

class FaultInjector {
 public:
  virtual ~FaultInjector() = default;
  virtual FaultDecision onRequest(const RequestAttributes& request) = 0;
  virtual bool hasRules() const = 0;  // any fault rule installed (cheap pre-check)
  // Bumped by "close every watch now"; open watches end when it changes.
  virtual std::uint64_t watchEpoch() const = 0;
  // True when the event about object ns/name must be left out of this watch (a lost event).
  virtual bool dropWatchEvent(const RequestAttributes& /*watch*/, const std::string& /*ns*/,
                              const std::string& /*name*/) {
    return false;
  }
};

}  // namespace kubesim
