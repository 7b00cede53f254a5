#pragma once
// The reconciler contract (controller-runtime's): given a namespace/name, make the world match
// the state read now, then say when to look again. Never acts on the content of one event.
#include <chrono>
#include <string>

namespace runtime {

struct ObjectKey {
  std::string ns;  // empty for cluster-scoped objects
  std::string name;

  std::string str() const { return ns.empty() ? name : ns + "/" + name; }
  static ObjectKey parse(const std::string& key);  // inverse of str()
  bool operator==(const ObjectKey&) const = default;
  auto operator<=>(const ObjectKey&) const = default;
};

struct ReconcileOutcome {
  enum class Kind { Done, RequeueAfter, Error, TerminalError };
  Kind kind = Kind::Done;
  std::chrono::milliseconds requeueAfter{0};
  std::string error;  // for Error and TerminalError: reason and message for a person

  static ReconcileOutcome done() { return {}; }
  static ReconcileOutcome after(std::chrono::milliseconds d) { return {Kind::RequeueAfter, d, {}}; }
  // Retried with per-key exponential backoff.
  static ReconcileOutcome retry(std::string msg) { return {Kind::Error, {}, std::move(msg)}; }
  // Recorded and not retried until the object changes.
  static ReconcileOutcome terminal(std::string msg) {
    return {Kind::TerminalError, {}, std::move(msg)};
  }
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  // Must not throw: the controller treats an escaping exception as a bug, logs it and retries.
  virtual ReconcileOutcome reconcile(const ObjectKey& key) = 0;
};

}  // namespace runtime
