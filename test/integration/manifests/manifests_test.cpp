// The install manifests (manifests/) against kubesim with RBAC enforced: each kustomize base is
// rendered with the real kubectl, applied as an administrator, and the operator is started with
// exactly the ServiceAccount, arguments and environment of the rendered Deployment. Then the
// examples run to every outcome (Succeeded, Failed, Crashed, Cancelled, a template from a
// ConfigMap, a published identity), and:
//   - no request of the operator is refused (no 403 anywhere), and it never touches namespaces
//     or kube-system;
//   - least privilege, the other way round: for every rule of every Role/ClusterRole bound to the
//     ServiceAccount, and every verb of each rule, some request the operator made is allowed only
//     by it. Checked with kubesim's own RBAC evaluator on the recorded requests: removing that
//     rule or verb would have turned that request into a 403, failing the first check.
#include <httplib.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "operator/kube/base64.h"
#include "test/kubesim/object_store.h"
#include "test/kubesim/rbac.h"
#include "test/kubesim/simulator.h"
#include "test/prefectsim/server.h"
#include "test/support/operator_process.h"
#include "test/support/process.h"

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string replaceAll(std::string text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos;
       pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
  return text;
}

std::string describe(const testsupport::ProcessResult& r) {
  return "exit " + std::to_string(r.exitCode) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

std::string tail(const std::string& text, std::size_t n = 6000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

// `kubectl kustomize` of a base plus optional Components, through an overlay in `dir` (kustomize
// refuses absolute paths for Components, so the overlay refers to the source tree relatively).
std::string render(const std::string& dir, const std::string& base,
                   const std::vector<std::string>& components) {
  fs::path overlay = fs::path(dir) / "overlay";
  fs::create_directories(overlay);
  auto rel = [&](const std::string& p) {
    return fs::relative(fs::path(testsupport::sourceDir()) / p, overlay).string();
  };
  std::ofstream k(overlay / "kustomization.yaml");
  k << "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - "
    << rel(base) << "\n";
  if (!components.empty()) {
    k << "components:\n";
    for (const auto& c : components) k << "  - " << rel(c) << "\n";
  }
  k.close();
  auto r = testsupport::runProcess({"kubectl", "kustomize", overlay.string()});
  INFO(describe(r));
  REQUIRE(r.exitCode == 0);
  return r.out;
}

struct Variant {
  std::string base;                     // a kustomize base under manifests/
  std::vector<std::string> components;  // optional Components
  std::vector<std::string> flowNamespaces;
  bool apiKeySecrets = false;
  bool pinnedUid = false;  // no cluster-scoped grant; identity from --cluster-uid's env
  bool workPool = false;   // with the workpools Component: a WorkPool serving prefectsim
};

const char* kPinnedUid = "3f6d2a1c-8e4b-4c7d-9a0f-1b2c3d4e5f60";

// Rules that no request in kubesim can exercise, with the reason they are granted anyway.
std::string exemptionFor(const json& rule) {
  const auto verbs = rule.value("verbs", json::array());
  for (const auto& r : rule.value("resources", json::array())) {
    if (r == "flowruns/finalizers") {
      return "update on flowruns/finalizers is checked by the OwnerReferencesPermissionEnforcement "
             "admission plugin, not asked for in a request; the test case without the rule "
             "shows the Job refused";
    }
  }
  return "";
}

std::string ruleText(const json& rule) {
  json shown = rule;
  return shown.dump();
}

struct BoundRole {
  std::string kind;  // Role | ClusterRole
  std::string ns;    // Role: its namespace
  std::string name;
};

std::vector<json>& rolesOf(kubesim::RbacPolicy& p, const BoundRole& r) {
  return r.kind == "Role" ? p.roles : p.clusterRoles;
}

json* findRole(kubesim::RbacPolicy& p, const BoundRole& r) {
  for (auto& role : rolesOf(p, r)) {
    const auto& md = role["metadata"];
    if (md.value("name", "") == r.name &&
        (r.kind == "ClusterRole" || md.value("namespace", "") == r.ns)) {
      return &role;
    }
  }
  return nullptr;
}

class ManifestRun {
 public:
  explicit ManifestRun(Variant v) : v_(std::move(v)) {}

  void run() {
    rendered_ = render(dir_.path(), v_.base, v_.components);
    kubesim::SimulatorOptions o;
    o.rbac = true;
    // As on OpenShift: a Job owned by a FlowRun with blockOwnerDeletion needs update on
    // flowruns/finalizers (the test case without that rule shows it refused).
    o.ownerReferencesPermissionEnforcement = true;
    o.timeScale = 0.1;
    sim_ = std::make_unique<kubesim::Simulator>(o);
    sim_->start();
    admin_ = sim_->writeKubeconfig(dir_.file("admin.kubeconfig"));

    // The pool namespaces exist before the manifests (docs/install.md); `outside` is not watched.
    std::set<std::string> namespaces(v_.flowNamespaces.begin(), v_.flowNamespaces.end());
    namespaces.insert("outside");
    for (const auto& ns : namespaces) {
      admin({"apply", "-f", "-"},
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + ns + "\n");
    }
    admin({"apply", "-f", "-"}, rendered_);
    admin({"wait", "--for=condition=Established", "--timeout=30s", "crd/flowruns.prefect.io",
           "crd/clusteridentities.prefect.io"});
    if (v_.pinnedUid) {
      // What docs/install.md has the administrator create for the pinned-uid Component.
      admin({"apply", "-f", "-"},
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: flowrun-operator-cluster-uid\n"
            "  namespace: flowrun-operator\ndata:\n  uid: " +
                std::string(kPinnedUid) + "\n");
    }
    loadPolicy();
    startOperators();
    exerciseExamples();
    if (v_.workPool) exerciseWorkPool();
    stopAll();
  }

  void checkNoForbidden() {
    std::vector<std::string> forbidden, outOfBounds;
    for (const auto& r : saRequests_) {
      std::string line = r.verb + " " + r.path + (r.query.empty() ? "" : "?" + r.query) + " -> " +
                         std::to_string(r.code);
      if (r.code == 403) forbidden.push_back(line);
      if (r.resource == "namespaces" || r.ns == "kube-system") outOfBounds.push_back(line);
    }
    INFO("operator requests refused:\n" << join(forbidden) << "\noperator log:\n" << tail(logs_));
    CHECK(forbidden.empty());
    INFO("requests on namespaces or kube-system:\n" << join(outOfBounds));
    CHECK(outOfBounds.empty());
    CHECK(saRequests_.size() > 20);
    // What a cluster admin checking our manifests sees: the ServiceAccount may not read
    // namespaces or anything in kube-system (kubectl auth can-i --as, asked before kubesim
    // stopped, answered by its RBAC).
    REQUIRE(canI_.size() >= 4);
    for (const auto& [question, answer] : canI_) {
      INFO("kubectl " << question << " -> " << answer);
      CHECK(answer == "exit 1: no\n");
    }
  }

  // Every rule, and every verb of every rule, bound to the ServiceAccount is needed by some
  // request the operator made.
  void checkEveryRuleNeeded() {
    std::vector<kubesim::RequestAttributes> allowed;
    std::size_t bootstrapOnly = 0;
    for (const auto& r : saRequests_) {
      if (r.code == 403 || r.code == 401 || r.resource.empty()) continue;
      auto a = attributes(r);
      if (kubesim::evaluateRbac(policy_, a).allowed) {
        allowed.push_back(a);
      } else {
        ++bootstrapOnly;  // allowed by the API server's built-in policy (e.g. access reviews)
      }
    }
    REQUIRE(!allowed.empty());
    INFO(bootstrapOnly << " requests were allowed by kubesim's bootstrap policy only");

    std::vector<std::string> unneeded, exempt;
    // The namespace pool stamps one Role into every pool namespace. A Role only authorizes
    // requests in its own namespace, so a rule of that Role is needed when some copy needs it;
    // it is unneeded only when every copy can do without it.
    std::map<std::string, int> copies;
    for (const auto& bound : boundRoles_) ++copies[bound.kind + " " + bound.name];
    std::map<std::string, std::vector<std::string>> unneededCopies;
    auto markUnneeded = [&](const BoundRole& bound, const std::string& what,
                            const std::string& where) {
      unneededCopies[bound.kind + " " + bound.name + " " + what].push_back(where);
    };
    std::size_t checkedRules = 0;
    for (const auto& bound : boundRoles_) {
      json* role = findRole(policy_, bound);
      REQUIRE(role != nullptr);
      const json rules = (*role)["rules"];
      for (std::size_t i = 0; i < rules.size(); ++i) {
        std::string where = bound.kind + " " + (bound.ns.empty() ? "" : bound.ns + "/") +
                            bound.name + " rule " + ruleText(rules[i]);
        if (auto why = exemptionFor(rules[i]); !why.empty()) {
          exempt.push_back(where + ": " + why);
          continue;
        }
        ++checkedRules;
        for (const auto& res : rules[i].value("resources", json::array())) {
          CHECK(res != "namespaces");
          CHECK(res != "*");
        }
        for (const auto& verb : rules[i].value("verbs", json::array())) CHECK(verb != "*");
        // Without the whole rule.
        json without = rules;
        without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
        if (!neededWith(bound, without, allowed)) {
          markUnneeded(bound, "rule " + ruleText(rules[i]), where);
        }
        // Without one of its verbs.
        const auto verbs = rules[i].value("verbs", json::array());
        if (verbs.size() < 2) continue;
        for (std::size_t j = 0; j < verbs.size(); ++j) {
          json fewer = rules;
          fewer[i]["verbs"].erase(fewer[i]["verbs"].begin() + static_cast<std::ptrdiff_t>(j));
          if (!neededWith(bound, fewer, allowed)) {
            json single = rules[i];
            single["verbs"] = json::array({verbs[j]});
            if (auto why = exemptionFor(single); !why.empty()) {
              exempt.push_back(where + " verb " + verbs[j].get<std::string>() + ": " + why);
            } else {
              markUnneeded(bound, "rule " + ruleText(rules[i]) + " verb " + verbs[j].dump(),
                           where + " verb " + verbs[j].get<std::string>());
            }
          }
        }
      }
    }
    for (const auto& [key, wheres] : unneededCopies) {
      const std::string kindName = key.substr(0, key.find(" rule "));
      if (static_cast<int>(wheres.size()) == copies[kindName]) {
        unneeded.insert(unneeded.end(), wheres.begin(), wheres.end());
      }
    }
    INFO("exempt:\n" << join(exempt));
    INFO("granted but never needed (remove them from the manifests):\n" << join(unneeded));
    CHECK(unneeded.empty());
    CHECK(checkedRules > 0);
  }

  const std::string& rendered() const { return rendered_; }
  const std::vector<BoundRole>& boundRoles() const { return boundRoles_; }

 private:
  static std::string join(const std::vector<std::string>& lines) {
    std::string s;
    for (const auto& l : lines) s += "  " + l + "\n";
    return s;
  }

  testsupport::ProcessResult admin(const std::vector<std::string>& args,
                                   const std::string& input = "") {
    auto r = testsupport::kubectl(admin_, args, input);
    INFO("kubectl " << join(args) << describe(r));
    REQUIRE(r.exitCode == 0);
    return r;
  }

  kubesim::RequestAttributes attributes(const kubesim::RequestRecord& r) const {
    kubesim::RequestAttributes a;
    a.user.name = saUser_;
    a.user.groups = {"system:serviceaccounts", "system:serviceaccounts:" + saNamespace_,
                     "system:authenticated"};
    a.resourceRequest = true;
    a.verb = r.verb;
    a.apiGroup = r.apiGroup;
    a.resource = r.resource;
    a.subresource = r.subresource;
    a.ns = r.ns;
    a.name = r.name;
    a.path = r.path;
    return a;
  }

  bool neededWith(const BoundRole& bound, const json& rules,
                  const std::vector<kubesim::RequestAttributes>& allowed) {
    kubesim::RbacPolicy reduced = policy_;
    (*findRole(reduced, bound))["rules"] = rules;
    for (const auto& a : allowed) {
      if (!kubesim::evaluateRbac(reduced, a).allowed) return true;
    }
    return false;
  }

  void loadPolicy() {
    auto& store = sim_->store();
    policy_.roles = store.list("roles.rbac.authorization.k8s.io", "");
    policy_.clusterRoles = store.list("clusterroles.rbac.authorization.k8s.io", "");
    policy_.roleBindings = store.list("rolebindings.rbac.authorization.k8s.io", "");
    policy_.clusterRoleBindings = store.list("clusterrolebindings.rbac.authorization.k8s.io", "");

    deployment_ = store.get("deployments.apps", "flowrun-operator", "flowrun-operator");
    const auto& podSpec = deployment_["spec"]["template"]["spec"];
    saNamespace_ = "flowrun-operator";
    saUser_ = "system:serviceaccount:" + saNamespace_ + ":" +
              podSpec.value("serviceAccountName", std::string("default"));

    auto subjectIsSa = [&](const json& binding) {
      for (const auto& s : binding.value("subjects", json::array())) {
        if (s.value("kind", "") == "ServiceAccount" &&
            "system:serviceaccount:" + s.value("namespace", "") + ":" + s.value("name", "") ==
                saUser_) {
          return true;
        }
      }
      return false;
    };
    for (const auto& b : policy_.clusterRoleBindings) {
      if (subjectIsSa(b)) boundRoles_.push_back({"ClusterRole", "", b["roleRef"]["name"]});
    }
    for (const auto& b : policy_.roleBindings) {
      if (!subjectIsSa(b)) continue;
      std::string kind = b["roleRef"]["kind"];
      boundRoles_.push_back(
          {kind, kind == "Role" ? b["metadata"].value("namespace", "") : "", b["roleRef"]["name"]});
    }
    REQUIRE(!boundRoles_.empty());
  }

  // The operator exactly as the Deployment runs it: its args and env (downward API and
  // ConfigMap references resolved the way the kubelet would), its ServiceAccount's token, its
  // replica count. Only the listen addresses (port 0, loopback) and the lease timings (so that
  // renewals happen within a short test) are added.
  void startOperators() {
    const auto& podSpec = deployment_["spec"]["template"]["spec"];
    const auto& container = podSpec["containers"][0];
    std::vector<std::string> argv = {testsupport::operatorBinary()};
    for (const auto& a : container.value("args", json::array())) argv.push_back(a);
    std::string kubeconfig = sim_->writeKubeconfig(dir_.file("operator.kubeconfig"), saUser_);
    for (const std::string& extra :
         {"--kubeconfig=" + kubeconfig, std::string("--metrics-bind-address=127.0.0.1:0"),
          std::string("--health-probe-bind-address=127.0.0.1:0"),
          std::string("--lease-duration=3s"), std::string("--renew-deadline=2s"),
          std::string("--retry-period=500ms"), std::string("--log-format=console")}) {
      argv.push_back(extra);
    }
    std::map<std::string, std::string> env;
    for (const auto& e : container.value("env", json::array())) {
      std::string name = e["name"];
      if (e.contains("value")) {
        env[name] = e["value"];
      } else if (e.contains("valueFrom") && e["valueFrom"].contains("fieldRef")) {
        REQUIRE(e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace");
        env[name] = "flowrun-operator";
      } else if (e.contains("valueFrom") && e["valueFrom"].contains("configMapKeyRef")) {
        const auto& ref = e["valueFrom"]["configMapKeyRef"];
        auto cm = sim_->store().get("configmaps", "flowrun-operator", ref["name"]);
        env[name] = cm["data"][ref["key"].get<std::string>()];
      } else {
        FAIL("unsupported env entry in the Deployment: " << e.dump());
      }
    }
    int replicas = deployment_["spec"].value("replicas", 1);
    REQUIRE(replicas >= 1);
    for (int i = 0; i < replicas; ++i) {
      operators_.push_back(std::make_unique<testsupport::OperatorProcess>(
          argv, dir_.file("operator-" + std::to_string(i) + ".log"), env));
    }
  }

  // The object, or nullopt when the store has none.
  std::optional<json> find(const std::string& resource, const std::string& ns,
                           const std::string& name) {
    try {
      return sim_->store().get(resource, ns, name);
    } catch (const kubesim::ApiException&) {
      return std::nullopt;
    }
  }

  // Waits up to 30 s for `condition`; when it never holds, the check fails with the operators'
  // logs.
  template <class F>
  bool eventually(const std::string& what, F condition) {
    bool ok = testsupport::waitFor(condition, 30s, 50ms);
    if (!ok) collectLogs();
    INFO(what << "\noperator logs:\n" << tail(logs_));
    CHECK(ok);
    return ok;
  }

  std::string phaseOf(const std::string& ns, const std::string& name) {
    try {
      auto fr = sim_->store().get("flowruns.prefect.io", ns, name);
      return fr.contains("status") ? fr["status"].value("phase", "") : "";
    } catch (const kubesim::ApiException&) {
      return "";
    }
  }

  void waitPhase(const std::string& ns, const std::string& name, const std::string& phase,
                 std::chrono::milliseconds deadline = 60s) {
    bool reached = testsupport::waitFor([&] { return phaseOf(ns, name) == phase; }, deadline, 50ms);
    if (!reached) {
      collectLogs();
      std::string status;
      try {
        status = sim_->store().get("flowruns.prefect.io", ns, name).value("status", json()).dump();
      } catch (const kubesim::ApiException& e) {
        status = e.what();
      }
      FAIL("FlowRun " << ns << "/" << name << " did not reach " << phase << "; status " << status
                      << "\noperator logs:\n"
                      << tail(logs_));
    }
  }

  std::string example(const std::string& file) {
    return readFile(testsupport::sourceDir() + "/examples/" + file);
  }

  void exerciseExamples() {
    const std::string ns0 = v_.flowNamespaces.front();
    const std::string ns1 = v_.flowNamespaces.back();

    if (!v_.pinnedUid) {
      // The operator finds no ClusterIdentity (get: 404) and creates the singleton; only then
      // does the administrator's manifest arrive and add the publishing.
      REQUIRE(eventually("the operator creates ClusterIdentity cluster", [&] {
        return find("clusteridentities.prefect.io", "", "cluster").has_value();
      }));
      admin({"apply", "-f", "-"},
            "apiVersion: prefect.io/v1alpha1\nkind: ClusterIdentity\nmetadata:\n  name: cluster\n"
            "spec:\n  publish:\n    configMapName: prefect-cluster-identity\n    namespaces: [" +
                ns0 + "]\n");
    }
    admin({"apply", "-n", ns0, "-f", "-"}, example("base-job-template-configmap.yaml"));
    // Creating flowrun-succeeded's Job fails (500) until the operator has said FailedCreate
    // more than once and its Event recorder has patched the first Event's count (two quick
    // failures may be folded into one create, so the rule stays until a patch is seen).
    std::ofstream(dir_.file("fault.json"))
        << R"({"verb":"create","resource":"jobs","namespace":")" << ns0
        << R"(","name":"flowrun-succeeded","code":500,"count":100000})";
    const std::string failCreateId = std::to_string(
        json::parse(admin({"create", "--raw", "/kubesim/faults", "-f", dir_.file("fault.json")})
                        .out)["added"][0]
            .get<int>());
    // A template whose pods take 600 s to stop: cancelling gives them cancelGracePeriodSeconds
    // by deleting them itself (the garbage collector would use the pods' own grace period).
    admin({"apply", "-n", ns0, "-f", "-"},
          replaceAll(replaceAll(example("base-job-template-configmap.yaml"), "k8s-pool-template",
                                "slow-stop-template"),
                     "\"restartPolicy\": \"Never\",",
                     "\"restartPolicy\": \"Never\", \"terminationGracePeriodSeconds\": 600,"));
    admin({"apply", "-n", ns0, "-f", "-"},
          "apiVersion: prefect.io/v1alpha1\nkind: FlowRun\nmetadata:\n  name: slow-stop\n"
          "spec:\n  image: kubesim/run:10m\n  cancelGracePeriodSeconds: 2\n"
          "  template:\n    configMapRef: {name: slow-stop-template}\n");
    admin({"apply", "-n", ns0, "-f", "-"}, example("flowrun-succeeded.yaml"));
    eventually("the operator patches its repeated FailedCreate Event", [&] {
      for (const auto& r : sim_->requestLog().snapshot()) {
        if (r.user == saUser_ && r.verb == "patch" && r.resource == "events" && r.ns == ns0)
          return true;
      }
      return false;
    });
    admin({"delete", "--raw", "/kubesim/faults/" + failCreateId});
    admin({"apply", "-n", ns0, "-f", "-"}, example("flowrun-with-template.yaml"));
    admin({"apply", "-n", ns1, "-f", "-"}, example("flowrun-failed.yaml"));
    // The operator's pod watch timeout is real time (not scaled by kubesim): keep it short here.
    admin({"apply", "-n", ns1, "-f", "-"},
          replaceAll(example("flowrun-crashed-unschedulable.yaml"), "podWatchTimeoutSeconds: 10",
                     "podWatchTimeoutSeconds: 2"));
    admin({"apply", "-n", ns1, "-f", "-"}, example("flowrun-cancel.yaml"));
    admin({"apply", "-n", "outside", "-f", "-"}, example("flowrun-minimal.yaml"));
    if (v_.apiKeySecrets) {
      admin({"apply", "-n", ns0, "-f", "-"},
            "apiVersion: prefect.io/v1alpha1\nkind: FlowRun\nmetadata:\n  name: with-api-key\n"
            "spec:\n  image: kubesim/run:1s\n  env:\n    PREFECT_API_KEY: pnu_not_a_real_key\n");
      // A Secret with the name the operator would use, owned by nobody: it must be refused.
      admin({"apply", "-n", ns0, "-f", "-"},
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: key-conflict-api-key\n"
            "stringData:\n  key: somebody-elses\n");
      admin({"apply", "-n", ns0, "-f", "-"},
            "apiVersion: prefect.io/v1alpha1\nkind: FlowRun\nmetadata:\n  name: key-conflict\n"
            "spec:\n  image: kubesim/run:1s\n  env:\n    PREFECT_API_KEY: pnu_not_a_real_key\n");
    }

    if (v_.apiKeySecrets) {
      // The key changes while the Job cannot be created yet (503 until the rule is removed):
      // the operator brings its own Secret up to date (update on secrets) before the Job.
      std::ofstream(dir_.file("hold.json"))
          << R"({"verb":"create","resource":"jobs","namespace":")" << ns0
          << R"(","name":"key-rotated","code":503,"count":100000})";
      auto added = json::parse(
          admin({"create", "--raw", "/kubesim/faults", "-f", dir_.file("hold.json")}).out);
      const std::string holdId = std::to_string(added["added"][0].get<int>());
      admin({"apply", "-n", ns0, "-f", "-"},
            "apiVersion: prefect.io/v1alpha1\nkind: FlowRun\nmetadata:\n  name: key-rotated\n"
            "spec:\n  image: kubesim/run:1s\n  env:\n    PREFECT_API_KEY: pnu_first_key\n");
      auto secretKey = [&] {
        auto secret = find("secrets", ns0, "key-rotated-api-key");
        return secret ? (*secret)["data"].value("key", "") : std::string();
      };
      eventually("the operator creates its Secret", [&] { return !secretKey().empty(); });
      admin({"patch", "flowrun", "key-rotated", "-n", ns0, "--type", "merge", "-p",
             R"({"spec":{"env":{"PREFECT_API_KEY":"pnu_second_key"}}})"});
      eventually("the Secret holds the new key",
                 [&] { return secretKey() == kube::base64Encode("pnu_second_key"); });
      admin({"delete", "--raw", "/kubesim/faults/" + holdId});
    }
    waitPhase(ns1, "flowrun-cancel", "Running");
    admin({"patch", "flowrun", "flowrun-cancel", "-n", ns1, "--type", "merge", "--patch-file",
           testsupport::sourceDir() + "/examples/cancel-patch.json"});
    waitPhase(ns0, "slow-stop", "Running");
    admin({"patch", "flowrun", "slow-stop", "-n", ns0, "--type", "merge", "--patch-file",
           testsupport::sourceDir() + "/examples/cancel-patch.json"});
    waitPhase(ns0, "flowrun-succeeded", "Succeeded");
    waitPhase(ns0, "flowrun-templated", "Succeeded");
    waitPhase(ns1, "flowrun-failed", "Failed");
    waitPhase(ns1, "flowrun-crashed", "Crashed");
    waitPhase(ns1, "flowrun-cancel", "Cancelled");
    waitPhase(ns0, "slow-stop", "Cancelled");
    if (v_.apiKeySecrets) {
      waitPhase(ns0, "with-api-key", "Succeeded");
      waitPhase(ns0, "key-rotated", "Succeeded");
      bool owned = false;
      for (const auto& s : sim_->store().list("secrets", ns0)) {
        for (const auto& o : s["metadata"].value("ownerReferences", json::array())) {
          if (o.value("kind", "") == "FlowRun" && o.value("name", "") == "with-api-key")
            owned = true;
        }
      }
      CHECK(owned);
      eventually("key-conflict is refused with SecretNameConflict", [&] {
        auto fr = find("flowruns.prefect.io", ns0, "key-conflict");
        return fr && fr->contains("status") &&
               (*fr)["status"].value("reason", "") == "SecretNameConflict";
      });
    }
    auto templated = sim_->store().get("jobs.batch", ns0, "flowrun-templated");
    CHECK(templated["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] ==
          "1Gi");  // stored canonical, as a real API server does
    CHECK(sim_->store().get("flowruns.prefect.io", ns1, "flowrun-failed")["status"].value(
              "exitCode", -1) == 3);

    if (!v_.pinnedUid) {
      auto published = [&] {
        auto cm = find("configmaps", ns0, "prefect-cluster-identity");
        auto cid = find("clusteridentities.prefect.io", "", "cluster");
        return cm && cid && (*cm)["data"].value("uid", "") != "" &&
               (*cm)["data"].value("uid", "") == (*cid)["status"].value("uid", "x");
      };
      eventually("the identity is published to " + ns0, published);
      // Copies edited by hand are repaired, each with a Warning Event on the ClusterIdentity
      // (the published copy twice: the second Event is the first one's count going up).
      auto repairedCopy = [&](const std::string& ns, const std::string& name) {
        admin({"patch", "configmap", name, "-n", ns, "--type", "merge", "-p",
               R"({"data":{"uid":"tampered"}})"});
        eventually("ConfigMap " + ns + "/" + name + " is repaired", [&] {
          auto cm = find("configmaps", ns, name);
          auto cid = find("clusteridentities.prefect.io", "", "cluster");
          return cm && cid && (*cm)["data"].value("uid", "") == (*cid)["status"].value("uid", "x");
        });
      };
      repairedCopy(ns0, "prefect-cluster-identity");
      repairedCopy(ns0, "prefect-cluster-identity");
      repairedCopy("flowrun-operator", "flowrun-operator-cluster-identity");
      eventually("the repeated repair is one Event with a count", [&] {
        for (const auto& e : sim_->store().list("events", "")) {
          if (e.value("reason", "") == "IdentityCopyRepaired" &&
              e.value("message", "").find("published ConfigMap " + ns0) == 0 &&
              e.value("count", 0) >= 2)
            return true;
        }
        return false;
      });
    } else {
      auto fr = sim_->store().get("flowruns.prefect.io", ns0, "flowrun-succeeded");
      CHECK(fr["status"].value("infrastructurePid", "").rfind(kPinnedUid, 0) == 0);
    }
    // Leader election happened under the manifests' Lease permissions.
    auto lease =
        sim_->store().get("leases.coordination.k8s.io", "flowrun-operator", "flowrun-operator");
    CHECK(lease["spec"].value("holderIdentity", "") != "");
    // Outside the pool nothing happens (cluster-wide mode runs it like any other).
    if (v_.base == "manifests/namespace-pool") {
      CHECK(phaseOf("outside", "hello-flowrun").empty());
    } else {
      waitPhase("outside", "hello-flowrun", "Succeeded");
    }
  }

  // Worker mode with the API key from a Secret: one run through to Succeeded with its pid in
  // Prefect, one cancelled from Prefect while running (the worker reads its FlowRun and sets
  // spec.cancel). Exercises every rule of the workpools Component.
  void exerciseWorkPool() {
    const std::string ns = v_.flowNamespaces.front();
    const std::string key = "pnu_manifests_test_key";
    prefectsim::ServerOptions po;
    po.apiKey = key;
    prefect_ = std::make_unique<prefectsim::Server>(po);
    prefect_->start();
    const prefectsim::DemoIds demo = prefect_->seedDemo();
    admin(
        {"create", "secret", "generic", "prefect-api-key", "-n", ns, "--from-literal=key=" + key});
    admin({"apply", "-n", ns, "-f", "-"},
          "apiVersion: prefect.io/v1alpha1\nkind: WorkPool\nmetadata: {name: demo-pool}\n"
          "spec: {apiUrl: \"" +
              prefect_->url() +
              "\", queryIntervalSeconds: 1, apiKeySecret: {name: prefect-api-key, key: key}}\n");
    httplib::Client c("127.0.0.1", prefect_->port());
    c.set_bearer_token_auth(key);
    auto call = [&](const std::string& path, const json& body) {
      auto r = body.is_null() ? c.Get("/api" + path)
                              : c.Post("/api" + path, body.dump(), "application/json");
      return r && !r->body.empty() ? json::parse(r->body, nullptr, false) : json();
    };
    auto createRun = [&](const std::string& image) {
      json run = call("/deployments/" + demo.deploymentId + "/create_flow_run",
                      {{"job_variables", {{"image", image}}}});
      return run.value("id", std::string());
    };
    const std::string done = createRun("kubesim/exit:0");
    const std::string cancelled = createRun("kubesim/sleep:10m");
    REQUIRE_FALSE(done.empty());
    REQUIRE_FALSE(cancelled.empty());
    eventually("the WorkPool's run Succeeds with its pid in Prefect", [&] {
      return phaseOf(ns, "fr-" + done) == "Succeeded" &&
             call("/flow_runs/" + done, nullptr)["infrastructure_pid"].is_string();
    });
    eventually("the WorkPool's second run is Running with its pid in Prefect", [&] {
      return phaseOf(ns, "fr-" + cancelled) == "Running" &&
             call("/flow_runs/" + cancelled, nullptr)["infrastructure_pid"].is_string();
    });
    call("/flow_runs/" + cancelled + "/set_state",
         {{"state", {{"type", "CANCELLING"}}}, {"force", false}});
    eventually("the run cancelled from Prefect is CANCELLED", [&] {
      json run = call("/flow_runs/" + cancelled, nullptr);
      return run.is_object() && run["state"].is_object() &&
             run["state"].value("type", "") == "CANCELLED";
    });
    eventually("the WorkPool's status was written", [&] {
      auto wp = find("workpools.prefect.io", ns, "demo-pool");
      return wp && (*wp).contains("status") && (*wp)["status"].value("submitted", 0) == 2;
    });
  }

  void collectLogs() {
    logs_.clear();
    for (std::size_t i = 0; i < operators_.size(); ++i) {
      logs_ += "=== operator " + std::to_string(i) + "\n" + operators_[i]->log();
    }
  }

  void stopAll() {
    for (auto& op : operators_) {
      int code = op->stop();
      collectLogs();
      INFO(tail(logs_));
      CHECK(code == 0);  // a clean exit on SIGTERM
    }
    collectLogs();
    // No mode may read Namespaces (the kube-system UID) or do everything in kube-system. The
    // cluster-wide mode lists ConfigMaps everywhere (RBAC cannot narrow its labelled watch of
    // the published ConfigMaps), so only the namespace pool is also kept from reading them there.
    std::vector<std::vector<std::string>> outOfReach = {{"get", "namespaces"},
                                                        {"get", "namespaces/kube-system"},
                                                        {"list", "namespaces"},
                                                        {"*", "*", "-n", "kube-system"}};
    if (v_.base == "manifests/namespace-pool") {
      outOfReach.push_back({"list", "configmaps", "-n", "kube-system"});
      outOfReach.push_back({"get", "secrets", "-n", "kube-system"});
    }
    for (const auto& what : outOfReach) {
      std::vector<std::string> args = {"auth", "can-i"};
      args.insert(args.end(), what.begin(), what.end());
      args.push_back("--as=" + saUser_);
      auto r = testsupport::kubectl(admin_, args);
      canI_.emplace_back(join(args) + " (stderr: " + r.err + ")",
                         "exit " + std::to_string(r.exitCode) + ": " + r.out);
    }
    // Closing the server ends the watches, so they are in the request log too.
    sim_->stop();
    for (const auto& r : sim_->requestLog().snapshot()) {
      if (r.user == saUser_) saRequests_.push_back(r);
    }
  }

  Variant v_;
  testsupport::TempDir dir_;
  std::string rendered_;
  std::unique_ptr<kubesim::Simulator> sim_;
  std::unique_ptr<prefectsim::Server> prefect_;  // worker-mode variants only
  std::string admin_;
  kubesim::RbacPolicy policy_;
  json deployment_;
  std::string saUser_, saNamespace_;
  std::vector<BoundRole> boundRoles_;
  std::vector<std::unique_ptr<testsupport::OperatorProcess>> operators_;
  std::vector<kubesim::RequestRecord> saRequests_;
  std::vector<std::pair<std::string, std::string>> canI_;  // kubectl auth can-i ... --as=SA
  std::string logs_;
};

