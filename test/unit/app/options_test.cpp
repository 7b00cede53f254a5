#include <catch2/catch.hpp>

#include "operator/app/options.h"

using namespace std::chrono_literals;

namespace {
app::ParseResult parse(std::vector<const char*> args) {
  args.insert(args.begin(), "flowrun-operator");
  return app::parseOptions(static_cast<int>(args.size()), args.data());
}
}  // namespace

TEST_CASE("defaults match the documented values") {
  auto r = parse({});
  REQUIRE_FALSE(r.error);
  CHECK(r.options.clusterIdentity == "cluster");
  CHECK(r.options.createClusterIdentity);
  CHECK(r.options.leaseDuration == 15s);
  CHECK(r.options.renewDeadline == 10s);
  CHECK(r.options.retryPeriod == 2s);
  CHECK(r.options.namespaces.empty());
}

TEST_CASE("flags take values with = or as the next argument") {
  auto r = parse({"--namespaces=a,b", "--lease-duration", "30s", "--leader-elect",
                  "--create-cluster-identity=false", "--kube-api-qps", "0"});
  REQUIRE_FALSE(r.error);
  CHECK(r.options.namespaces == std::vector<std::string>{"a", "b"});
  CHECK(r.options.leaseDuration == 30s);
  CHECK(r.options.leaderElect);
  CHECK_FALSE(r.options.createClusterIdentity);
  CHECK(r.options.kubeApiQps == 0);
}

TEST_CASE("an unknown flag is one error line naming it") {
  auto r = parse({"--bogus=1"});
  REQUIRE(r.error);
  CHECK(*r.error == "unknown flag --bogus (see --help)");
}

TEST_CASE("bad values name the flag and the value") {
  auto r = parse({"--max-concurrent-reconciles=zero"});
  REQUIRE(r.error);
  CHECK(r.error->find("--max-concurrent-reconciles") != std::string::npos);
  CHECK(r.error->find("zero") != std::string::npos);
  CHECK(parse({"--log-format=xml"}).error);
  CHECK(parse({"--renew-deadline=soon"}).error);
  CHECK(parse({"--context"}).error);
}

TEST_CASE("durations") {
  CHECK(app::parseDuration("500ms") == 500ms);
  CHECK(app::parseDuration("2m") == 120s);
  CHECK(app::parseDuration("1.5s") == 1500ms);
  CHECK(app::parseDuration("7") == 7s);
  CHECK_FALSE(app::parseDuration("x"));
  CHECK_FALSE(app::parseDuration("5d"));
}

TEST_CASE("help lists every flag with its default") {
  auto h = app::helpText();
  CHECK(h.find("--lease-duration value") != std::string::npos);
  CHECK(h.find("(default \"15s\")") != std::string::npos);
  CHECK(h.find("--cluster-identity value") != std::string::npos);
}

TEST_CASE("the namespaces flag refuses empty items and names that are not namespaces") {
  // ",," used to mean "cluster-wide" silently, and "Team_A" was watched (and never matched).
  auto empty = parse({"--namespaces=,,"});
  REQUIRE(empty.error);
  CHECK(*empty.error ==
        "invalid value for --namespaces: \",,\" has an empty item (leave the flag out, or give it "
        "\"\", to watch the whole cluster)");
  REQUIRE(parse({"--namespaces=a,,b"}).error);
  auto upper = parse({"--namespaces=data,Team_A"});
  REQUIRE(upper.error);
  CHECK(upper.error->find("invalid value for --namespaces: \"Team_A\": a lowercase RFC 1123 "
                          "label must consist of") == 0);
  CHECK(parse({"--namespaces", std::string(64, 'a').c_str()}).error->find("no more than 63") !=
        std::string::npos);
  CHECK(parse({"--operator-namespace=Ops"}).error);
  auto cluster = parse({"--namespaces="});
  REQUIRE_FALSE(cluster.error);
  CHECK(cluster.options.namespaces.empty());
  auto dup = parse({"--namespaces=a,b,a"});
  REQUIRE_FALSE(dup.error);
  CHECK(dup.options.namespaces == std::vector<std::string>{"a", "b"});
}
