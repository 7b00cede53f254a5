#include "controllers/clusteridentity/reconciler.h"

#include <algorithm>
#include <ctime>
#include <exception>
#include <set>
#include <vector>

#include "controllers/clusteridentity/uid.h"
#include "operator/kube/resource.h"

namespace controllers::clusteridentity {

using kube::json;
using runtime::ReconcileOutcome;

namespace {

constexpr int kMaxConflictRetries = 5;

std::string nowRfc3339() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string str(const json& object, const json::json_pointer& path) {
  if (!object.contains(path)) return "";
  const json& v = object.at(path);
  return v.is_string() ? v.get<std::string>() : "";
}

std::int64_t int64At(const json& object, const json::json_pointer& path) {
  if (!object.contains(path)) return 0;
  const json& v = object.at(path);
  return v.is_number_integer() ? v.get<std::int64_t>() : 0;
}

std::string labelOf(const json& object, const std::string& key) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  auto labels = metadata->find("labels");
  if (labels == metadata->end() || !labels->is_object()) return "";
  auto value = labels->find(key);
  return value != labels->end() && value->is_string() ? value->get<std::string>() : "";
}

bool hasLabel(const json& object, const std::string& key, const std::string& value) {
  return labelOf(object, key) == value;
}

json labelsFor(const std::string& identityName, const std::string& role) {
  return json{{kManagedByLabel, kManagedByValue},
              {kComponentLabel, kComponentValue},
              {kIdentityNameLabel, identityName},
              {kRoleLabel, role}};
}

// True when every label in `want` is present with the same value in `object`.
bool labelsInclude(const json& object, const json& want) {
  const json* labels = nullptr;
  if (object.contains("metadata") && object["metadata"].contains("labels")) {
    labels = &object["metadata"]["labels"];
  }
  for (const auto& [k, v] : want.items()) {
    if (!labels || !labels->contains(k) || (*labels)[k] != v) return false;
  }
  return true;
}

std::string describe(const kube::ApiError& e) {
  return e.describe();
}

// A short explanation of why a ConfigMap could not be written to `ns`, for the condition.
std::string publishProblem(const std::string& ns, const kube::ApiError& e) {
  if (e.isNotFound()) return "namespace \"" + ns + "\" does not exist";
  if (e.isForbidden()) {
    return "namespace \"" + ns + "\": the operator may not write ConfigMaps there (" + e.message +
           ")";
  }
  return "namespace \"" + ns + "\": " + describe(e);
}

// "held uid \"x\"" / "had no uid" / "had other labels": what a repaired copy looked like.
std::string whatItHeld(const kube::json& cm, const std::string& key, const std::string& want) {
  const kube::json data = cm.contains("data") && cm["data"].is_object() ? cm["data"] : kube::json();
  if (!data.is_object() || !data.contains(key) || !data[key].is_string()) return "had no " + key;
  const std::string had = data[key].get<std::string>();
  if (had != want) return "held " + key + " \"" + had + "\"";
  return "had other labels or data";
}

}  // namespace

struct ClusterIdentityReconciler::Decision {
  std::string uid;
  std::string source;
  // Events recorded only once the status write that makes them true succeeded, so a replica
  // that loses a race reports nothing it did not do.
  struct Event {
    std::string type, reason, message;
  };
  std::vector<Event> events;
  bool backupWritten = false;
};

struct ClusterIdentityReconciler::PendingEvents {
  std::string uid;
  std::vector<Decision::Event> events;
};

struct ClusterIdentityReconciler::Backup {
  std::string uid;
  std::string source;
  std::string objectUid;  // metadata.uid of the ClusterIdentity it was written for
  json object;
};

std::string configMapLabelSelector() {
  return std::string(kManagedByLabel) + "=" + kManagedByValue + "," + kComponentLabel + "=" +
         kComponentValue;
}

