#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "operator/runtime/metrics.h"

using runtime::MetricsRegistry;

TEST_CASE("counter and gauge render in the Prometheus text format", "[metrics]") {
  MetricsRegistry reg;
  reg.counter("controller_runtime_reconcile_total", "Total reconciliations.",
              {{"controller", "flowrun"}, {"result", "success"}})
      .inc();
  reg.counter("controller_runtime_reconcile_total", "Total reconciliations.",
              {{"controller", "flowrun"}, {"result", "success"}})
      .inc(2);
  reg.counter("controller_runtime_reconcile_total", "Total reconciliations.",
              {{"controller", "flowrun"}, {"result", "error"}})
      .inc();
  reg.gauge("workqueue_depth", "Current depth.", {{"name", "flowrun"}}).set(4);
  reg.gauge("up", "Plain gauge.").set(0.25);

  CHECK(reg.render() ==
        "# HELP controller_runtime_reconcile_total Total reconciliations.\n"
        "# TYPE controller_runtime_reconcile_total counter\n"
        "controller_runtime_reconcile_total{controller=\"flowrun\",result=\"error\"} 1\n"
        "controller_runtime_reconcile_total{controller=\"flowrun\",result=\"success\"} 3\n"
        "# HELP up Plain gauge.\n"
        "# TYPE up gauge\n"
        "up 0.25\n"
        "# HELP workqueue_depth Current depth.\n"
        "# TYPE workqueue_depth gauge\n"
        "workqueue_depth{name=\"flowrun\"} 4\n");
}

TEST_CASE("the same name and labels return the same object", "[metrics]") {
  MetricsRegistry reg;
  auto& a = reg.counter("c_total", "h", {{"x", "1"}});
  auto& b = reg.counter("c_total", "h", {{"x", "1"}});
  auto& c = reg.counter("c_total", "h", {{"x", "2"}});
  CHECK(&a == &b);
  CHECK(&a != &c);
  a.inc(-5);  // counters never go down
  CHECK(a.value() == 0);
}

TEST_CASE("histograms render cumulative buckets, +Inf, _sum and _count", "[metrics]") {
  MetricsRegistry reg;
  auto& h = reg.histogram("workqueue_queue_duration_seconds", "Time in queue.", {{"name", "q"}},
                          {0.1, 1, 0.5});
  h.observe(0.05);
  h.observe(0.1);  // le is inclusive
  h.observe(0.7);
  h.observe(3);
  CHECK(h.count() == 4);
  CHECK(h.sum() == Approx(3.85));
  CHECK(reg.render() ==
        "# HELP workqueue_queue_duration_seconds Time in queue.\n"
        "# TYPE workqueue_queue_duration_seconds histogram\n"
        "workqueue_queue_duration_seconds_bucket{name=\"q\",le=\"0.1\"} 2\n"
        "workqueue_queue_duration_seconds_bucket{name=\"q\",le=\"0.5\"} 2\n"
        "workqueue_queue_duration_seconds_bucket{name=\"q\",le=\"1\"} 3\n"
        "workqueue_queue_duration_seconds_bucket{name=\"q\",le=\"+Inf\"} 4\n"
        "workqueue_queue_duration_seconds_sum{name=\"q\"} 3.85\n"
        "workqueue_queue_duration_seconds_count{name=\"q\"} 4\n");
}

TEST_CASE("histogram without labels uses only le", "[metrics]") {
  MetricsRegistry reg;
  reg.histogram("h", "x", {}, {1}).observe(2);
  CHECK(reg.render() ==
        "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 1\n"
        "h_sum 2\nh_count 1\n");
}

TEST_CASE("default buckets are the Prometheus defaults", "[metrics]") {
  MetricsRegistry reg;
  reg.histogram("d", "x").observe(0.003);
  auto text = reg.render();
  CHECK(text.find("d_bucket{le=\"0.005\"} 1\n") != std::string::npos);
  CHECK(text.find("d_bucket{le=\"10\"} 1\n") != std::string::npos);
  CHECK(MetricsRegistry::defaultBuckets().size() == 11);
}

TEST_CASE("label values and help text are escaped", "[metrics]") {
  MetricsRegistry reg;
  reg.counter("e_total", "line one\nback\\slash \"quoted\"", {{"v", "a\"b\\c\nd"}}).inc();
  CHECK(reg.render() ==
        "# HELP e_total line one\\nback\\\\slash \"quoted\"\n"
        "# TYPE e_total counter\n"
        "e_total{v=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST_CASE("a type conflict does not crash and is not rendered", "[metrics]") {
  MetricsRegistry reg;
  reg.counter("x", "counter").inc();
  auto& g = reg.gauge("x", "gauge");
  g.set(7);
  CHECK(g.value() == 7);
  CHECK(reg.render() == "# HELP x counter\n# TYPE x counter\nx 1\n");
}

TEST_CASE("values are formatted like Prometheus clients do", "[metrics]") {
  using runtime::formatMetricValue;
  CHECK(formatMetricValue(0) == "0");
  CHECK(formatMetricValue(42) == "42");
  CHECK(formatMetricValue(-3) == "-3");
  CHECK(formatMetricValue(0.1) == "0.1");
  CHECK(formatMetricValue(1e20) == "1e+20");
  CHECK(formatMetricValue(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(formatMetricValue(-std::numeric_limits<double>::infinity()) == "-Inf");
  CHECK(formatMetricValue(std::nan("")) == "NaN");
}

TEST_CASE("concurrent increments are not lost", "[metrics]") {
  MetricsRegistry reg;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        reg.counter("n_total", "h", {{"k", "v"}}).inc();
        reg.histogram("lat", "h", {}, {1}).observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(reg.counter("n_total", "h", {{"k", "v"}}).value() == 40000);
  CHECK(reg.histogram("lat", "h").count() == 40000);
}

TEST_CASE("rest client observer records code and method", "[metrics]") {
  MetricsRegistry reg;
  std::function<void(const std::string&, int, std::chrono::milliseconds)> observer =
      runtime::restClientObserver(reg);
  observer("GET", 200, std::chrono::milliseconds(12));
  observer("GET", 200, std::chrono::milliseconds(3));
  observer("PUT", 0, std::chrono::milliseconds(3));
  auto text = reg.render();
  CHECK(text.find("rest_client_requests_total{code=\"200\",method=\"GET\"} 2\n") !=
        std::string::npos);
  CHECK(text.find("rest_client_requests_total{code=\"<error>\",method=\"PUT\"} 1\n") !=
        std::string::npos);
  CHECK(reg.histogram("rest_client_request_duration_seconds", "", {{"verb", "GET"}}).sum() ==
        Approx(0.015));
}
