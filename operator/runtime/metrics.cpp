#include "operator/runtime/metrics.h"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

namespace runtime {

namespace {

enum class Type { Counter, Gauge, Histogram };

const char* typeName(Type t) {
  switch (t) {
    case Type::Counter:
      return "counter";
    case Type::Gauge:
      return "gauge";
    case Type::Histogram:
      return "histogram";
  }
  return "untyped";
}

// Lock-free add on a double: std::atomic<double>::fetch_add exists in C++20, but a CAS loop is
// portable to every libstdc++ we might meet and just as fast for our contention levels.
void atomicAdd(std::atomic<double>& a, double v) {
  double cur = a.load(std::memory_order_relaxed);
  while (!a.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
  }
}

class CounterImpl final : public Counter {
 public:
  void inc(double v) override {
    // Counters only go up: a negative increment is a caller bug, ignored rather than
    // corrupting a monotonic series that rate() relies on.
    if (!(v >= 0)) return;
    atomicAdd(v_, v);
  }
  double value() const override { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class GaugeImpl final : public Gauge {
 public:
  void set(double v) override { v_.store(v, std::memory_order_relaxed); }
  void add(double v) override { atomicAdd(v_, v); }
  double value() const override { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class HistogramImpl final : public Histogram {
 public:
  explicit HistogramImpl(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size()) {}

  void observe(double v) override {
    if (std::isnan(v)) return;
    std::lock_guard lock(mu_);
    // Buckets are stored non-cumulatively; render() accumulates.
    auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
    if (it != bounds_.end()) ++counts_[static_cast<std::size_t>(it - bounds_.begin())];
    ++count_;
    sum_ += v;
  }
  std::uint64_t count() const override {
    std::lock_guard lock(mu_);
    return count_;
  }
  double sum() const override {
    std::lock_guard lock(mu_);
    return sum_;
  }

  struct Snapshot {
    std::vector<std::uint64_t> cumulative;
    std::uint64_t count;
    double sum;
  };
  Snapshot snapshot() const {
    std::lock_guard lock(mu_);
    Snapshot s{{}, count_, sum_};
    s.cumulative.reserve(counts_.size());
    std::uint64_t acc = 0;
    for (auto c : counts_) {
      acc += c;
      s.cumulative.push_back(acc);
    }
    return s;
  }
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;  // sorted, unique, finite (le="+Inf" is implicit)
  mutable std::mutex mu_;
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

struct Family {
  std::string name;
  std::string help;
  Type type;
  std::vector<double> buckets;  // histograms only
  // Children keyed by their label set; std::map keeps the rendering order stable.
  std::map<Labels, std::unique_ptr<Counter>> counters;
  std::map<Labels, std::unique_ptr<Gauge>> gauges;
  std::map<Labels, std::unique_ptr<HistogramImpl>> histograms;
};

std::vector<double> normaliseBuckets(const std::vector<double>& in) {
  std::vector<double> out;
  for (double b : in)
    if (std::isfinite(b)) out.push_back(b);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void escapeInto(std::string& out, const std::string& s, bool quote) {
  for (char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        if (quote) {
          out += "\\\"";
          break;
        }
        out += c;
        break;
      default:
        out += c;
    }
  }
}

void labelsInto(std::string& out, const Labels& labels, const char* extraKey = nullptr,
                const std::string& extraValue = {}) {
  if (labels.empty() && !extraKey) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    escapeInto(out, v, true);
    out += '"';
  }
  if (extraKey) {
    if (!first) out += ',';
    out += extraKey;
    out += "=\"";
    out += extraValue;
    out += '"';
  }
  out += '}';
}

}  // namespace

std::string formatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Integral values print without a fraction ("3", not "3.000000"); everything else uses the
  // shortest representation that round-trips, like Go's strconv.FormatFloat(v, 'g', -1, 64).
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<long long>(v));
  }
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

struct MetricsRegistry::Impl {
  mutable std::mutex mu;
  std::map<std::string, Family> families;  // sorted by name: stable output
  // Metrics requested with a type that conflicts with an existing family. They work for the
  // caller but are never rendered: a programming error must not crash the operator, and
  // mixing types under one name would make the exposition invalid.
  std::vector<std::unique_ptr<Counter>> orphanCounters;
  std::vector<std::unique_ptr<Gauge>> orphanGauges;
  std::vector<std::unique_ptr<Histogram>> orphanHistograms;

