#pragma once
// Kubernetes label keys and values, and the labels the operator puts on every Job and pod.
#include <string>

namespace controllers::flowrun {

// The labels the operator owns on the Job and on its pod template.
inline constexpr const char* kLabelFlowRunId = "prefect.io/flow-run-id";      // spec.flowRunId
inline constexpr const char* kLabelFlowRunName = "prefect.io/flow-run-name";  // FlowRun name
inline constexpr const char* kLabelFlowName = "prefect.io/flow-name";         // spec.flowName
inline constexpr const char* kLabelFlowRun = "prefect.io/flowrun";  // flowRunLabelValue(name)
inline constexpr const char* kLabelClusterUid = "prefect.io/cluster-uid";
inline constexpr const char* kLabelManagedBy = "app.kubernetes.io/managed-by";
inline constexpr const char* kManagedByValue = "flowrun-operator";

// Makes any text a valid label value: at most 63 chars of [A-Za-z0-9-_.], starting and ending
// alphanumeric. Invalid characters become '-', runs of them collapse, the ends are trimmed, and
// the result is truncated to 63. May return "" (a valid, empty label value).
std::string toLabelValue(const std::string& text);

// Makes any text a valid label key: an optional DNS-subdomain prefix (<= 253 chars, lowercase
// [a-z0-9-.], each dot-separated part starting and ending alphanumeric) and "/", then a name
// slugged like toLabelValue. Returns "" when the name part is empty after slugging: the caller
// drops such a label.
std::string toLabelKey(const std::string& text);

bool isValidLabelValue(const std::string& value);
bool isValidLabelKey(const std::string& key);

// GitOps tracking metadata that must never be copied onto a Job or pod, since the tool that
// applied the FlowRun would claim, report or prune a Job carrying it: app.kubernetes.io/instance
// and argocd.argoproj.io/* (ArgoCD), kustomize.toolkit.fluxcd.io/* and helm.toolkit.fluxcd.io/*
// (Flux).
bool isGitOpsTrackingKey(const std::string& key);

// The value of the prefect.io/flowrun label: the FlowRun name when it fits in a label value
// (<= 63 chars), otherwise jobNameFor(name). Equal for the Job and its pods, so the reconciler
// maps either back to its FlowRun (long names: use the Job's ownerReferences).
std::string flowRunLabelValue(const std::string& flowRunName);

}  // namespace controllers::flowrun