ClusterIdentityReconciler::ClusterIdentityReconciler(kube::Client& client,
                                                     const kube::Store& identities,
                                                     const kube::Store& configMaps,
                                                     runtime::EventRecorder& recorder,
                                                     ClusterIdentityOptions options)
    : client_(client),
      identities_(identities),
      configMaps_(configMaps),
      recorder_(recorder),
      options_(std::move(options)) {
  // Without an object to manage (--create-cluster-identity=false, e.g. the namespace-pool
  // "pinned-uid" install, which grants nothing on clusteridentities), a valid --cluster-uid is
  // the identity from the start.
  if (!options_.create) identity_.set(flagPin());
}

std::string ClusterIdentityReconciler::flagPin() const {
  return identifierProblem(options_.pinnedUid) ? std::string() : options_.pinnedUid;
}

ClusterIdentityReconciler::~ClusterIdentityReconciler() = default;

std::optional<runtime::ObjectKey> ClusterIdentityReconciler::keyForClusterIdentity(
    const json& object) const {
  if (str(object, json::json_pointer("/metadata/name")) != options_.name) return std::nullopt;
  return key();
}

std::optional<runtime::ObjectKey> ClusterIdentityReconciler::keyForConfigMap(
    const json& configMap) const {
  if (!hasLabel(configMap, kManagedByLabel, kManagedByValue) ||
      !hasLabel(configMap, kComponentLabel, kComponentValue)) {
    return std::nullopt;
  }
  // A ConfigMap written for another identity object (another operator instance) is not ours.
  const std::string owner = labelOf(configMap, kIdentityNameLabel);
  if (!owner.empty() && owner != options_.name) return std::nullopt;
  return key();
}

bool ClusterIdentityReconciler::backupEnabled() const {
  return !options_.operatorNamespace.empty() && !options_.backupConfigMap.empty();
}

ReconcileOutcome ClusterIdentityReconciler::reconcile(const runtime::ObjectKey& k) {
  if (!k.ns.empty() || k.name != options_.name) return ReconcileOutcome::done();
  try {
    std::lock_guard<std::mutex> lock(mu_);
    carried_.reset();
    auto outcome = reconcileLocked();
    carried_.reset();
    return outcome;
  } catch (const std::exception& e) {
    return ReconcileOutcome::retry(std::string("ClusterIdentity reconcile failed: ") + e.what());
  }
}

ReconcileOutcome ClusterIdentityReconciler::reconcileLocked() {
  const auto& type = kube::resources::ClusterIdentities;
  json object;
  if (auto cached = identities_.get("", options_.name)) {
    object = *cached;
  } else {
    // The cache may lag our own creation: ask the server before creating anything.
    auto live = client_.get(type, "", options_.name);
    if (live.ok()) {
      object = std::move(live.value());
    } else if (!live.error().isNotFound()) {
      if (live.error().isForbidden() && !options_.create) identity_.set(flagPin());
      return ReconcileOutcome::retry("reading ClusterIdentity " + options_.name + ": " +
                                     describe(live.error()));
    } else {
      if (!options_.create) {
        identity_.set(flagPin());         // empty (no valid pin): FlowRuns wait for the object
        return ReconcileOutcome::done();  // the watch brings the object when it exists
      }
      identity_.clear();
      if (seenObject_ && options_.recreateDelay.count() > 0) {
        const auto now = std::chrono::steady_clock::now();
        if (!missingSince_) missingSince_ = now;
        const auto waited = now - *missingSince_;
        if (waited < options_.recreateDelay) {
          return ReconcileOutcome::after(std::chrono::duration_cast<std::chrono::milliseconds>(
              options_.recreateDelay - waited));
        }
      }
      json fresh = {
          {"apiVersion", type.apiVersion()},
          {"kind", type.kind},
          {"metadata", {{"name", options_.name}, {"labels", {{kManagedByLabel, kManagedByValue}}}}},
          {"spec", json::object()}};
      auto created = client_.create(type, "", fresh);
      if (created.ok()) {
        object = std::move(created.value());
      } else if (created.error().isAlreadyExists()) {
        auto again = client_.get(type, "", options_.name);
        if (!again.ok()) {
          return ReconcileOutcome::retry("reading ClusterIdentity " + options_.name + ": " +
                                         describe(again.error()));
        }
        object = std::move(again.value());
      } else {
        return ReconcileOutcome::retry("creating ClusterIdentity " + options_.name + ": " +
                                       describe(created.error()));
      }
    }
  }
  seenObject_ = true;
  missingSince_.reset();

  // Being deleted (someone holds a finalizer): leave it alone; its successor is restored.
  if (object.contains("metadata") && object["metadata"].contains("deletionTimestamp")) {
    return ReconcileOutcome::done();
  }

  for (int attempt = 0; attempt < kMaxConflictRetries; ++attempt) {
    ReconcileOutcome outcome;
    if (pass(object, outcome) == PassResult::Finished) return outcome;
    // Lost a race (another replica, or our cache was stale): act on what the server has now.
    auto live = client_.get(type, "", options_.name);
    if (!live.ok()) {
      if (live.error().isNotFound()) return ReconcileOutcome::after(std::chrono::milliseconds(0));
      return ReconcileOutcome::retry("re-reading ClusterIdentity " + options_.name +
                                     " after a conflict: " + describe(live.error()));
    }
    object = std::move(live.value());
  }
  return ReconcileOutcome::retry("ClusterIdentity " + options_.name +
                                 ": status kept changing under us; will retry");
}

