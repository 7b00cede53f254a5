#pragma once
// What the FlowRun controller watches and how it maps objects to FlowRuns: the trimming
// transforms of the three shared informers (FlowRuns, Jobs, pods), the label selector that keeps
// the Job and pod caches to the operator's own objects, and the object -> FlowRun key mapping.
#include <nlohmann/json.hpp>

#include <memory>
#include <optional>

#include "operator/kube/store.h"
#include "operator/runtime/reconciler.h"

namespace controllers::flowrun {

// The Jobs and pods informers list and watch only these; the renderer sets the label on the Job
// and on its pod template.
inline constexpr const char* kManagedJobSelector = "app.kubernetes.io/managed-by=flowrun-operator";
// Set by the reconciler on the Job and its pod template: the exact FlowRun name, because the
// prefect.io/flowrun label holds a shortened value for names longer than 63 characters.
inline constexpr const char* kAnnotationFlowRunName = "prefect.io/flowrun-name";
// Set by the reconciler on the Job: the pod watch timeout in effect when it was created, so that
// later reconciles need neither the template nor a re-render.
inline constexpr const char* kAnnotationPodWatchTimeout = "prefect.io/pod-watch-timeout-seconds";

// Keep what the reconciler reads; drop managedFields, the last-applied annotation (it can hold a
// literal API key) and, for Jobs and pods, the pod spec.
kube::Transform flowRunTransform();
kube::Transform jobTransform();
kube::Transform podTransform();

// What each transform reads, as the informers' decode schemas (kube::InformerOptions::keep):
// everything else of a listed or watched object is never built. transform(decode(text, keep))
// equals transform(parse(text)) (watches_test).
std::shared_ptr<const nlohmann::json> flowRunFields();
std::shared_ptr<const nlohmann::json> jobFields();
std::shared_ptr<const nlohmann::json> podFields();

// The pods informer's indexes: by their Job's uid (kube::kIndexControllerUid), and by the name of
// their FlowRun (flowRunKeyFor), so that the pods of a FlowRun whose Job is gone are found without
// decoding every pod of the namespace.
inline constexpr const char* kIndexFlowRun = "flowrun";
kube::Indexers podIndexers();

// The FlowRun a Job or pod belongs to: the Job's controller ownerReference of kind FlowRun, else
// the prefect.io/flowrun-name annotation, else the prefect.io/flowrun label; in the object's
// namespace. nullopt for objects that are not ours.
std::optional<runtime::ObjectKey> flowRunKeyFor(const nlohmann::json& jobOrPod);

}  // namespace controllers::flowrun
