#include "test/chaos/workload.h"

namespace chaos {

namespace {

std::string manifest(const std::string& name, const std::string& ns, const std::string& image,
                     const std::string& extraSpec) {
  return "apiVersion: prefect.io/v1alpha1\nkind: FlowRun\nmetadata:\n  name: " + name +
         "\n  namespace: " + ns + "\nspec:\n  flowRunId: 0b8c1b5e-0000-4000-8000-000000000001\n" +
         "  image: " + image + "\n" + extraSpec;
}

}  // namespace

std::vector<PlannedRun> planWorkload(int count, const std::string& ns, std::mt19937& rng) {
  std::vector<PlannedRun> out;
  std::uniform_int_distribution<int> runSeconds(10, 120);  // kubesim time (scaled by the suite)
  std::uniform_int_distribution<int> exitCode(1, 5);
  std::uniform_real_distribution<double> cancelAt(0.0, 10.0);
  for (int i = 0; i < count; ++i) {
    PlannedRun r;
    r.name = "chaos-" + std::to_string(i);
    std::string spec;
    // A third with finishedJobTTL 0, a third with a short one: the outcome must survive both.
    if (i % 3 == 0) spec += "  finishedJobTTL: 0\n";
    if (i % 3 == 1) spec += "  finishedJobTTL: 5\n";
    std::string image;
    switch (i % 10) {
      case 0:
      case 1:
      case 2:
        r.kind = "succeed";
        image = "kubesim/run:" + std::to_string(runSeconds(rng)) + "s";
        r.want = {"Succeeded", "Completed", 0};
        break;
      case 3: {
        r.kind = "exit";
        int code = exitCode(rng);
        image = "kubesim/exit:" + std::to_string(code);
        r.want = {"Failed", "BackoffLimitExceeded", code};
        break;
      }
      case 4:
        r.kind = "oom";
        image = "kubesim/oom";
        r.want = {"Crashed", "OOMKilled", 137};
        break;
      case 5:
        r.kind = "unschedulable";
        image = "kubesim/unschedulable";
        spec += "  podWatchTimeoutSeconds: 3\n";
        r.want = {"Crashed", "Unschedulable", std::nullopt};
        break;
      case 6:
        r.kind = "image-pull";
        image = "kubesim/image-pull-fail";
        spec += "  podWatchTimeoutSeconds: 3\n";
        r.want = {"Crashed", "ImagePullFailed", std::nullopt};
        break;
      case 7:
      case 8:
        r.kind = "cancel";
        image = "kubesim/run:1h";
        spec += "  cancelGracePeriodSeconds: 2\n";
        r.cancelAfterSeconds = cancelAt(rng);
        r.want = {"Cancelled", "Cancelled", std::nullopt};
        break;
      default:
        r.kind = "cancel-after";
        image = "kubesim/run:" + std::to_string(runSeconds(rng)) + "s";
        r.cancelOnceFinished = true;
        r.want = {"Succeeded", "Completed", 0};
        break;
    }
    r.yaml = manifest(r.name, ns, image, spec);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace chaos