kube::Result<std::optional<ClusterIdentityReconciler::Backup>>
ClusterIdentityReconciler::readBackup() {
  auto got = client_.get(kube::resources::ConfigMaps, options_.operatorNamespace,
                         options_.backupConfigMap);
  if (!got.ok()) {
    if (got.error().isNotFound()) return std::optional<Backup>{};
    return got.error();
  }
  Backup b;
  b.object = std::move(got.value());
  b.uid = str(b.object, json::json_pointer("/data/uid"));
  b.source = str(b.object, json::json_pointer("/data/source"));
  b.objectUid = str(b.object, json::json_pointer("/data/objectUid"));
  return std::optional<Backup>(std::move(b));
}

json ClusterIdentityReconciler::backupObject(const std::string& uid, const std::string& source,
                                             const std::string& objectUid) const {
  return json{{"apiVersion", "v1"},
              {"kind", "ConfigMap"},
              {"metadata",
               {{"name", options_.backupConfigMap},
                {"namespace", options_.operatorNamespace},
                {"labels", labelsFor(options_.name, "backup")},
                {"annotations",
                 {{"prefect.io/description",
                   "Backup of ClusterIdentity " + options_.name +
                       ": restored into its status if the object is deleted and re-created. "
                       "Do not delete."}}}}},
              {"data",
               {{"uid", uid},
                {"source", source},
                {"objectUid", objectUid},
                {"clusterIdentity", options_.name}}}};
}

std::optional<std::string> ClusterIdentityReconciler::ensureBackup(
    const std::string& uid, const std::string& source, const std::string& objectUid,
    std::vector<std::string>& repairs) {
  if (!backupEnabled()) return std::nullopt;
  const json want = backupObject(uid, source, objectUid);
  auto matches = [&](const json& cm) {
    return cm.contains("data") && cm["data"] == want["data"] &&
           labelsInclude(cm, want["metadata"]["labels"]);
  };
  if (auto cached = configMaps_.get(options_.operatorNamespace, options_.backupConfigMap)) {
    if (matches(*cached)) return std::nullopt;
  }
  const std::string where = options_.operatorNamespace + "/" + options_.backupConfigMap;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto current = readBackup();
    if (!current.ok()) return "backup ConfigMap " + where + ": " + describe(current.error());
    if (!current.value()) {
      auto created = client_.create(kube::resources::ConfigMaps, options_.operatorNamespace, want);
      if (created.ok()) return std::nullopt;
      if (created.error().isAlreadyExists()) continue;
      return "backup ConfigMap " + where + ": " + describe(created.error());
    }
    json cm = current.value()->object;
    if (matches(cm)) return std::nullopt;
    const std::string held = whatItHeld(cm, "uid", uid);
    cm["data"] = want["data"];
    for (const auto& [k, v] : want["metadata"]["labels"].items()) cm["metadata"]["labels"][k] = v;
    auto updated = client_.update(kube::resources::ConfigMaps, cm);
    if (updated.ok()) {
      repairs.push_back("backup ConfigMap " + where + " " + held + "; rewritten with " + uid);
      return std::nullopt;
    }
    if (updated.error().isConflict() || updated.error().isNotFound()) continue;
    return "backup ConfigMap " + where + ": " + describe(updated.error());
  }
  return "backup ConfigMap " + where + ": kept changing under us; will retry";
}

