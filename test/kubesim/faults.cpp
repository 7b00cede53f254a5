#include "test/kubesim/faults.h"

#include <algorithm>
#include <set>

#include "test/kubesim/util.h"

namespace kubesim {

namespace {

ApiException invalid(const std::string& field, const std::string& message) {
  return ApiException(
      422, "Invalid", "fault rule: " + field + ": " + message,
      {{"causes",
        json::array({{{"reason", "FieldValueInvalid"}, {"message", message}, {"field", field}}})}});
}

}  // namespace

FaultRule parseFaultRule(const json& body) {
  if (!body.is_object()) throw invalid("(body)", "must be a JSON object");
  FaultRule r;
  auto str = [&](const char* key, std::string& into) {
    if (!body.contains(key)) return;
    if (!body[key].is_string()) throw invalid(key, "must be a string");
    into = body[key].get<std::string>();
  };
  if (body.contains("verb")) {
    if (!body["verb"].is_string()) throw invalid("verb", "must be a string");
    if (body["verb"] != "*" && body["verb"] != "") r.verbs.push_back(body["verb"]);
  }
  if (body.contains("verbs")) {
    if (!body["verbs"].is_array()) throw invalid("verbs", "must be a list of strings");
    for (const auto& v : body["verbs"]) {
      if (!v.is_string()) throw invalid("verbs", "must be a list of strings");
      if (v != "*") r.verbs.push_back(v);
    }
  }
  str("resource", r.resource);
  if (r.resource == "*") r.resource.clear();
  str("namespace", r.ns);
  str("name", r.name);
  str("user", r.user);
  auto integer = [&](const char* key, int lo, int hi) -> std::optional<int> {
    if (!body.contains(key)) return std::nullopt;
    if (!body[key].is_number_integer()) throw invalid(key, "must be an integer");
    long v = body[key].get<long>();
    if (v < lo || v > hi) {
      throw invalid(key, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
    }
    return static_cast<int>(v);
  };
  if (auto c = integer("code", 0, 599)) {
    static const int allowed[] = {0, 400, 401, 403, 404, 409, 410, 422, 429, 500, 502, 503, 504};
    if (std::find(std::begin(allowed), std::end(allowed), *c) == std::end(allowed)) {
      throw invalid("code", "unsupported status code " + std::to_string(*c) +
                                " (use 429, 500, 503, 409, ...)");
    }
    r.code = *c;
  }
  if (body.contains("fraction")) {
    if (!body["fraction"].is_number()) throw invalid("fraction", "must be a number");
    r.fraction = body["fraction"].get<double>();
    if (r.fraction < 0 || r.fraction > 1) throw invalid("fraction", "must be between 0 and 1");
  }
  r.count = integer("count", 1, 1000000);
  if (auto v = integer("retryAfterSeconds", 0, 3600)) r.retryAfterSeconds = *v;
  if (auto v = integer("delayMs", 0, 600000)) r.delayMs = *v;
  if (body.contains("dropWatchEvents")) {
    if (!body["dropWatchEvents"].is_boolean())
      throw invalid("dropWatchEvents", "must be a boolean");
    r.dropWatchEvents = body["dropWatchEvents"].get<bool>();
  }
  if (r.dropWatchEvents) {
    if (r.code != 0 || r.delayMs != 0) {
      throw invalid("dropWatchEvents", "cannot be combined with code or delayMs");
    }
    for (const auto& v : r.verbs) {
      if (v != "watch") throw invalid("verbs", "a dropWatchEvents rule applies to watch only");
    }
    if (r.resource.empty()) throw invalid("resource", "a dropWatchEvents rule needs a resource");
    return r;
  }
  if (r.code == 0 && r.delayMs == 0) {
    throw invalid("code", "a rule needs a code or a delayMs");
  }
  if (r.code == 429 && r.retryAfterSeconds == 0) r.retryAfterSeconds = 1;
  return r;
}

json faultFlagToJson(const std::string& text) {
  std::string t = trim(text);
  json rule;
  if (!t.empty() && t.front() == '{') {
    try {
      rule = json::parse(t);
    } catch (const json::parse_error& e) {
      throw ApiException(422, "Invalid", std::string("not valid JSON: ") + e.what());
    }
  } else {
    rule = json::object();
    static const std::set<std::string> numeric = {"code", "count", "retryAfterSeconds", "delayMs"};
    for (const auto& part : split(t, ',')) {
      std::string item = trim(part);
      if (item.empty()) continue;
      auto eq = item.find('=');
      if (eq == std::string::npos || eq == 0) {
        throw ApiException(422, "Invalid", "\"" + item + "\": expected key=value");
      }
      std::string key = trim(item.substr(0, eq)), value = trim(item.substr(eq + 1));
      if (key == "ns") key = "namespace";
      try {
        std::size_t used = 0;
        if (numeric.count(key)) {
          rule[key] = std::stol(value, &used);
        } else if (key == "fraction") {
          rule[key] = std::stod(value, &used);
        } else if (key == "dropWatchEvents") {
          if (value != "true" && value != "false") throw std::invalid_argument(value);
          rule[key] = value == "true";
          used = value.size();
        } else if (key == "verbs") {
          json verbs = json::array();
          for (const auto& v : split(value, '|')) verbs.push_back(trim(v));
          rule[key] = verbs;
          used = value.size();
        } else {
          rule[key] = value;
          used = value.size();
        }
        if (used != value.size()) throw std::invalid_argument(value);
      } catch (const std::logic_error&) {
        throw ApiException(422, "Invalid", key + ": \"" + value + "\" is not a number");
      }
    }
  }
  static const std::set<std::string> known = {
      "verb", "verbs",    "resource", "namespace",         "name",    "user",
      "code", "fraction", "count",    "retryAfterSeconds", "delayMs", "dropWatchEvents"};
  if (rule.is_object()) {
    for (const auto& [key, value] : rule.items()) {
      if (!known.count(key)) {
        throw ApiException(
            422, "Invalid",
            key +
                ": unknown field (use verb, verbs, resource, namespace, name, "
                "user, code, fraction, count, retryAfterSeconds, delayMs, dropWatchEvents)");
      }
    }
  }
  parseFaultRule(rule);  // throws with the field at fault
  return rule;
}

json faultRuleToJson(const FaultRule& r) {
  json j = {
      {"id", r.id},           {"verbs", r.verbs},       {"resource", r.resource},
      {"namespace", r.ns},    {"name", r.name},         {"user", r.user},
      {"code", r.code},       {"fraction", r.fraction}, {"retryAfterSeconds", r.retryAfterSeconds},
      {"delayMs", r.delayMs}, {"injected", r.injected}};
  if (r.count) j["count"] = *r.count;
  if (r.dropWatchEvents) j["dropWatchEvents"] = true;
  return j;
}

bool faultRuleMatches(const FaultRule& r, const RequestAttributes& q) {
  if (!r.verbs.empty() && std::find(r.verbs.begin(), r.verbs.end(), q.verb) == r.verbs.end()) {
    return false;
  }
  if (!r.user.empty() && r.user != q.user.name) return false;
  if (!q.resourceRequest) return false;  // discovery and health stay up: faults target the API
  if (!r.resource.empty()) {
    // "pods" means the objects; a subresource needs "pods/log" (or "pods/*" for any of them).
    const std::string qualified = q.apiGroup.empty() ? q.resource : q.resource + "." + q.apiGroup;
    const std::string sub = q.subresource.empty() ? "" : "/" + q.subresource;
    const bool anySub = !q.subresource.empty() &&
                        (r.resource == q.resource + "/*" || r.resource == qualified + "/*");
    if (r.resource != q.resource + sub && r.resource != qualified + sub && !anySub) return false;
  }
  if (!r.ns.empty() && r.ns != q.ns) return false;
  if (!r.name.empty() && r.name != q.name) return false;
  return true;
}

Faults::Faults(std::uint64_t seed) : rng_(seed) {}

FaultDecision Faults::onRequest(const RequestAttributes& request) {
  FaultDecision d;
  // The admin endpoint stays up: a test must be able to end the faults it started.
  if (!request.resourceRequest && request.path.rfind("/kubesim/", 0) == 0) return d;
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  if (outageUntil_ > now) {
    // Not answering: the request hangs until the outage ends (clients time out meanwhile).
    d.delayMs = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(outageUntil_ - now).count());
  }
  if (request.verb == "watch" && expireWatches_ > 0) {
    --expireWatches_;
    d.goneForWatch = true;
    return d;
  }
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (it->dropWatchEvents || !faultRuleMatches(*it, request)) continue;
    if (it->fraction < 1.0) {
      std::uniform_real_distribution<double> u(0.0, 1.0);
      if (u(rng_) >= it->fraction) continue;
    }
    d.delayMs += it->delayMs;
    if (it->code != 0) {
      d.statusCode = it->code;
      d.retryAfterSeconds = it->retryAfterSeconds;
    }
    ++it->injected;
    if (it->count && it->injected >= *it->count) rules_.erase(it);
    break;
  }
  return d;
}