void runAndCheck(const Variant& v) {
  ManifestRun run(v);
  run.run();
  run.checkNoForbidden();
  run.checkEveryRuleNeeded();
}

}  // namespace

TEST_CASE("manifests/default: the operator runs every example with exactly its RBAC") {
  runAndCheck({"manifests/default", {}, {"data", "team-b"}, false, false});
}

TEST_CASE("manifests/default + api-key-secrets: Secrets are created and the rule is needed") {
  runAndCheck({"manifests/default", {"manifests/default/api-key-secrets"}, {"data"}, true, false});
}

TEST_CASE("manifests/default + adopt-cluster-property: the one ClusterProperty read is granted") {
  // kubesim has no ClusterProperty CRD: the read is a 404 and the operator generates. Without
  // the grant it would be a 403 and the operator would retry forever instead.
  runAndCheck(
      {"manifests/default", {"manifests/default/adopt-cluster-property"}, {"data"}, false, false});
}

TEST_CASE("manifests/default + workpools: a WorkPool runs and cancels with exactly its RBAC") {
  runAndCheck({"manifests/default",
               {"manifests/default/workpools"},
               {"data", "team-b"},
               false,
               false,
               true});
}

TEST_CASE("manifests/namespace-pool + workpools: worker mode with Roles only") {
  runAndCheck({"manifests/namespace-pool",
               {"manifests/namespace-pool/workpools"},
               {"prefect-pool-a", "prefect-pool-b"},
               false,
               false,
               true});
}