std::optional<std::string> ClusterIdentityReconciler::ensurePublished(
    const std::string& ns, const std::string& name, const std::string& uid,
    std::vector<std::string>& repairs) {
  const json labels = labelsFor(options_.name, "published");
  // No ownerReference on purpose: the copies must outlive a delete/re-create of the
  // ClusterIdentity (garbage collection would remove them), and GitOps tools do not prune
  // objects they did not create.
  const json want = {{"apiVersion", "v1"},
                     {"kind", "ConfigMap"},
                     {"metadata", {{"name", name}, {"namespace", ns}, {"labels", labels}}},
                     {"data", {{kPublishedDataKey, uid}}}};
  auto repaired = [&](json cm) {
    cm["data"] = want["data"];
    cm.erase("binaryData");
    for (const auto& [k, v] : labels.items()) cm["metadata"]["labels"][k] = v;
    return cm;
  };
  auto isCurrent = [&](const json& cm) {
    return labelsInclude(cm, labels) && cm.contains("data") && cm["data"] == want["data"] &&
           !cm.contains("binaryData");
  };

  std::optional<json> current;
  if (auto cached = configMaps_.get(ns, name)) {
    if (isCurrent(*cached)) return std::nullopt;
    current = *cached;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (!current) {
      auto created = client_.create(kube::resources::ConfigMaps, ns, want);
      if (created.ok()) return std::nullopt;
      if (!created.error().isAlreadyExists()) return publishProblem(ns, created.error());
      auto live = client_.get(kube::resources::ConfigMaps, ns, name);
      if (!live.ok()) {
        if (live.error().isNotFound()) continue;  // deleted in between: create again
        return publishProblem(ns, live.error());
      }
      current = std::move(live.value());
    }
    // Never take over a ConfigMap somebody else made: it may hold something else entirely.
    if (!hasLabel(*current, kManagedByLabel, kManagedByValue) ||
        !hasLabel(*current, kComponentLabel, kComponentValue)) {
      return "namespace \"" + ns + "\": ConfigMap " + name +
             " exists and is not managed by flowrun-operator; delete it or choose another "
             "spec.publish.configMapName";
    }
    if (isCurrent(*current)) return std::nullopt;
    auto updated = client_.update(kube::resources::ConfigMaps, repaired(*current));
    if (updated.ok()) {
      repairs.push_back("published ConfigMap " + ns + "/" + name + " " +
                        whatItHeld(*current, kPublishedDataKey, uid) + "; rewritten with " + uid);
      return std::nullopt;
    }
    if (updated.error().isNotFound()) {
      current.reset();
      continue;
    }
    if (!updated.error().isConflict()) return publishProblem(ns, updated.error());
    auto live = client_.get(kube::resources::ConfigMaps, ns, name);
    if (!live.ok()) {
      if (live.error().isNotFound()) {
        current.reset();
        continue;
      }
      return publishProblem(ns, live.error());
    }
    current = std::move(live.value());
  }
  return "namespace \"" + ns + "\": ConfigMap " + name + " kept changing under us; will retry";
}

