#include "test/kubesim/protobuf.h"

#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

#include "test/kubesim/util.h"

namespace kubesim {

namespace {

// Field kinds of the k8s.io/api generated.proto messages kubesim decodes.
enum class T {
  String,
  Bytes,  // base64 in JSON
  Int,
  Bool,
  Msg,
  MapSS,      // map<string,string>
  MapSB,      // map<string,bytes>
  RepString,  // repeated string
  RepMsg,     // repeated message
  Time,       // metav1.Time {seconds, nanos}
  IntOrStr,   // intstr.IntOrString {type, intVal, strVal}
  Quantity,   // resource.Quantity {string}
  MapSQ,      // map<string, Quantity>
};

struct F {
  int num;
  const char* name;
  T type;
  const char* msg = nullptr;
  bool keepZero = false;  // pointer fields in Go: a zero on the wire is a real value
};

using Schema = std::vector<F>;

const std::map<std::string, Schema>& schemas() {
  static const std::map<std::string, Schema> s = {
      {"ObjectMeta",
       {{1, "name", T::String},
        {2, "generateName", T::String},
        {3, "namespace", T::String},
        {5, "uid", T::String},
        {6, "resourceVersion", T::String},
        {7, "generation", T::Int},
        {8, "creationTimestamp", T::Time},
        {9, "deletionTimestamp", T::Time},
        {10, "deletionGracePeriodSeconds", T::Int, nullptr, true},
        {11, "labels", T::MapSS},
        {12, "annotations", T::MapSS},
        {13, "ownerReferences", T::RepMsg, "OwnerReference"},
        {14, "finalizers", T::RepString}}},
      {"OwnerReference",
       {{1, "kind", T::String},
        {3, "name", T::String},
        {4, "uid", T::String},
        {5, "apiVersion", T::String},
        {6, "controller", T::Bool, nullptr, true},
        {7, "blockOwnerDeletion", T::Bool, nullptr, true}}},
      {"Namespace", {{1, "metadata", T::Msg, "ObjectMeta"}, {2, "spec", T::Msg, "NamespaceSpec"}}},
      {"NamespaceSpec", {{1, "finalizers", T::RepString}}},
      {"ConfigMap",
       {{1, "metadata", T::Msg, "ObjectMeta"},
        {2, "data", T::MapSS},
        {3, "binaryData", T::MapSB},
        {4, "immutable", T::Bool, nullptr, true}}},
      {"Secret",
       {{1, "metadata", T::Msg, "ObjectMeta"},
        {2, "data", T::MapSB},
        {3, "type", T::String},
        {4, "stringData", T::MapSS},
        {5, "immutable", T::Bool, nullptr, true}}},
      {"ServiceAccount",
       {{1, "metadata", T::Msg, "ObjectMeta"},
        {2, "secrets", T::RepMsg, "ObjectReference"},
        {3, "imagePullSecrets", T::RepMsg, "LocalObjectReference"},
        {4, "automountServiceAccountToken", T::Bool, nullptr, true}}},
      {"ObjectReference",
       {{1, "kind", T::String},
        {2, "namespace", T::String},
        {3, "name", T::String},
        {4, "uid", T::String},
        {5, "apiVersion", T::String},
        {6, "resourceVersion", T::String},
        {7, "fieldPath", T::String}}},
      {"LocalObjectReference", {{1, "name", T::String}}},
      {"Role", {{1, "metadata", T::Msg, "ObjectMeta"}, {2, "rules", T::RepMsg, "PolicyRule"}}},
      {"ClusterRole",
       {{1, "metadata", T::Msg, "ObjectMeta"}, {2, "rules", T::RepMsg, "PolicyRule"}}},
      {"PolicyRule",
       {{1, "verbs", T::RepString},
        {2, "apiGroups", T::RepString},
        {3, "resources", T::RepString},
        {4, "resourceNames", T::RepString},
        {5, "nonResourceURLs", T::RepString}}},
      {"RoleBinding",
       {{1, "metadata", T::Msg, "ObjectMeta"},
        {2, "subjects", T::RepMsg, "Subject"},
        {3, "roleRef", T::Msg, "RoleRef"}}},
      {"ClusterRoleBinding",
       {{1, "metadata", T::Msg, "ObjectMeta"},
        {2, "subjects", T::RepMsg, "Subject"},
        {3, "roleRef", T::Msg, "RoleRef"}}},
      {"Subject",
       {{1, "kind", T::String},
        {2, "apiGroup", T::String},
        {3, "name", T::String},
        {4, "namespace", T::String}}},
      {"RoleRef", {{1, "apiGroup", T::String}, {2, "kind", T::String}, {3, "name", T::String}}},
      {"Pod", {{1, "metadata", T::Msg, "ObjectMeta"}, {2, "spec", T::Msg, "PodSpec"}}},
      {"PodTemplateSpec", {{1, "metadata", T::Msg, "ObjectMeta"}, {2, "spec", T::Msg, "PodSpec"}}},
      {"PodSpec",
       {{2, "containers", T::RepMsg, "Container"},
        {3, "restartPolicy", T::String},
        {4, "terminationGracePeriodSeconds", T::Int, nullptr, true},
        {5, "activeDeadlineSeconds", T::Int, nullptr, true},
        {6, "dnsPolicy", T::String},
        {7, "nodeSelector", T::MapSS},
        {8, "serviceAccountName", T::String},
        {9, "serviceAccount", T::String},
        {10, "nodeName", T::String},
        {11, "hostNetwork", T::Bool},
        {15, "imagePullSecrets", T::RepMsg, "LocalObjectReference"},
        {16, "hostname", T::String},
        {17, "subdomain", T::String},
        {19, "schedulerName", T::String},
        {20, "initContainers", T::RepMsg, "Container"},
        {21, "automountServiceAccountToken", T::Bool, nullptr, true},
        {24, "priorityClassName", T::String},
        {25, "priority", T::Int, nullptr, true},
        {30, "enableServiceLinks", T::Bool, nullptr, true},
        {31, "preemptionPolicy", T::String}}},
      {"Container",
       {{1, "name", T::String},
        {2, "image", T::String},
        {3, "command", T::RepString},
        {4, "args", T::RepString},
        {5, "workingDir", T::String},
        {6, "ports", T::RepMsg, "ContainerPort"},
        {7, "env", T::RepMsg, "EnvVar"},
        {8, "resources", T::Msg, "ResourceRequirements"},
        {13, "terminationMessagePath", T::String},
        {14, "imagePullPolicy", T::String},
        {16, "stdin", T::Bool},
        {17, "stdinOnce", T::Bool},
        {18, "tty", T::Bool},
        {20, "terminationMessagePolicy", T::String}}},
      {"ContainerPort",
       {{1, "name", T::String},
        {2, "hostPort", T::Int},
        {3, "containerPort", T::Int},
        {4, "protocol", T::String},
        {5, "hostIP", T::String}}},
      {"EnvVar", {{1, "name", T::String}, {2, "value", T::String}}},
      {"ResourceRequirements", {{1, "limits", T::MapSQ}, {2, "requests", T::MapSQ}}},
      {"LabelSelector",
       {{1, "matchLabels", T::MapSS},
        {2, "matchExpressions", T::RepMsg, "LabelSelectorRequirement"}}},
      {"LabelSelectorRequirement",
       {{1, "key", T::String}, {2, "operator", T::String}, {3, "values", T::RepString}}},
      {"Job", {{1, "metadata", T::Msg, "ObjectMeta"}, {2, "spec", T::Msg, "JobSpec"}}},
      {"JobSpec",
       {{1, "parallelism", T::Int, nullptr, true},
        {2, "completions", T::Int, nullptr, true},
        {3, "activeDeadlineSeconds", T::Int, nullptr, true},
        {4, "selector", T::Msg, "LabelSelector"},
        {5, "manualSelector", T::Bool, nullptr, true},
        {6, "template", T::Msg, "PodTemplateSpec"},
        {7, "backoffLimit", T::Int, nullptr, true},
        {8, "ttlSecondsAfterFinished", T::Int, nullptr, true},
        {9, "completionMode", T::String},
        {10, "suspend", T::Bool, nullptr, true}}},
      {"Deployment",
       {{1, "metadata", T::Msg, "ObjectMeta"}, {2, "spec", T::Msg, "DeploymentSpec"}}},
      {"DeploymentSpec",
       {{1, "replicas", T::Int, nullptr, true},
        {2, "selector", T::Msg, "LabelSelector"},
        {3, "template", T::Msg, "PodTemplateSpec"},
        {5, "minReadySeconds", T::Int},
        {6, "revisionHistoryLimit", T::Int, nullptr, true},
        {7, "paused", T::Bool},
        {9, "progressDeadlineSeconds", T::Int, nullptr, true}}},
      {"Service", {{1, "metadata", T::Msg, "ObjectMeta"}, {2, "spec", T::Msg, "ServiceSpec"}}},
      {"ServiceSpec",
       {{1, "ports", T::RepMsg, "ServicePort"},
        {2, "selector", T::MapSS},
        {3, "clusterIP", T::String},
        {4, "type", T::String},
        {7, "sessionAffinity", T::String},
        {11, "externalName", T::String}}},
      {"ServicePort",
       {{1, "name", T::String},
        {2, "protocol", T::String},
        {3, "port", T::Int},
        {4, "targetPort", T::IntOrStr},
        {5, "nodePort", T::Int}}},
      {"Lease", {{1, "metadata", T::Msg, "ObjectMeta"}, {2, "spec", T::Msg, "LeaseSpec"}}},
      {"LeaseSpec",
       {{1, "holderIdentity", T::String, nullptr, true},
        {2, "leaseDurationSeconds", T::Int, nullptr, true},
        {3, "acquireTime", T::Time},
        {4, "renewTime", T::Time},
        {5, "leaseTransitions", T::Int, nullptr, true}}},
      {"SelfSubjectAccessReview",
       {{1, "metadata", T::Msg, "ObjectMeta"}, {2, "spec", T::Msg, "SelfSubjectAccessReviewSpec"}}},
      {"SelfSubjectAccessReviewSpec",
       {{1, "resourceAttributes", T::Msg, "ResourceAttributes"},
        {2, "nonResourceAttributes", T::Msg, "NonResourceAttributes"}}},
      {"ResourceAttributes",
       {{1, "namespace", T::String},
        {2, "verb", T::String},
        {3, "group", T::String},
        {4, "version", T::String},
        {5, "resource", T::String},
        {6, "subresource", T::String},
        {7, "name", T::String}}},
      {"NonResourceAttributes", {{1, "path", T::String}, {2, "verb", T::String}}},
      {"SelfSubjectRulesReview",
       {{1, "metadata", T::Msg, "ObjectMeta"}, {2, "spec", T::Msg, "SelfSubjectRulesReviewSpec"}}},
      {"SelfSubjectRulesReviewSpec", {{1, "namespace", T::String}}},
      {"SelfSubjectReview", {{1, "metadata", T::Msg, "ObjectMeta"}}},
      {"TokenRequest",
       {{1, "metadata", T::Msg, "ObjectMeta"}, {2, "spec", T::Msg, "TokenRequestSpec"}}},
      {"TokenRequestSpec",
       {{1, "audiences", T::RepString},
        {3, "boundObjectRef", T::Msg, "BoundObjectReference"},
        {4, "expirationSeconds", T::Int, nullptr, true}}},
      {"BoundObjectReference",
       {{1, "kind", T::String},
        {2, "apiVersion", T::String},
        {3, "name", T::String},
        {4, "uid", T::String}}},
      {"Event",
       {{1, "metadata", T::Msg, "ObjectMeta"},
        {2, "involvedObject", T::Msg, "ObjectReference"},
        {3, "reason", T::String},
        {4, "message", T::String},
        {6, "firstTimestamp", T::Time},
        {7, "lastTimestamp", T::Time},
        {8, "count", T::Int},
        {9, "type", T::String},
        {12, "action", T::String},
        {14, "reportingComponent", T::String},
        {15, "reportingInstance", T::String}}},
  };
  return s;
}

class Reader {
 public:
  explicit Reader(std::string_view d) : d_(d) {}
  bool done() const { return pos_ >= d_.size(); }
  std::uint64_t varint() {
    std::uint64_t v = 0;
    int shift = 0;
    while (true) {
      if (pos_ >= d_.size() || shift > 63)
        throw badRequest("malformed protobuf body: truncated varint");
      auto b = static_cast<unsigned char>(d_[pos_++]);
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
      shift += 7;
    }
  }
  std::string_view bytes() {
    auto n = varint();
    if (n > d_.size() - pos_) throw badRequest("malformed protobuf body: truncated field");
    auto out = d_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  void skip(int wireType) {
    switch (wireType) {
      case 0:
        varint();
        return;
      case 1:
        advance(8);
        return;
      case 2:
        bytes();
        return;
      case 5:
        advance(4);
        return;
      default:
        throw badRequest("malformed protobuf body: unsupported wire type");
    }
  }

 private:
  void advance(std::size_t n) {
    if (n > d_.size() - pos_) throw badRequest("malformed protobuf body: truncated field");
    pos_ += n;
  }
  std::string_view d_;
  std::size_t pos_ = 0;
};

json decodeMessage(std::string_view data, const std::string& type);

std::pair<std::string, std::string> decodeMapEntry(std::string_view data) {
  Reader r(data);
  std::string k, v;
  while (!r.done()) {
    auto tag = r.varint();
    int num = static_cast<int>(tag >> 3), wt = static_cast<int>(tag & 7);
    if (wt != 2) {
      r.skip(wt);
      continue;
    }
    if (num == 1)
      k = std::string(r.bytes());
    else if (num == 2)
      v = std::string(r.bytes());
    else
      r.skip(wt);
  }
  return {k, v};
}

std::string quantityOf(std::string_view data) {
  Reader r(data);
  std::string s;
  while (!r.done()) {
    auto tag = r.varint();
    if ((tag >> 3) == 1 && (tag & 7) == 2)
      s = std::string(r.bytes());
    else
      r.skip(static_cast<int>(tag & 7));
  }
  return s;
}

json decodeField(const F& f, Reader& r, int wt, json& out) {
  switch (f.type) {
    case T::String: {
      std::string s(r.bytes());
      if (!s.empty() || f.keepZero) out[f.name] = s;
      break;
    }
    case T::Bytes:
      out[f.name] = base64Encode(r.bytes());
      break;
    case T::Int: {
      auto v = static_cast<std::int64_t>(r.varint());
      if (v != 0 || f.keepZero) out[f.name] = v;
      break;
    }
    case T::Bool: {
      bool b = r.varint() != 0;
      if (b || f.keepZero) out[f.name] = b;
      break;
    }
    case T::Msg:
      out[f.name] = decodeMessage(r.bytes(), f.msg);
      break;
    case T::RepMsg:
      if (!out.contains(f.name)) out[f.name] = json::array();
      out[f.name].push_back(decodeMessage(r.bytes(), f.msg));
      break;
    case T::RepString:
      if (!out.contains(f.name)) out[f.name] = json::array();
      out[f.name].push_back(std::string(r.bytes()));
      break;
    case T::MapSS:
    case T::MapSB:
    case T::MapSQ: {
      auto [k, v] = decodeMapEntry(r.bytes());
      if (!out.contains(f.name)) out[f.name] = json::object();
      if (f.type == T::MapSB)
        out[f.name][k] = base64Encode(v);
      else if (f.type == T::MapSQ)
        out[f.name][k] = quantityOf(v);
      else
        out[f.name][k] = v;
      break;
    }
    case T::Quantity:
      out[f.name] = quantityOf(r.bytes());
      break;
    case T::Time: {
      Reader t(r.bytes());
      std::int64_t seconds = 0;
      while (!t.done()) {
        auto tag = t.varint();
        if ((tag >> 3) == 1 && (tag & 7) == 0)
          seconds = static_cast<std::int64_t>(t.varint());
        else
          t.skip(static_cast<int>(tag & 7));
      }
      if (seconds != 0)
        out[f.name] = formatRfc3339(std::chrono::system_clock::from_time_t(seconds));
      break;
    }
    case T::IntOrStr: {
      Reader t(r.bytes());
      std::int64_t type = 0, iv = 0;
      std::string sv;
      while (!t.done()) {
        auto tag = t.varint();
        int n = static_cast<int>(tag >> 3);
        if (n == 1)
          type = static_cast<std::int64_t>(t.varint());
        else if (n == 2)
          iv = static_cast<std::int64_t>(t.varint());
        else if (n == 3)
          sv = std::string(t.bytes());
        else
          t.skip(static_cast<int>(tag & 7));
      }
      out[f.name] = type == 1 ? json(sv) : json(iv);
      break;
    }
  }
  (void)wt;
  return out;
}

json decodeMessage(std::string_view data, const std::string& type) {
  const auto& all = schemas();
  auto it = all.find(type);
  if (it == all.end()) {
    throw ApiException(415, "UnsupportedMediaType",
                       "kubesim cannot decode protobuf for " + type + "; send application/json");
  }
  json out = json::object();
  Reader r(data);
  while (!r.done()) {
    auto tag = r.varint();
    int num = static_cast<int>(tag >> 3), wt = static_cast<int>(tag & 7);
    const F* field = nullptr;
    for (const auto& f : it->second)
      if (f.num == num) field = &f;
    if (!field) {
      r.skip(wt);
      continue;
    }
    bool lengthDelimited = field->type != T::Int && field->type != T::Bool;
    if ((wt == 2) != lengthDelimited) {
      r.skip(wt);
      continue;
    }
    decodeField(*field, r, wt, out);
  }
  return out;
}

}  // namespace

bool isKubernetesProtobuf(const std::string& contentType) {
  return contentType.rfind("application/vnd.kubernetes.protobuf", 0) == 0;
}

json decodeKubernetesProtobuf(const std::string& body) {
  static const std::string magic("k8s\0", 4);
  if (body.size() < 4 || body.compare(0, 4, magic) != 0) {
    throw badRequest("the body of the request is not a Kubernetes protobuf message");
  }
  Reader r(std::string_view(body).substr(4));
  std::string apiVersion, kind;
  std::string_view raw;
  while (!r.done()) {
    auto tag = r.varint();
    int num = static_cast<int>(tag >> 3), wt = static_cast<int>(tag & 7);
    if (num == 1 && wt == 2) {
      Reader tm(r.bytes());
      while (!tm.done()) {
        auto t2 = tm.varint();
        int n2 = static_cast<int>(t2 >> 3);
        if (n2 == 1)
          apiVersion = std::string(tm.bytes());
        else if (n2 == 2)
          kind = std::string(tm.bytes());
        else
          tm.skip(static_cast<int>(t2 & 7));
      }
    } else if (num == 2 && wt == 2) {
      raw = r.bytes();
    } else {
      r.skip(wt);
    }
  }
  json obj = decodeMessage(raw, kind);
  obj["apiVersion"] = apiVersion;
  obj["kind"] = kind;
  return obj;
}

}  // namespace kubesim