  Family* family(const std::string& name, const std::string& help, Type type) {
    auto [it, inserted] = families.try_emplace(name);
    Family& f = it->second;
    if (inserted) {
      f.name = name;
      f.help = help;
      f.type = type;
    }
    return f.type == type ? &f : nullptr;
  }
};

MetricsRegistry::MetricsRegistry() : impl_(std::make_unique<Impl>()) {}
MetricsRegistry::~MetricsRegistry() = default;

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                  const Labels& labels) {
  std::lock_guard lock(impl_->mu);
  Family* f = impl_->family(name, help, Type::Counter);
  if (!f) return *impl_->orphanCounters.emplace_back(std::make_unique<CounterImpl>());
  auto& slot = f->counters[labels];
  if (!slot) slot = std::make_unique<CounterImpl>();
  return *slot;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                              const Labels& labels) {
  std::lock_guard lock(impl_->mu);
  Family* f = impl_->family(name, help, Type::Gauge);
  if (!f) return *impl_->orphanGauges.emplace_back(std::make_unique<GaugeImpl>());
  auto& slot = f->gauges[labels];
  if (!slot) slot = std::make_unique<GaugeImpl>();
  return *slot;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                      const Labels& labels, const std::vector<double>& buckets) {
  std::lock_guard lock(impl_->mu);
  bool fresh = impl_->families.find(name) == impl_->families.end();
  Family* f = impl_->family(name, help, Type::Histogram);
  if (!f) {
    return *impl_->orphanHistograms.emplace_back(
        std::make_unique<HistogramImpl>(normaliseBuckets(buckets)));
  }
  // The first registration fixes the buckets of the family: every child must share them or
  // the series could not be aggregated.
  if (fresh) f->buckets = normaliseBuckets(buckets);
  auto& slot = f->histograms[labels];
  if (!slot) slot = std::make_unique<HistogramImpl>(f->buckets);
  return *slot;
}

std::string MetricsRegistry::render() const {
  std::string out;
  std::lock_guard lock(impl_->mu);
  for (const auto& [name, f] : impl_->families) {
    out += "# HELP ";
    out += name;
    out += ' ';
    escapeInto(out, f.help, false);
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += typeName(f.type);
    out += '\n';
    switch (f.type) {
      case Type::Counter:
        for (const auto& [labels, c] : f.counters) {
          out += name;
          labelsInto(out, labels);
          out += ' ';
          out += formatMetricValue(c->value());
          out += '\n';
        }
        break;
      case Type::Gauge:
        for (const auto& [labels, g] : f.gauges) {
          out += name;
          labelsInto(out, labels);
          out += ' ';
          out += formatMetricValue(g->value());
          out += '\n';
        }
        break;
      case Type::Histogram:
        for (const auto& [labels, h] : f.histograms) {
          auto snap = h->snapshot();
          const auto& bounds = h->bounds();
          for (std::size_t i = 0; i < bounds.size(); ++i) {
            out += name;
            out += "_bucket";
            labelsInto(out, labels, "le", formatMetricValue(bounds[i]));
            out += ' ';
            out += std::to_string(snap.cumulative[i]);
            out += '\n';
          }
          out += name;
          out += "_bucket";
          labelsInto(out, labels, "le", "+Inf");
          out += ' ';
          out += std::to_string(snap.count);
          out += '\n';
          out += name;
          out += "_sum";
          labelsInto(out, labels);
          out += ' ';
          out += formatMetricValue(snap.sum);
          out += '\n';
          out += name;
          out += "_count";
          labelsInto(out, labels);
          out += ' ';
          out += std::to_string(snap.count);
          out += '\n';
        }
        break;
    }
  }
  return out;
}

const std::vector<double>& MetricsRegistry::defaultBuckets() {
  // Prometheus client defaults (seconds): suit request and reconcile latencies.
  static const std::vector<double> buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                              0.5,   1,    2.5,   5,    10};
  return buckets;
}

MetricsRegistry& MetricsRegistry::global() {
  // Leaked on purpose: worker threads may still update metrics during static destruction.
  static MetricsRegistry* registry = new MetricsRegistry();
  return *registry;
}

RestClientObserver restClientObserver(MetricsRegistry& registry) {
  return [&registry](const std::string& method, int code, std::chrono::duration<double> latency) {
    observeRestClientRequest(registry, method, code, latency);
  };
}

void observeRestClientRequest(MetricsRegistry& registry, const std::string& method, int code,
                              std::chrono::duration<double> latency) {
  // client-go labels a request that got no HTTP response with code "<error>".
  std::string codeText = code > 0 ? std::to_string(code) : "<error>";
  registry
      .counter("rest_client_requests_total",
               "Number of HTTP requests, partitioned by status code and method.",
               {{"code", codeText}, {"method", method}})
      .inc();
  registry
      .histogram("rest_client_request_duration_seconds",
                 "Request latency in seconds, broken down by verb.", {{"verb", method}},
                 {0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60})
      .observe(latency.count());
}

}  // namespace runtime