ClusterIdentityReconciler::PassResult ClusterIdentityReconciler::pass(const json& object,
                                                                      ReconcileOutcome& outcome) {
  static const json::json_pointer kSpecUid("/spec/uid");
  const json spec =
      object.contains("spec") && object["spec"].is_object() ? object["spec"] : json::object();
  const json status =
      object.contains("status") && object["status"].is_object() ? object["status"] : json::object();
  const std::int64_t generation = int64At(object, json::json_pointer("/metadata/generation"));
  const std::string objectUid = str(object, json::json_pointer("/metadata/uid"));

  std::string currentUid = str(status, json::json_pointer("/uid"));
  std::string currentSource = str(status, json::json_pointer("/source"));
  std::vector<std::string> invalid;  // problems with what was asked, for InvalidSpec
  if (!currentUid.empty() && identifierProblem(currentUid)) {
    // Only the status subresource can hold this; treat it as no identity and assign a good one.
    invalid.push_back("status.uid " + *identifierProblem(currentUid) + " (replaced)");
    currentUid.clear();
    currentSource.clear();
  }

  // 1. Pins.
  std::optional<std::string> pin;
  std::string pinOrigin;
  const std::string specUid = object.contains(kSpecUid) && object.at(kSpecUid).is_string()
                                  ? object.at(kSpecUid).get<std::string>()
                                  : "";
  if (!specUid.empty()) {
    if (auto problem = identifierProblem(specUid)) {
      invalid.push_back("spec.uid " + *problem);
    } else {
      pin = specUid;
      pinOrigin = "spec.uid";
    }
  }
  if (!options_.pinnedUid.empty()) {
    if (auto problem = identifierProblem(options_.pinnedUid)) {
      invalid.push_back("the operator's --cluster-uid " + *problem);
    } else if (!pin) {
      pin = options_.pinnedUid;
      pinOrigin = "the operator's --cluster-uid";
    }
  }

  Decision d;
  bool backupUnusable = false;  // exists but holds no valid identity: overwrite, do not claim
  if (pin) {
    d.uid = *pin;
    d.source = "Pinned";
    if (currentUid != *pin) {
      if (!currentUid.empty()) {
        d.events.push_back(
            {"Warning", "IdentityReplaced",
             "cluster identity changed from " + currentUid + " (" +
                 (currentSource.empty() ? "unknown source" : currentSource) + ") to " + *pin +
                 ", pinned by " + pinOrigin +
                 "; Prefect infrastructure PIDs that carry the old identity no longer match"});
      } else {
        d.events.push_back(
            {"Normal", "IdentityPinned", "cluster identity " + *pin + " pinned by " + pinOrigin});
      }
    }
  } else if (!currentUid.empty()) {
    d.uid = currentUid;
    d.source = currentSource.empty() ? "Generated" : currentSource;
  } else if (backupEnabled()) {
    auto backup = readBackup();
    if (!backup.ok()) {
      // Never generate while the backup is unreadable: it may hold this cluster's identity.
      outcome =
          ReconcileOutcome::retry("reading backup ConfigMap " + options_.operatorNamespace + "/" +
                                  options_.backupConfigMap + ": " + describe(backup.error()));
      return PassResult::Finished;
    }
    backupUnusable = backup.value().has_value() && identifierProblem(backup.value()->uid);
    if (backup.value() && !backupUnusable) {
      const Backup& b = *backup.value();
      d.uid = b.uid;
      if (!b.objectUid.empty() && b.objectUid == objectUid) {
        d.source = b.source.empty() ? "Generated" : b.source;  // written for this very object
      } else {
        d.source = "Restored";
        d.events.push_back({"Normal", "IdentityRestored",
                            "cluster identity " + b.uid + " restored from ConfigMap " +
                                options_.operatorNamespace + "/" + options_.backupConfigMap});
      }
    }
  }

  if (d.uid.empty() && options_.adoptClusterProperty) {
    auto prop = client_.get(kube::resources::ClusterProperties, "", kClusterPropertyName);
    if (prop.ok()) {
      const std::string value = str(prop.value(), json::json_pointer("/spec/value"));
      if (auto problem = identifierProblem(value)) {
        d.events.push_back({"Warning", "ClusterPropertyIgnored",
                            std::string("ClusterProperty ") + kClusterPropertyName +
                                " spec.value " + *problem + "; generating an identity instead"});
      } else {
        d.uid = value;
        d.source = "ClusterProperty";
        d.events.push_back({"Normal", "IdentityAdopted",
                            "cluster identity " + value + " adopted from ClusterProperty " +
                                kClusterPropertyName});
      }
    } else if (!prop.error().isNotFound()) {
      // Its CRD or the object missing (404) means: generate. Anything else may be transient, and
      // generating now would fix the wrong identity forever.
      outcome = ReconcileOutcome::retry(std::string("reading ClusterProperty ") +
                                        kClusterPropertyName + ": " + describe(prop.error()));
      return PassResult::Finished;
    }
  }

  if (d.uid.empty()) {
    auto generated = generateUuidV4();
    if (!generated) {
      outcome = ReconcileOutcome::retry(
          "the system's random number generator failed; no "
          "identity generated");
      return PassResult::Finished;
    }
    d.uid = *generated;
    d.source = "Generated";
    if (backupEnabled() && !backupUnusable) {
      // Claim the identity by creating the backup: creation is atomic, so of two replicas
      // generating at once exactly one wins and the other adopts the winner's UUID.
      auto created = client_.create(kube::resources::ConfigMaps, options_.operatorNamespace,
                                    backupObject(d.uid, d.source, objectUid));
      if (created.ok()) {
        d.backupWritten = true;
      } else if (created.error().isAlreadyExists()) {
        return PassResult::Conflict;  // someone else claimed one: start over with it
      } else {
        outcome =
            ReconcileOutcome::retry("writing backup ConfigMap " + options_.operatorNamespace + "/" +
                                    options_.backupConfigMap + ": " + describe(created.error()));
        return PassResult::Finished;
      }
    }
    d.events.push_back({"Normal", "IdentityGenerated", "cluster identity " + d.uid + " generated"});
  }

  // 2. Backup, before status, so that status never holds an identity the backup lacks.
  std::vector<std::string> otherProblems;
  std::vector<std::string> repairs;
  if (!d.backupWritten) {
    if (auto problem = ensureBackup(d.uid, d.source, objectUid, repairs))
      otherProblems.push_back(*problem);
  }

  // 3. Publish.
  std::vector<std::string> published;
  std::vector<std::string> publishProblems;
  const bool publishing = spec.contains("publish") && spec["publish"].is_object();
  if (publishing) {
    const json& pub = spec["publish"];
    std::string cmName = pub.contains("configMapName") && pub["configMapName"].is_string()
                             ? pub["configMapName"].get<std::string>()
                             : kDefaultPublishConfigMap;
    if (cmName.empty()) cmName = kDefaultPublishConfigMap;
    std::set<std::string> seen;
    if (pub.contains("namespaces") && pub["namespaces"].is_array()) {
      for (const auto& n : pub["namespaces"]) {
        if (!n.is_string() || n.get<std::string>().empty()) continue;
        const std::string ns = n.get<std::string>();
        if (!seen.insert(ns).second) continue;
        if (auto problem = ensurePublished(ns, cmName, d.uid, repairs)) {
          publishProblems.push_back(*problem);
        } else {
          published.push_back(ns);
        }
      }
    }
  }

  // Someone changed a copy: say what it held, since a reader may have seen the wrong value.
  // When the identity itself changed in this pass (a pin), rewriting the copies is the expected
  // follow-up that IdentityReplaced already announces, not a repair.
  if (currentUid == d.uid) {
    for (const auto& r : repairs) d.events.push_back({"Warning", "IdentityCopyRepaired", r});
  }

  // 4. Status.
  json next = status;
  next["uid"] = d.uid;
  next["source"] = d.source;
  next["observedGeneration"] = generation;
  if (publishing) {
    next["publishedNamespaces"] = published;
  } else {
    next.erase("publishedNamespaces");
  }

  json ready = {{"type", "Ready"}, {"observedGeneration", generation}};
  const std::string inUse = "; the identity in use is " + d.uid + " (" + d.source + ")";
  auto join = [](const std::vector<std::string>& parts) {
    std::string out;
    for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
    return out;
  };
  if (!invalid.empty()) {
    std::vector<std::string> all = invalid;
    all.insert(all.end(), publishProblems.begin(), publishProblems.end());
    all.insert(all.end(), otherProblems.begin(), otherProblems.end());
    ready["status"] = "False";
    ready["reason"] = "InvalidSpec";
    ready["message"] = join(all) + inUse;
  } else if (!publishProblems.empty()) {
    std::vector<std::string> all = publishProblems;
    all.insert(all.end(), otherProblems.begin(), otherProblems.end());
    ready["status"] = "False";
    ready["reason"] = "PublishFailed";
    ready["message"] = "could not publish to " + std::to_string(publishProblems.size()) + " of " +
                       std::to_string(publishProblems.size() + published.size()) +
                       " namespaces: " + join(all) + inUse;
  } else if (!otherProblems.empty()) {
    ready["status"] = "False";
    ready["reason"] = "BackupFailed";
    ready["message"] = join(otherProblems) + inUse;
  } else {
    ready["status"] = "True";
    ready["reason"] = "IdentityAssigned";
    std::string msg = "cluster identity " + d.uid + " (" + d.source + ")";
    if (!published.empty()) {
      msg += ", published to ConfigMap in " + std::to_string(published.size()) + " namespace" +
             (published.size() == 1 ? "" : "s");
    }
    ready["message"] = msg;
  }

  json conditions = json::array();
  json previousReady = json::object();
  bool placed = false;
  if (status.contains("conditions") && status["conditions"].is_array()) {
    for (const auto& c : status["conditions"]) {
      if (c.is_object() && c.value("type", "") == "Ready") {
        previousReady = c;
        ready["lastTransitionTime"] = c.value("status", "") == ready["status"].get<std::string>() &&
                                              c.contains("lastTransitionTime")
                                          ? c["lastTransitionTime"]
                                          : json(nowRfc3339());
        conditions.push_back(ready);
        placed = true;
      } else {
        conditions.push_back(c);
      }
    }
  }
  if (!placed) {
    ready["lastTransitionTime"] = nowRfc3339();
    conditions.push_back(ready);
  }
  next["conditions"] = conditions;

  const bool needsRetry = !publishProblems.empty() || !otherProblems.empty();
  outcome = needsRetry ? ReconcileOutcome::after(options_.retryInterval) : ReconcileOutcome::done();

  const bool claimed = d.backupWritten || (carried_ && carried_->uid == d.uid);
  if (carried_ && carried_->uid == d.uid) {
    d.events.insert(d.events.begin(), carried_->events.begin(), carried_->events.end());
  }
  carried_.reset();
  if (next == status) {
    identity_.set(d.uid);
    for (const auto& e : d.events) recorder_.record(object, e.type, e.reason, e.message);
    return PassResult::Finished;
  }
  json updated = object;
  updated["status"] = next;
  // metadata.resourceVersion from the read makes this conditional: a 409 means someone else
  // wrote first, and we start over from what they wrote.
  auto written = client_.updateStatus(kube::resources::ClusterIdentities, updated);
  if (!written.ok()) {
    if (written.error().isConflict()) {
      if (claimed) carried_ = std::make_unique<PendingEvents>(PendingEvents{d.uid, d.events});
      return PassResult::Conflict;
    }
    if (written.error().isNotFound()) {
      outcome = ReconcileOutcome::after(std::chrono::milliseconds(0));
      return PassResult::Finished;
    }
    outcome = ReconcileOutcome::retry("writing ClusterIdentity " + options_.name +
                                      " status: " + describe(written.error()));
    return PassResult::Finished;
  }
  identity_.set(d.uid);
  for (const auto& e : d.events) recorder_.record(written.value(), e.type, e.reason, e.message);
  if (ready["status"] == "False" &&
      (previousReady.value("reason", "") != ready["reason"].get<std::string>() ||
       previousReady.value("message", "") != ready["message"].get<std::string>())) {
    recorder_.record(written.value(), "Warning", ready["reason"].get<std::string>(),
                     ready["message"].get<std::string>());
  }
  return PassResult::Finished;
}

}  // namespace controllers::clusteridentity
