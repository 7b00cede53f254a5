#include <catch2/catch.hpp>

#include <mutex>
#include <thread>
#include <vector>

#include "operator/runtime/logging.h"

using nlohmann::json;
using runtime::LogFormat;
using runtime::Logger;
using runtime::LogLevel;

namespace {
struct Capture {
  std::mutex mu;
  std::vector<std::string> lines;
  runtime::LogWriter writer() {
    return [this](std::string_view l) {
      std::lock_guard g(mu);
      lines.emplace_back(l);
    };
  }
};
}  // namespace

TEST_CASE("json lines carry time, level, msg, bound and extra fields in order", "[logging]") {
  Capture cap;
  Logger log(LogFormat::Json, LogLevel::Info, cap.writer());
  auto child = log.with({{"controller", "flowrun"}});
  child.error("Reconciler error", {{"object", "data/run-1"}, {"error", "409 Conflict"}, {"n", 3}});
  REQUIRE(cap.lines.size() == 1);
  const auto& line = cap.lines[0];
  auto j = json::parse(line);
  CHECK(j["level"] == "error");
  CHECK(j["msg"] == "Reconciler error");
  CHECK(j["controller"] == "flowrun");
  CHECK(j["object"] == "data/run-1");
  CHECK(j["error"] == "409 Conflict");
  CHECK(j["n"] == 3);
  CHECK(line.rfind("{\"time\":\"", 0) == 0);
  CHECK(line.find("\"level\"") < line.find("\"msg\""));
  CHECK(line.find("\"controller\"") < line.find("\"object\""));
}

TEST_CASE("time is RFC 3339 UTC with milliseconds", "[logging]") {
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  CHECK(runtime::formatTimeMillis(t) == "2023-11-14T22:13:20.123Z");
  Logger log(LogFormat::Json, LogLevel::Info, [](std::string_view) {});
  CHECK(log.format(LogLevel::Warn, "m", {}, t) ==
        R"({"time":"2023-11-14T22:13:20.123Z","level":"warn","msg":"m"})");
}

TEST_CASE("console format is readable and stays on one line", "[logging]") {
  auto t = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  Logger log(LogFormat::Console, LogLevel::Info, [](std::string_view) {});
  CHECK(log.format(LogLevel::Info, "Reconciled\nagain",
                   {{"object", "a/b"}, {"err", "two words"}, {"n", 2}}, t) ==
        "2023-11-14T22:13:20.123Z INFO  Reconciled again object=a/b "
        "err=\"two words\" n=2");
}

TEST_CASE("levels filter and are shared between copies", "[logging]") {
  Capture cap;
  Logger log(LogFormat::Json, LogLevel::Warn, cap.writer());
  auto child = log.with({{"a", 1}});
  child.info("dropped");
  child.debug("dropped");
  child.warn("kept");
  log.setLevel(LogLevel::Debug);
  child.debug("kept too");
  CHECK(cap.lines.size() == 2);
  CHECK(runtime::parseLogLevel("WARN") == LogLevel::Warn);
  CHECK_FALSE(runtime::parseLogLevel("loud"));
  CHECK(runtime::parseLogFormat("console") == LogFormat::Console);
  CHECK_FALSE(runtime::parseLogFormat("xml"));
}

TEST_CASE("reserved keys cannot be duplicated and bad UTF-8 does not throw", "[logging]") {
  Capture cap;
  Logger log(LogFormat::Json, LogLevel::Info, cap.writer());
  log.info("m", {{"msg", "evil"}, {"bytes", std::string("\xff\xfe")}});
  REQUIRE(cap.lines.size() == 1);
  auto j = json::parse(cap.lines[0]);
  CHECK(j["msg"] == "m");
}

TEST_CASE("concurrent writers never interleave lines", "[logging]") {
  Capture cap;
  Logger log(LogFormat::Json, LogLevel::Info, cap.writer());
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) log.info("line", {{"t", t}, {"i", i}});
    });
  for (auto& t : ts) t.join();
  REQUIRE(cap.lines.size() == 2000);
  for (const auto& l : cap.lines) CHECK_NOTHROW(json::parse(l));
}

TEST_CASE("redactSecrets hides Secret data, credential env values and token fields", "[logging]") {
  json secret = {{"kind", "Secret"},
                 {"metadata", {{"name", "prefect-api-key"}}},
                 {"data", {{"key", "c2VjcmV0"}}},
                 {"stringData", {{"key", "secret"}}}};
  auto r = runtime::redactSecrets(secret);
  CHECK(r["data"]["key"] == "<redacted>");
  CHECK(r["stringData"]["key"] == "<redacted>");
  CHECK(r["metadata"]["name"] == "prefect-api-key");

  json pod = json::parse(R"({
    "spec": {"containers": [{"env": [{"name": "PREFECT_API_KEY", "value": "pnu_abc"},
                                     {"name": "PREFECT_API_URL", "value": "http://x"}]}]},
    "token": "eyJhbGci", "password": "hunter2"})");
  auto p = runtime::redactSecrets(pod);
  CHECK(p["spec"]["containers"][0]["env"][0]["value"] == "<redacted>");
  CHECK(p["spec"]["containers"][0]["env"][1]["value"] == "http://x");
  CHECK(p["token"] == "<redacted>");
  CHECK(p["password"] == "<redacted>");
  CHECK(p.dump().find("pnu_abc") == std::string::npos);
}
