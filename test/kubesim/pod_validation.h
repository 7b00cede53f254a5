#pragma once
// Validation of pod specs, pod templates and the Job selector as kube-apiserver does it
// (pkg/apis/core/validation ValidatePodSpec / ValidatePodTemplateSpec, pkg/apis/batch/validation
// ValidateJob), with the real field paths and messages. Each function appends causes.
#include <string>
#include <vector>

#include "test/kubesim/util.h"

namespace kubesim {

// containers/initContainers (names, images, env, ports, resources), serviceAccountName,
// restartPolicy (`job`: only OnFailure/Never). `path` is "spec" or "spec.template.spec".
void validatePodSpec(const json& spec, const std::string& path, std::vector<FieldCause>& causes,
                     bool job);
// The template's labels (at <path>.labels, as ValidatePodTemplateSpec reports them).
void validateTemplateLabels(const json& tmpl, const std::string& path,
                            std::vector<FieldCause>& causes);
// validateGeneratedSelector (a Job created without spec.manualSelector): the template carries the
// controller-uid and job-name labels of this Job and the selector is exactly the generated one.
void validateGeneratedSelector(const json& job, std::vector<FieldCause>& causes);
// Go's %#v of a map[string]string: map[string]string{"a":"b", "c":"d"}.
std::string goStringMap(const json& labels);

}  // namespace kubesim