TEST_CASE("manifests/namespace-pool: Roles in the pool only, no 403, every rule needed") {
  runAndCheck({"manifests/namespace-pool", {}, {"prefect-pool-a", "prefect-pool-b"}, false, false});
}

TEST_CASE("manifests/namespace-pool + api-key-secrets") {
  runAndCheck({"manifests/namespace-pool",
               {"manifests/namespace-pool/api-key-secrets"},
               {"prefect-pool-a", "prefect-pool-b"},
               true,
               false});
}

TEST_CASE("manifests/namespace-pool + pinned-uid: no cluster-scoped grant at all") {
  ManifestRun run({"manifests/namespace-pool",
                   {"manifests/namespace-pool/pinned-uid"},
                   {"prefect-pool-a", "prefect-pool-b"},
                   false,
                   true});
  run.run();
  for (const auto& r : run.boundRoles()) CHECK(r.kind == "Role");
  run.checkNoForbidden();
  run.checkEveryRuleNeeded();
}

TEST_CASE("every kustomize base renders, deterministically, with no grant on namespaces or *") {
  testsupport::TempDir dir;
  struct Case {
    std::string base;
    std::vector<std::string> components;
  };
  const std::vector<Case> cases = {
      {"manifests/default", {}},
      {"manifests/default", {"manifests/default/api-key-secrets"}},
      {"manifests/default",
       {"manifests/default/api-key-secrets", "manifests/default/adopt-cluster-property"}},
      {"manifests/namespace-pool", {}},
      {"manifests/namespace-pool",
       {"manifests/namespace-pool/pinned-uid", "manifests/namespace-pool/api-key-secrets"}},
      {"manifests/clusteridentity-reader", {}},
      {"examples/argocd", {}},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const auto& c = cases[i];
    // Directly, as a user runs it, and through an overlay with the Components.
    auto direct =
        testsupport::runProcess({"kubectl", "kustomize", testsupport::sourceDir() + "/" + c.base});
    INFO(c.base << "\n" << describe(direct));
    REQUIRE(direct.exitCode == 0);
    std::string out = render(dir.path() + "/" + std::to_string(i), c.base, c.components);
    // Deterministic: a second render is byte-identical (no generated names or values).
    CHECK(render(dir.path() + "/again-" + std::to_string(i), c.base, c.components) == out);
    std::size_t rbacObjects = 0;
    std::size_t start = 0;
    while (start < out.size()) {
      auto end = out.find("\n---\n", start);
      std::string doc =
          out.substr(start, end == std::string::npos ? std::string::npos : end - start);
      start = end == std::string::npos ? out.size() : end + 5;
      if (doc.find("\nkind: Role\n") == std::string::npos &&
          doc.find("\nkind: ClusterRole\n") == std::string::npos) {
        continue;
      }
      ++rbacObjects;
      INFO(doc);
      CHECK(doc.find("- namespaces\n") == std::string::npos);
      CHECK(doc.find("kube-system") == std::string::npos);
      CHECK(doc.find("'*'") == std::string::npos);
      CHECK(doc.find("\"*\"") == std::string::npos);
      CHECK(doc.find("nodes") == std::string::npos);
    }
    CHECK(rbacObjects > 0);
  }
}

