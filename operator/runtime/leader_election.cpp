#include "operator/runtime/leader_election.h"

#include <unistd.h>

#include <ctime>
#include <random>

namespace runtime {

using SteadyClock = std::chrono::steady_clock;

std::string formatMicroTime(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  long frac = static_cast<long>(us % 1000000);
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::string defaultLeaderIdentity() {
  char host[256] = {0};
  if (::gethostname(host, sizeof host - 1) != 0 || host[0] == 0) std::snprintf(host, 8, "unknown");
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%08x", static_cast<unsigned>(rd()));
  return std::string(host) + "_" + suffix;
}

LeaseElector::LeaseElector(kube::Client& client, LeaseElectorOptions options)
    : client_(client),
      opts_(std::move(options)),
      identity_(opts_.identity.empty() ? defaultLeaderIdentity() : opts_.identity),
      log_((opts_.logger ? *opts_.logger : logger())
               .with({{"lease", opts_.leaseNamespace + "/" + opts_.leaseName},
                      {"identity", identity_}})) {
  auto& reg = opts_.metrics ? *opts_.metrics : MetricsRegistry::global();
  status_ = &reg.gauge("leader_election_master_status",
                       "Gauge of if the reporting system is master of the relevant lease, 0 "
                       "indicates backup, 1 indicates master. 'name' is the string used to "
                       "identify the lease.",
                       {{"name", opts_.leaseName}});
  status_->set(0);
}

LeaseElector::~LeaseElector() {
  stop();
}

std::optional<std::string> LeaseElector::start() {
  if (opts_.leaseName.empty())
    return "leader election: the lease name (--leader-election-id) is empty";
  if (opts_.leaseNamespace.empty())
    return "leader election: the lease namespace (--leader-election-namespace) is empty";
  if (opts_.retryPeriod <= std::chrono::milliseconds::zero())
    return "leader election: the retry period must be positive";
  if (opts_.renewDeadline <= opts_.retryPeriod)
    return "leader election: the renew deadline must be greater than the retry period";
  if (opts_.leaseDuration <= opts_.renewDeadline)
    return "leader election: the lease duration must be greater than the renew deadline";
  if (opts_.leaseDuration < std::chrono::seconds(1))
    return "leader election: the lease duration must be at least 1s (the Lease counts seconds)";
  std::lock_guard lock(mu_);
  if (started_) return std::nullopt;
  started_ = true;
  runner_ = std::thread([this] { run(); });
  watchdog_ = std::thread([this] { watchdog(); });
  return std::nullopt;
}

void LeaseElector::stop() {
  {
    std::lock_guard lock(mu_);
    if (!started_ || stopping_) return;
    stopping_ = true;
    cv_.notify_all();
  }
  if (runner_.joinable()) runner_.join();
  if (watchdog_.joinable()) watchdog_.join();
  if (callback_.joinable()) {
    if (callback_.get_id() == std::this_thread::get_id()) {
      callback_.detach();
    } else {
      callback_.join();
    }
  }
  if (leading_.exchange(false)) {
    release();
    status_->set(0);
  }
}

std::string LeaseElector::observedLeader() const {
  std::lock_guard lock(mu_);
  return observed_.holder;
}

bool LeaseElector::sleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [&] { return stopping_; });
}

