#pragma once
// A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text
// exposition format. Thread-safe. Metric families are created on first use and live forever.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace runtime {

using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  virtual ~Counter() = default;
  virtual void inc(double v = 1) = 0;
  virtual double value() const = 0;
};

class Gauge {
 public:
  virtual ~Gauge() = default;
  virtual void set(double v) = 0;
  virtual void add(double v) = 0;
  virtual double value() const = 0;
};

class Histogram {
 public:
  virtual ~Histogram() = default;
  virtual void observe(double v) = 0;
  virtual std::uint64_t count() const = 0;
  virtual double sum() const = 0;
};

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // The same name and labels always return the same object.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& histogram(const std::string& name, const std::string& help, const Labels& labels = {},
                       const std::vector<double>& buckets = defaultBuckets());
  std::string render() const;  // Prometheus text format 0.0.4

  static const std::vector<double>& defaultBuckets();
  static MetricsRegistry& global();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Prometheus value text: "3", "0.25", "+Inf", "NaN" (shortest round-trip form).
std::string formatMetricValue(double v);

// rest_client_requests_total{code,method} and rest_client_request_duration_seconds{verb}, the
// series client-go exports. A code <= 0 (no response: connection refused, timeout) is recorded
// as code="<error>". The app wires the kube client's request observer to this; any
// std::chrono duration converts to duration<double> (seconds).
using RestClientObserver =
    std::function<void(const std::string& method, int code, std::chrono::duration<double> latency)>;
RestClientObserver restClientObserver(MetricsRegistry& registry);
void observeRestClientRequest(MetricsRegistry& registry, const std::string& method, int code,
                              std::chrono::duration<double> latency);

}  // namespace runtime
