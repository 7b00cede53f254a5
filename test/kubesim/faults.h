#pragma once
// Fault injection for clients under test: failing or delaying matching requests, closing every
// watch, answering the next watch with 410 Expired, and outages. Driven by the admin endpoint
// (/kubesim/faults, /kubesim/watches/..., /kubesim/outage) or by ClusterOptions.
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "test/kubesim/object_store.h"

namespace kubesim {

struct FaultRule {
  int id = 0;
  std::vector<std::string> verbs;  // empty: any verb
  std::string resource;            // "jobs", "jobs.batch", "pods/log"; empty: any resource request
  std::string ns, name, user;      // empty: any
  int code = 0;                    // 0: only delay
  double fraction = 1.0;           // share of matching requests that fail
  std::optional<int> count;        // stop after failing this many
  int retryAfterSeconds = 0;       // 429 default 1
  int delayMs = 0;
  // dropWatchEvents: matching objects' events are left out of open watches of `resource` (the
  // watch carries on and its resourceVersion moves past them: a lost event, as a buggy relist
  // or proxy would lose it). ns/name match the object, user the watcher; count limits drops.
  bool dropWatchEvents = false;
  int injected = 0;
};

// Parses one rule from JSON ({verb|verbs, resource, namespace, name, user, code, fraction,
// count, retryAfterSeconds, delayMs}); throws ApiException 422 with the offending field.
FaultRule parseFaultRule(const json& body);
json faultRuleToJson(const FaultRule& rule);
// The text of a `kubesim --fault` flag as rule JSON: either the JSON object itself, or the
// shorthand "verb=create,resource=jobs,code=503,fraction=0.5" (verbs=get|list for several).
// The rule is checked with parseFaultRule; throws ApiException 422 naming what is wrong.
json faultFlagToJson(const std::string& text);
bool faultRuleMatches(const FaultRule& rule, const RequestAttributes& request);

class Faults : public FaultInjector {
 public:
  explicit Faults(std::uint64_t seed = 1);
  FaultDecision onRequest(const RequestAttributes& request) override;
  bool dropWatchEvent(const RequestAttributes& watch, const std::string& ns,
                      const std::string& name) override;
  std::uint64_t watchEpoch() const override { return epoch_.load(); }

  int add(FaultRule rule);  // returns the rule id
  void clear();             // removes every rule, pending 410s and the outage
  bool remove(int id);      // removes one rule; false when there is none with that id
  std::vector<FaultRule> rules() const;
  bool hasRules() const override;
  void closeWatches() { ++epoch_; }
  void expireNextWatches(int count);
  void outage(std::chrono::milliseconds duration);  // also closes every watch
  json describe() const;

 private:
  mutable std::mutex mu_;
  std::vector<FaultRule> rules_;
  int nextId_ = 1;
  int expireWatches_ = 0;
  std::chrono::steady_clock::time_point outageUntil_{};
  std::mt19937_64 rng_;
  std::atomic<std::uint64_t> epoch_{0};
};

}  // namespace kubesim
