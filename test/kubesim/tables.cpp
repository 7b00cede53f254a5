#include "test/kubesim/tables.h"

#include <chrono>

#include "test/kubesim/util.h"

namespace kubesim {

namespace {

json col(const std::string& name, const std::string& type, const std::string& description,
         int priority = 0, const std::string& format = "") {
  return {{"name", name},
          {"type", type},
          {"format", format},
          {"description", description},
          {"priority", priority}};
}

json nameCol() {
  return col("Name", "string",
             "Name must be unique within a namespace. Is required when creating resources, "
             "although some resources "
             "may allow a client to request the generation of an appropriate name automatically. "
             "Name is primarily "
             "intended for creation idempotence and configuration definition. Cannot be updated. "
             "More info: "
             "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
             0, "name");
}

json ageCol() {
  return col("Age", "string",
             "CreationTimestamp is a timestamp representing the server time when this object was "
             "created. It is "
             "not guaranteed to be set in happens-before order across separate operations. Clients "
             "may not set "
             "this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the "
             "system. Read-only. "
             "Null for lists. More info: "
             "https://git.k8s.io/community/contributors/devel/sig-architecture/"
             "api-conventions.md#metadata");
}

std::string str(const json& o, const std::vector<std::string>& path, const std::string& def = "") {
  const json* cur = &o;
  for (const auto& p : path) {
    if (!cur->is_object() || !cur->contains(p)) return def;
    cur = &(*cur)[p];
  }
  if (cur->is_string()) return cur->get<std::string>();
  if (cur->is_null()) return def;
  return cur->dump();
}

std::int64_t num(const json& o, const std::vector<std::string>& path) {
  const json* cur = &o;
  for (const auto& p : path) {
    if (!cur->is_object() || !cur->contains(p)) return 0;
    cur = &(*cur)[p];
  }
  return cur->is_number() ? cur->get<std::int64_t>() : 0;
}

std::string age(const json& o) {
  return ageOf(o["metadata"].value("creationTimestamp", json()));
}

std::string podStatus(const json& pod, int& ready, int& total, std::int64_t& restarts) {
  const json status = pod.value("status", json::object());
  std::string reason = status.value("phase", std::string());
  if (status.contains("reason") && status["reason"].is_string()) reason = status["reason"];
  ready = 0;
  restarts = 0;
  total = pod.contains("spec") && pod["spec"].contains("containers")
              ? static_cast<int>(pod["spec"]["containers"].size())
              : 0;
  bool initializing = false;
  if (status.contains("initContainerStatuses")) {
    int i = 0;
    for (const auto& c : status["initContainerStatuses"]) {
      restarts += c.value("restartCount", 0);
      const json st = c.value("state", json::object());
      if (st.contains("terminated") && st["terminated"].value("exitCode", 0) == 0) {
        ++i;
        continue;
      }
      initializing = true;
      if (st.contains("terminated")) {
        reason = "Init:" + st["terminated"].value("reason", std::string("Error"));
      } else if (st.contains("waiting") &&
                 st["waiting"].value("reason", std::string()) != "PodInitializing") {
        reason = "Init:" + st["waiting"].value("reason", std::string());
      } else {
        reason = "Init:" + std::to_string(i) + "/" +
                 std::to_string(pod["spec"].value("initContainers", json::array()).size());
      }
      break;
    }
  }
  if (!initializing && status.contains("containerStatuses")) {
    bool hasRunning = false;
    for (const auto& c : status["containerStatuses"]) {
      restarts += c.value("restartCount", 0);
      const json st = c.value("state", json::object());
      if (st.contains("waiting") && !st["waiting"].value("reason", std::string()).empty()) {
        reason = st["waiting"]["reason"];
      } else if (st.contains("terminated")) {
        const auto& t = st["terminated"];
        if (!t.value("reason", std::string()).empty())
          reason = t["reason"];
        else if (t.value("signal", 0) != 0)
          reason = "Signal:" + std::to_string(t.value("signal", 0));
        else
          reason = "ExitCode:" + std::to_string(t.value("exitCode", 0));
      } else if (st.contains("running") && c.value("ready", false)) {
        hasRunning = true;
        ++ready;
      }
    }
    if (reason == "Completed" && hasRunning) reason = "Running";
  }
  if (pod["metadata"].contains("deletionTimestamp")) {
    reason = (status.value("reason", std::string()) == "NodeLost") ? "Unknown" : "Terminating";
  }
  return reason;
}

json builtinColumns(const std::string& q) {
  json cols = json::array({nameCol()});
  if (q == "pods") {
    cols.push_back(
        col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."));
    cols.push_back(col("Status", "string", "The aggregate status of the containers in this pod."));
    cols.push_back(col("Restarts", "string",
                       "The number of times the containers in this pod have been restarted and "
                       "when the last container in this pod has restarted."));
    cols.push_back(ageCol());
    cols.push_back(col("IP", "string",
                       "IP address allocated to the pod. Routable at least within the cluster. "
                       "Empty if not yet allocated.",
                       1));
    cols.push_back(col("Node", "string",
                       "NodeName is a request to schedule this pod onto a specific node.", 1));
    cols.push_back(
        col("Nominated Node", "string",
            "nominatedNodeName is set only when this pod preempts other pods on the node.", 1));
    cols.push_back(col("Readiness Gates", "string",
                       "If specified, all readiness gates will be evaluated for pod readiness.",
                       1));
  } else if (q == "jobs.batch") {
    cols.push_back(col("Status", "string", "Status of the job."));
    cols.push_back(col("Completions", "string", "The completion status of the job."));
    cols.push_back(col("Duration", "string", "Time required to complete the job."));
    cols.push_back(ageCol());
    cols.push_back(col("Containers", "string", "Names of each container in the template.", 1));
    cols.push_back(
        col("Images", "string", "Images referenced by each container in the template.", 1));
    cols.push_back(
        col("Selector", "string", "A label query over pods that should match the pod count.", 1));
  } else if (q == "deployments.apps") {
    cols.push_back(col("Ready", "string", "Number of the pod with ready state"));
    cols.push_back(col("Up-to-date", "string",
                       "Total number of non-terminated pods targeted by this deployment that have "
                       "the desired template spec."));
    cols.push_back(col("Available", "string",
                       "Total number of available pods (ready for at least minReadySeconds) "
                       "targeted by this deployment."));
    cols.push_back(ageCol());
    cols.push_back(col("Containers", "string", "Names of each container in the template.", 1));
    cols.push_back(
        col("Images", "string", "Images referenced by each container in the template.", 1));
    cols.push_back(col("Selector", "string", "Label selector for pods.", 1));
  } else if (q == "namespaces") {
    cols.push_back(col("Status", "string", "The status of the namespace"));
    cols.push_back(ageCol());
  } else if (q == "configmaps") {
    cols.push_back(col("Data", "string", "Data contains the configuration data."));
    cols.push_back(ageCol());
  } else if (q == "secrets") {
    cols.push_back(col("Type", "string", "The type of secret"));
    cols.push_back(col("Data", "string", "Data contains the secret data."));
    cols.push_back(ageCol());
  } else if (q == "serviceaccounts") {
    cols.push_back(col("Secrets", "string",
                       "Secrets is a list of the secrets in the same namespace that pods running "
                       "using this ServiceAccount are allowed to use."));
    cols.push_back(ageCol());
  } else if (q == "services") {
    cols.push_back(col("Type", "string", "The type of service."));
    cols.push_back(col("Cluster-IP", "string", "The cluster IP of the service."));
    cols.push_back(col("External-IP", "string", "The external IP of the service."));
    cols.push_back(col("Port(s)", "string", "The ports of the service."));
    cols.push_back(ageCol());
    cols.push_back(
        col("Selector", "string",
            "Route service traffic to pods with label keys and values matching this selector.", 1));
  } else if (q == "events" || q == "events.events.k8s.io") {
    cols = json::array();
    cols.push_back(
        col("Last Seen", "string", "Time when last occurrence of this event was recorded."));
    cols.push_back(
        col("Type", "string",
            "Type of this event (Normal, Warning), new types could be added in the future."));
    cols.push_back(
        col("Reason", "string", "Reason is why the action was taken. It is human-readable."));
    cols.push_back(col("Object", "string", "The object this Event is about."));
    cols.push_back(col("Subobject", "string", "The field of the object this Event is about.", 1));
    cols.push_back(col("Source", "string", "The component reporting this event.", 1));
    cols.push_back(
        col("Message", "string", "A human-readable description of the status of this operation."));
    cols.push_back(
        col("First Seen", "string", "The time at which the event was first recorded.", 1));
    cols.push_back(col("Count", "string", "The number of times this event has occurred.", 1));
    cols.push_back(col("Name", "string", "Name of the event.", 1, "name"));
  } else if (q == "leases.coordination.k8s.io") {
    cols.push_back(col("Holder", "string",
                       "holderIdentity contains the identity of the holder of a current lease."));
    cols.push_back(ageCol());
  } else if (q == "roles.rbac.authorization.k8s.io" ||
             q == "clusterroles.rbac.authorization.k8s.io" ||
             q == "customresourcedefinitions.apiextensions.k8s.io") {
    cols.push_back(col("Created At", "date",
                       "CreationTimestamp is a timestamp representing the server time when this "
                       "object was created."));
  } else if (q == "rolebindings.rbac.authorization.k8s.io" ||
             q == "clusterrolebindings.rbac.authorization.k8s.io") {
    cols.push_back(col("Role", "string", "RoleRef is the Role or ClusterRole to bind to."));
    cols.push_back(ageCol());
    cols.push_back(col("Users", "string", "Users in the binding", 1));
    cols.push_back(col("Groups", "string", "Groups in the binding", 1));
    cols.push_back(col("ServiceAccounts", "string", "ServiceAccounts in the binding", 1));
  } else {
    cols.push_back(ageCol());
  }
  return cols;
}

std::string joinStrings(const std::vector<std::string>& v, const std::string& sep = ",") {
  std::string s;
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

std::string selectorText(const json& sel) {
  if (!sel.is_object()) return "<none>";
  std::vector<std::string> parts;
  if (sel.contains("matchLabels"))
    for (auto it = sel["matchLabels"].begin(); it != sel["matchLabels"].end(); ++it)
      parts.push_back(it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump()));
  if (sel.contains("matchExpressions"))
    for (const auto& e : sel["matchExpressions"]) {
      std::string op = e.value("operator", std::string());
      std::string k = e.value("key", std::string());
      std::vector<std::string> vals = e.value("values", std::vector<std::string>{});
      if (op == "Exists")
        parts.push_back(k);
      else if (op == "DoesNotExist")
        parts.push_back("!" + k);
      else
        parts.push_back(k + (op == "In" ? " in (" : " notin (") + joinStrings(vals) + ")");
    }
  return parts.empty() ? "<none>" : joinStrings(parts);
}

void containersAndImages(const json& podSpec, std::string& names, std::string& images) {
  std::vector<std::string> n, i;
  if (podSpec.is_object() && podSpec.contains("containers"))
    for (const auto& c : podSpec["containers"]) {
      n.push_back(c.value("name", std::string()));
      i.push_back(c.value("image", std::string()));
    }
  names = joinStrings(n);
  images = joinStrings(i);
}

json builtinCells(const std::string& q, const json& o) {
  std::string name = str(o, {"metadata", "name"});
  json cells = json::array({name});
  if (q == "pods") {
    int ready = 0, total = 0;
    std::int64_t restarts = 0;
    std::string status = podStatus(o, ready, total, restarts);
    cells.push_back(std::to_string(ready) + "/" + std::to_string(total));
    cells.push_back(status);
    cells.push_back(std::to_string(restarts));
    cells.push_back(age(o));
    cells.push_back(str(o, {"status", "podIP"}, "<none>"));
    cells.push_back(str(o, {"spec", "nodeName"}, "<none>"));
    cells.push_back(str(o, {"status", "nominatedNodeName"}, "<none>"));
    cells.push_back("<none>");
  } else if (q == "jobs.batch") {
    const json status = o.value("status", json::object());
    std::string state = "Running";
    if (status.contains("conditions")) {
      for (const auto& c : status["conditions"]) {
        if (c.value("status", std::string()) != "True") continue;
        std::string t = c.value("type", std::string());
        if (t == "Complete" || t == "Failed")
          state = t;
        else if ((t == "Suspended" || t == "FailureTarget" || t == "SuccessCriteriaMet") &&
                 state == "Running")
          state = t;
      }
    }
    if (o["metadata"].contains("deletionTimestamp")) state = "Terminating";
    cells.push_back(state);
    std::int64_t succeeded = num(o, {"status", "succeeded"});
    std::string completions;
    if (o["spec"].contains("completions") && !o["spec"]["completions"].is_null()) {
      completions =
          std::to_string(succeeded) + "/" + std::to_string(num(o, {"spec", "completions"}));
    } else {
      std::int64_t par = num(o, {"spec", "parallelism"});
      completions =
          std::to_string(succeeded) + "/1" + (par > 1 ? " of " + std::to_string(par) : "");
    }
    cells.push_back(completions);
    std::string duration;
    std::chrono::system_clock::time_point start, end = std::chrono::system_clock::now();
    if (status.contains("startTime") &&
        parseRfc3339(status["startTime"].get<std::string>(), start)) {
      if (status.contains("completionTime"))
        parseRfc3339(status["completionTime"].get<std::string>(), end);
      duration = humanDuration(std::chrono::duration_cast<std::chrono::seconds>(end - start));
    }
    cells.push_back(duration);
    cells.push_back(age(o));
    std::string names, images;
    containersAndImages(
        o["spec"].contains("template") ? o["spec"]["template"].value("spec", json()) : json(),
        names, images);
    cells.push_back(names);
    cells.push_back(images);
    cells.push_back(selectorText(o["spec"].value("selector", json())));
  } else if (q == "deployments.apps") {
    cells.push_back(std::to_string(num(o, {"status", "readyReplicas"})) + "/" +
                    std::to_string(num(o, {"spec", "replicas"})));
    cells.push_back(num(o, {"status", "updatedReplicas"}));
    cells.push_back(num(o, {"status", "availableReplicas"}));
    cells.push_back(age(o));
    std::string names, images;
    containersAndImages(
        o["spec"].contains("template") ? o["spec"]["template"].value("spec", json()) : json(),
        names, images);
    cells.push_back(names);
    cells.push_back(images);
    cells.push_back(selectorText(o["spec"].value("selector", json())));
  } else if (q == "namespaces") {
    cells.push_back(str(o, {"status", "phase"}));
    cells.push_back(age(o));
  } else if (q == "configmaps") {
    std::int64_t n =
        (o.contains("data") && o["data"].is_object() ? o["data"].size() : 0) +
        (o.contains("binaryData") && o["binaryData"].is_object() ? o["binaryData"].size() : 0);
    cells.push_back(n);
    cells.push_back(age(o));
  } else if (q == "secrets") {
    cells.push_back(str(o, {"type"}));
    cells.push_back(static_cast<std::int64_t>(
        o.contains("data") && o["data"].is_object() ? o["data"].size() : 0));
    cells.push_back(age(o));
  } else if (q == "serviceaccounts") {
    cells.push_back(static_cast<std::int64_t>(
        o.contains("secrets") && o["secrets"].is_array() ? o["secrets"].size() : 0));
    cells.push_back(age(o));
  } else if (q == "services") {
    const json spec = o.value("spec", json::object());
    cells.push_back(spec.value("type", std::string("ClusterIP")));
    cells.push_back(spec.value("clusterIP", std::string("<none>")));
    cells.push_back("<none>");
    std::vector<std::string> ports;
    if (spec.contains("ports"))
      for (const auto& p : spec["ports"])
        ports.push_back(std::to_string(p.value("port", 0)) + "/" +
                        p.value("protocol", std::string("TCP")));
    cells.push_back(ports.empty() ? "<none>" : joinStrings(ports));
    cells.push_back(age(o));
    cells.push_back(
        selectorText(spec.contains("selector") ? json{{"matchLabels", spec["selector"]}} : json()));
  } else if (q == "events" || q == "events.events.k8s.io") {
    bool v1 = q != "events";
    const json inv = o.value(v1 ? "regarding" : "involvedObject", json::object());
    std::string last = str(o, {"series", "lastObservedTime"});
    if (last.empty()) last = str(o, {v1 ? "deprecatedLastTimestamp" : "lastTimestamp"});
    if (last.empty()) last = str(o, {"eventTime"});
    if (last.empty()) last = str(o, {"metadata", "creationTimestamp"});
    std::string first = str(o, {v1 ? "deprecatedFirstTimestamp" : "firstTimestamp"});
    if (first.empty()) first = str(o, {"eventTime"});
    cells = json::array();
    cells.push_back(last.empty() ? "<unknown>" : ageOf(last));
    cells.push_back(str(o, {"type"}));
    cells.push_back(str(o, {"reason"}));
    std::string kind = inv.value("kind", std::string());
    for (auto& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    cells.push_back(kind + "/" + inv.value("name", std::string()));
    cells.push_back(inv.value("fieldPath", std::string()));
    std::string source = v1 ? str(o, {"reportingController"}) : str(o, {"source", "component"});
    if (source.empty()) source = str(o, {"reportingComponent"});
    cells.push_back(source);
    cells.push_back(str(o, {v1 ? "note" : "message"}));
    cells.push_back(first.empty() ? "<unknown>" : ageOf(first));
    cells.push_back(
        std::to_string(std::max<std::int64_t>(1, num(o, {v1 ? "deprecatedCount" : "count"}))));
    cells.push_back(name);
  } else if (q == "leases.coordination.k8s.io") {
    cells.push_back(str(o, {"spec", "holderIdentity"}));
    cells.push_back(age(o));
  } else if (q == "roles.rbac.authorization.k8s.io" ||
             q == "clusterroles.rbac.authorization.k8s.io" ||
             q == "customresourcedefinitions.apiextensions.k8s.io") {
    cells.push_back(str(o, {"metadata", "creationTimestamp"}));
  } else if (q == "rolebindings.rbac.authorization.k8s.io" ||
             q == "clusterrolebindings.rbac.authorization.k8s.io") {
    cells.push_back(str(o, {"roleRef", "kind"}) + "/" + str(o, {"roleRef", "name"}));
    cells.push_back(age(o));
    std::vector<std::string> users, groups, sas;
    if (o.contains("subjects"))
      for (const auto& s : o["subjects"]) {
        std::string k = s.value("kind", std::string());
        if (k == "User")
          users.push_back(s.value("name", std::string()));
        else if (k == "Group")
          groups.push_back(s.value("name", std::string()));
        else
          sas.push_back(s.value("namespace", std::string()) + "/" + s.value("name", std::string()));
      }
    cells.push_back(joinStrings(users, ", "));
    cells.push_back(joinStrings(groups, ", "));
    cells.push_back(joinStrings(sas, ", "));
  } else {
    cells.push_back(age(o));
  }
  return cells;
}

// Splits ".a.b[0].c" into steps.
std::vector<std::string> pathSteps(const std::string& path) {
  std::vector<std::string> steps;
  std::string p = path;
  if (!p.empty() && p.front() == '{' && p.back() == '}') p = p.substr(1, p.size() - 2);
  std::size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '.') {
      ++i;
      continue;
    }
    if (p[i] == '[') {
      int depth = 0;
      std::size_t j = i;
      for (; j < p.size(); ++j) {
        if (p[j] == '[') ++depth;
        if (p[j] == ']' && --depth == 0) break;
      }
      steps.push_back(p.substr(i, j - i + 1));
      i = j + 1;
      continue;
    }
    std::size_t j = i;
    while (j < p.size() && p[j] != '.' && p[j] != '[') ++j;
    steps.push_back(p.substr(i, j - i));
    i = j;
  }
  return steps;
}

}  // namespace

std::vector<json> evalJsonPath(const json& object, const std::string& path) {
  std::vector<json> cur = {object};
  for (const auto& step : pathSteps(path)) {
    std::vector<json> next;
    for (const auto& v : cur) {
      if (step.front() != '[') {
        if (v.is_object() && v.contains(step)) next.push_back(v[step]);
        continue;
      }
      std::string inner = step.substr(1, step.size() - 2);
      if (inner == "*") {
        if (v.is_array())
          for (const auto& e : v) next.push_back(e);
        else if (v.is_object())
          for (const auto& e : v) next.push_back(e);
        continue;
      }
      if (inner.rfind("?(", 0) == 0) {
        // ?(@.key=="value") or ?(@.key==value)
        std::string expr = inner.substr(2, inner.size() - 3);
        auto eq = expr.find("==");
        bool neq = false;
        if (eq == std::string::npos) {
          eq = expr.find("!=");
          neq = eq != std::string::npos;
        }
        if (eq == std::string::npos || !v.is_array()) continue;
        std::string lhs = trim(expr.substr(0, eq));
        std::string rhs = trim(expr.substr(eq + 2));
        if (rhs.size() >= 2 && (rhs.front() == '"' || rhs.front() == '\''))
          rhs = rhs.substr(1, rhs.size() - 2);
        if (lhs.rfind("@", 0) == 0) lhs = lhs.substr(1);
        for (const auto& e : v) {
          auto r = evalJsonPath(e, lhs);
          bool match = false;
          for (const auto& x : r)
            match = match || (x.is_string() ? x.get<std::string>() : x.dump()) == rhs;
          if (match != neq) next.push_back(e);
        }
        continue;
      }
      try {
        long idx = std::stol(inner);
        if (v.is_array()) {
          if (idx < 0) idx += static_cast<long>(v.size());
          if (idx >= 0 && idx < static_cast<long>(v.size()))
            next.push_back(v[static_cast<std::size_t>(idx)]);
        }
      } catch (const std::exception&) {
        // ['key'] form
        std::string k = inner;
        if (k.size() >= 2 && (k.front() == '\'' || k.front() == '"')) k = k.substr(1, k.size() - 2);
        if (v.is_object() && v.contains(k)) next.push_back(v[k]);
      }
    }
    cur = std::move(next);
  }
  return cur;
}

json toTable(const ResourceInfo& info, const std::string& version, const std::vector<json>& objects,
             const std::string& includeObject, const json& listMetadata) {
  json table = {{"kind", "Table"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", listMetadata}};
  const std::vector<PrinterColumn>* crdCols =
      info.crd ? info.columnsFor(version.empty() ? info.version : version) : nullptr;
  json columns;
  if (info.crd) {
    columns = json::array({nameCol()});
    if (crdCols && !crdCols->empty()) {
      for (const auto& c : *crdCols)
        columns.push_back(col(c.name, c.type, c.description, c.priority, c.format));
    } else {
      columns.push_back(ageCol());
    }
  } else {
    columns = builtinColumns(info.qualified());
  }
  table["columnDefinitions"] = columns;
  json rows = json::array();
  for (const auto& o : objects) {
    json cells;
    if (info.crd) {
      cells = json::array({o["metadata"].value("name", std::string())});
      if (crdCols && !crdCols->empty()) {
        for (const auto& c : *crdCols) {
          auto r = evalJsonPath(o, c.jsonPath);
          if (r.empty() || r[0].is_null()) {
            cells.push_back(nullptr);
            continue;
          }
          if (c.type == "date") {
            cells.push_back(ageOf(r[0]));
          } else if (c.type == "integer" || c.type == "number" || c.type == "boolean") {
            cells.push_back(r[0]);
          } else if (r.size() == 1) {
            cells.push_back(r[0].is_string() ? r[0].get<std::string>() : r[0].dump());
          } else {
            std::vector<std::string> parts;
            for (const auto& x : r)
              parts.push_back(x.is_string() ? x.get<std::string>() : x.dump());
            cells.push_back(joinStrings(parts));
          }
        }
      } else {
        cells.push_back(age(o));
      }
    } else {
      cells = builtinCells(info.qualified(), o);
    }
    json row = {{"cells", cells}};
    if (includeObject == "Object") {
      row["object"] = o;
    } else if (includeObject != "None") {
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", o["metadata"]}};
    }
    rows.push_back(row);
  }
  table["rows"] = rows;
  return table;
}

}  // namespace kubesim