bool Faults::dropWatchEvent(const RequestAttributes& watch, const std::string& ns,
                            const std::string& name) {
  std::lock_guard lock(mu_);
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (!it->dropWatchEvents) continue;
    RequestAttributes about = watch;
    about.ns = ns;
    about.name = name;
    if (!faultRuleMatches(*it, about)) continue;
    if (it->fraction < 1.0) {
      std::uniform_real_distribution<double> u(0.0, 1.0);
      if (u(rng_) >= it->fraction) continue;
    }
    ++it->injected;
    if (it->count && it->injected >= *it->count) rules_.erase(it);
    return true;
  }
  return false;
}

int Faults::add(FaultRule rule) {
  std::lock_guard lock(mu_);
  rule.id = nextId_++;
  rule.injected = 0;
  rules_.push_back(rule);
  return rule.id;
}

void Faults::clear() {
  std::lock_guard lock(mu_);
  rules_.clear();
  expireWatches_ = 0;
  outageUntil_ = {};
}

bool Faults::remove(int id) {
  std::lock_guard lock(mu_);
  auto it =
      std::find_if(rules_.begin(), rules_.end(), [id](const FaultRule& r) { return r.id == id; });
  if (it == rules_.end()) return false;
  rules_.erase(it);
  return true;
}

bool Faults::hasRules() const {
  std::lock_guard lock(mu_);
  return !rules_.empty();
}

std::vector<FaultRule> Faults::rules() const {
  std::lock_guard lock(mu_);
  return rules_;
}

void Faults::expireNextWatches(int count) {
  std::lock_guard lock(mu_);
  expireWatches_ += std::max(count, 0);
}

void Faults::outage(std::chrono::milliseconds duration) {
  {
    std::lock_guard lock(mu_);
    outageUntil_ = std::chrono::steady_clock::now() + duration;
  }
  closeWatches();
}

json Faults::describe() const {
  std::lock_guard lock(mu_);
  json rules = json::array();
  for (const auto& r : rules_) rules.push_back(faultRuleToJson(r));
  const auto now = std::chrono::steady_clock::now();
  double outage =
      outageUntil_ > now ? std::chrono::duration<double>(outageUntil_ - now).count() : 0;
  return {{"rules", rules},
          {"expireNextWatches", expireWatches_},
          {"watchEpoch", epoch_.load()},
          {"outageRemainingSeconds", outage}};
}

}  // namespace kubesim