LeaseElector::Record LeaseElector::recordOf(const kube::json& lease) {
  Record r;
  auto spec = lease.find("spec");
  if (spec == lease.end() || !spec->is_object()) return r;
  auto s = [&](const char* k) {
    auto it = spec->find(k);
    return it != spec->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  auto i = [&](const char* k) -> std::int64_t {
    auto it = spec->find(k);
    return it != spec->end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  r.holder = s("holderIdentity");
  r.durationSeconds = i("leaseDurationSeconds");
  r.acquireTime = s("acquireTime");
  r.renewTime = s("renewTime");
  r.transitions = i("leaseTransitions");
  return r;
}

void LeaseElector::observe(const Record& r) {
  bool newLeader = false;
  {
    std::lock_guard lock(mu_);
    if (r == observed_) return;
    newLeader = r.holder != observed_.holder;
    observed_ = r;
    // Expiry is judged from when WE saw the record change, never from the renewTime written
    // by another machine whose clock may be skewed.
    observedAt_ = SteadyClock::now();
  }
  if (newLeader) {
    if (!r.holder.empty()) log_.info("New leader observed", {{"holder", r.holder}});
    if (opts_.onNewLeader) opts_.onNewLeader(r.holder);
  }
}

LeaseElector::Attempt LeaseElector::tryAcquireOrRenew() {
  auto nowText = formatMicroTime(std::chrono::system_clock::now());
  std::int64_t durationSeconds =
      std::chrono::duration_cast<std::chrono::seconds>(opts_.leaseDuration).count();
  auto got = client_.get(kube::resources::Leases, opts_.leaseNamespace, opts_.leaseName);
  if (!got) {
    if (!got.error().isNotFound()) {
      log_.warn("Cannot read the lease", {{"error", got.error().describe()}});
      return Attempt::Failed;
    }
    kube::json lease = {
        {"apiVersion", "coordination.k8s.io/v1"},
        {"kind", "Lease"},
        {"metadata", {{"name", opts_.leaseName}, {"namespace", opts_.leaseNamespace}}},
        {"spec",
         {{"holderIdentity", identity_},
          {"leaseDurationSeconds", durationSeconds},
          {"acquireTime", nowText},
          {"renewTime", nowText},
          {"leaseTransitions", 0}}}};
    auto created = client_.create(kube::resources::Leases, opts_.leaseNamespace, lease);
    if (!created) {
      // AlreadyExists: another candidate created it first; we look again next period.
      if (!created.error().isAlreadyExists())
        log_.warn("Cannot create the lease", {{"error", created.error().describe()}});
      return Attempt::Failed;
    }
    observe(recordOf(*created));
    return Attempt::Acquired;
  }

  kube::json lease = std::move(got.value());
  Record old = recordOf(lease);
  observe(old);
  if (!old.holder.empty() && old.holder != identity_) {
    std::lock_guard lock(mu_);
    auto duration = std::chrono::seconds(old.durationSeconds);
    if (observedAt_ + duration > SteadyClock::now()) return Attempt::HeldByOther;
  }

  kube::json spec = {{"holderIdentity", identity_},
                     {"leaseDurationSeconds", durationSeconds},
                     {"renewTime", nowText}};
  if (old.holder == identity_) {
    spec["acquireTime"] = old.acquireTime.empty() ? nowText : old.acquireTime;
    spec["leaseTransitions"] = old.transitions;
  } else {
    spec["acquireTime"] = nowText;
    spec["leaseTransitions"] = old.transitions + 1;
  }
  lease["spec"] = spec;
  // metadata.resourceVersion from the read makes this conditional: 409 if anyone wrote since.
  auto updated = client_.update(kube::resources::Leases, lease);
  if (!updated) {
    if (updated.error().isConflict()) {
      log_.debug("Lease changed under us (409); someone else may have won");
    } else {
      log_.warn("Cannot update the lease", {{"error", updated.error().describe()}});
    }
    return Attempt::Failed;
  }
  observe(recordOf(*updated));
  return Attempt::Acquired;
}

void LeaseElector::becomeLeader(SteadyClock::time_point sentAt) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      // We wrote ourselves into the lease while stop() was called: give it back at once.
      leading_ = true;
      return;
    }
    lastRenewSent_ = sentAt;
    leading_ = true;
    cv_.notify_all();  // the watchdog starts counting
  }
  status_->set(1);
  log_.info("Became leader");
  if (opts_.onStartedLeading) {
    callback_ = std::thread([cb = opts_.onStartedLeading] { cb(); });
  }
}

void LeaseElector::loseLeadership(const std::string& why) {
  {
    std::lock_guard lock(mu_);
    if (!leading_ || lost_) return;
    leading_ = false;
    lost_ = true;
    cv_.notify_all();
  }
  status_->set(0);
  log_.error("Leader election lost", {{"reason", why}});
  if (opts_.onStoppedLeading) opts_.onStoppedLeading();
}

void LeaseElector::run() {
  std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> jitter(1.0, 1.2);
  // Campaign until we hold the lease.
  while (true) {
    auto sentAt = SteadyClock::now();
    if (tryAcquireOrRenew() == Attempt::Acquired) {
      becomeLeader(sentAt);
      break;
    }
    // Jitter keeps standbys from hitting the API server in lock-step.
    auto wait =
        std::chrono::duration_cast<std::chrono::milliseconds>(opts_.retryPeriod * jitter(rng));
    if (!sleepFor(wait)) return;
  }
  // Renew until stopped or lost. The watchdog enforces the renew deadline even when a
  // request hangs; this loop only reports successes.
  while (sleepFor(opts_.retryPeriod)) {
    if (!leading_) return;
    auto sentAt = SteadyClock::now();
    auto attempt = tryAcquireOrRenew();
    if (attempt == Attempt::Acquired) {
      std::lock_guard lock(mu_);
      if (!leading_) return;  // the deadline passed while the request was in flight
      lastRenewSent_ = sentAt;
      cv_.notify_all();
    } else if (attempt == Attempt::HeldByOther) {
      loseLeadership("another holder owns the lease: " + observedLeader());
      return;
    } else {
      log_.warn("Failed to renew the lease; retrying until the renew deadline");
    }
  }
}

void LeaseElector::watchdog() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (!leading_) {
      if (lost_) return;
      cv_.wait(lock);
      continue;
    }
    auto deadline = lastRenewSent_ + opts_.renewDeadline;
    if (SteadyClock::now() >= deadline) {
      lock.unlock();
      loseLeadership("no successful renew within the renew deadline");
      return;
    }
    cv_.wait_until(lock, deadline);
  }
}

void LeaseElector::release() {
  auto got = client_.get(kube::resources::Leases, opts_.leaseNamespace, opts_.leaseName);
  if (!got) {
    log_.warn("Cannot read the lease to release it", {{"error", got.error().describe()}});
    return;
  }
  kube::json lease = std::move(got.value());
  if (recordOf(lease).holder != identity_) return;  // not ours any more: nothing to give back
  auto nowText = formatMicroTime(std::chrono::system_clock::now());
  // client-go's release: no holder and a 1 s duration, so a standby takes over at its next try.
  lease["spec"]["holderIdentity"] = "";
  lease["spec"]["leaseDurationSeconds"] = 1;
  lease["spec"]["renewTime"] = nowText;
  lease["spec"]["acquireTime"] = nowText;
  auto updated = client_.update(kube::resources::Leases, lease);
  if (!updated) {
    log_.warn("Cannot release the lease; the standby takes over when it expires",
              {{"error", updated.error().describe()}});
    return;
  }
  log_.info("Released the lease");
}

}  // namespace runtime
