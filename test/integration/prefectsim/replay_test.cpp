// Every numbered recording of the real Prefect 2.17.1 server, replayed in order against a fresh
// prefectsim: same status codes, same body shapes, same states, orchestration answers and errors.
#include <catch2/catch.hpp>

#include "test/integration/prefectsim/replay.h"
#include "test/prefectsim/server.h"

using prefectsim_test::json;

namespace {

std::string pathOf(const std::string& url) {
  auto p = url.find("/api/");
  return url.substr(p);
}

}  // namespace

TEST_CASE("prefectsim answers every numbered recording as the real server did") {
  // The recorded client sent this key; requiring it proves the bearer header passes.
  prefectsim::Server server({"127.0.0.1", 0, std::string("pnu_dummy_key_for_transcript")});
  server.start();
  prefectsim_test::Replayer replayer(server.port());
  auto files = prefectsim_test::numberedRecordings();
  REQUIRE(files.size() == 59);
  for (auto& file : files) {
    json rec = prefectsim_test::loadJson(file);
    httplib::Headers headers;
    for (auto& [k, v] : rec["request"]["headers"].items())
      if (k == "Authorization" || k == "X-PREFECT-API-VERSION")
        headers.emplace(k, v.get<std::string>());
    auto result = replayer.replay(rec["request"]["method"], pathOf(rec["request"]["url"]),
                                  rec["request"]["body"], rec["response"]["status"],
                                  rec["response"]["body"], headers);
    INFO(file);
    for (auto& m : result.mismatches) UNSCOPED_INFO(m);
    CHECK(result.mismatches.empty());
  }
}