TEST_CASE("manifests/argocd is a Component that merges into an existing argocd-cm") {
  testsupport::TempDir dir;
  fs::path overlay = fs::path(dir.path()) / "argocd";
  fs::create_directories(overlay);
  std::ofstream(overlay / "cm.yaml")
      << "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\n"
         "data:\n  url: https://argocd.example.com\n";
  std::ofstream(overlay / "kustomization.yaml")
      << "resources: [cm.yaml]\ncomponents: ["
      << fs::relative(fs::path(testsupport::sourceDir()) / "manifests/argocd", overlay).string()
      << "]\n";
  auto r = testsupport::runProcess({"kubectl", "kustomize", overlay.string()});
  INFO(describe(r));
  REQUIRE(r.exitCode == 0);
  CHECK(r.out.find("url: https://argocd.example.com") != std::string::npos);
  CHECK(r.out.find("resource.customizations.health.prefect.io_FlowRun: |") != std::string::npos);
  CHECK(r.out.find("resource.customizations.health.prefect.io_ClusterIdentity: |") !=
        std::string::npos);
  CHECK(r.out.find("resource.customizations.actions.prefect.io_FlowRun: |") != std::string::npos);
  CHECK(r.out.find("obj.spec.cancel = true") != std::string::npos);
}

TEST_CASE("manifests/default without flowruns/finalizers: a strict cluster refuses the Job") {
  // The rule the analytic check cannot see used (admission checks are not requests): taken out,
  // the OwnerReferencesPermissionEnforcement plugin refuses the FlowRun's Job, as OpenShift does,
  // and the operator says so on the FlowRun.
  testsupport::TempDir dir;
  kubesim::SimulatorOptions o;
  o.rbac = true;
  o.ownerReferencesPermissionEnforcement = true;
  o.timeScale = 0.1;
  kubesim::Simulator sim(o);
  sim.start();
  const std::string admin = sim.writeKubeconfig(dir.file("admin.kubeconfig"));
  auto k = [&](const std::vector<std::string>& args, const std::string& input = "") {
    auto r = testsupport::kubectl(admin, args, input);
    INFO(describe(r));
    REQUIRE(r.exitCode == 0);
    return r;
  };
  k({"create", "namespace", "data"});
  k({"apply", "-f", "-"}, render(dir.path(), "manifests/default", {}));
  k({"wait", "--for=condition=Established", "--timeout=30s", "crd/flowruns.prefect.io"});
  json role = json::parse(k({"get", "clusterrole", "flowrun-operator", "-o", "json"}).out);
  json kept = json::array();
  for (const auto& rule : role["rules"]) {
    auto resources = rule.value("resources", json::array());
    if (std::find(resources.begin(), resources.end(), "flowruns/finalizers") == resources.end())
      kept.push_back(rule);
  }
  REQUIRE(kept.size() + 1 == role["rules"].size());
  role["rules"] = kept;
  k({"replace", "-f", "-"}, role.dump());

  const std::string sa = "system:serviceaccount:flowrun-operator:flowrun-operator";
  testsupport::OperatorProcess op(sim.writeKubeconfig(dir.file("operator.kubeconfig"), sa),
                                  dir.file("operator.log"));
  k({"apply", "-n", "data", "-f", testsupport::sourceDir() + "/examples/flowrun-succeeded.yaml"});
  const std::string why =
      "is forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a resource you "
      "can't set finalizers on: , <nil>";
  // kubectl describe shows why no Job appears: a Warning FailedCreate Event on the FlowRun.
  auto described = [&] {
    return testsupport::kubectl(admin, {"describe", "flowrun", "flowrun-succeeded", "-n", "data"})
        .out;
  };
  bool refused = testsupport::waitFor(
      [&] {
        auto d = described();
        return d.find("FailedCreate") != std::string::npos &&
               d.find("can't set finalizers on") != std::string::npos;
      },
      std::chrono::seconds(30));
  INFO(described() << "\noperator log:\n" << op.log());
  CHECK(refused);
  auto events = json::parse(
      k({"get", "events", "-n", "data", "--field-selector", "reason=FailedCreate", "-o", "json"})
          .out);
  REQUIRE(events["items"].size() == 1);  // repeats are one Event with a count
  CHECK(events["items"][0]["type"] == "Warning");
  CHECK(events["items"][0]["involvedObject"]["kind"] == "FlowRun");
  CHECK(events["items"][0]["message"] ==
        "Error creating Job flowrun-succeeded: 403 Forbidden: jobs.batch \"flowrun-succeeded\" is "
        "forbidden: cannot set blockOwnerDeletion if an ownerReference refers to a resource you "
        "can't set finalizers on: , <nil>");
  CHECK(testsupport::kubectl(admin, {"get", "jobs", "-n", "data", "-o", "name"}).out.empty());
  int forbidden = 0;
  for (const auto& r : sim.requestLog().snapshot()) {
    if (r.user == sa && r.verb == "create" && r.resource == "jobs" && r.code == 403) ++forbidden;
  }
  CHECK(forbidden >= 1);
}
