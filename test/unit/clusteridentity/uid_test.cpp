#include <catch2/catch.hpp>

#include <array>
#include <set>
#include <string>

#include "controllers/clusteridentity/shared_identity.h"
#include "controllers/clusteridentity/uid.h"

using namespace controllers::clusteridentity;

TEST_CASE("generated identities are RFC 9562 version-4 UUIDs", "[uid]") {
  for (int i = 0; i < 1000; ++i) {
    auto u = generateUuidV4();
    REQUIRE(u);
    INFO(*u);
    CHECK(u->size() == 36);
    CHECK(isUuidV4(*u));
    CHECK((*u)[14] == '4');
    CHECK(std::string("89ab").find((*u)[19]) != std::string::npos);
    for (char c : *u) CHECK((c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')));
    CHECK_FALSE(identifierProblem(*u));
  }
}

TEST_CASE("generated identities do not repeat and use every hex digit everywhere", "[uid]") {
  std::set<std::string> seen;
  // For each of the 30 fully random hex positions, which digits appeared.
  std::array<std::set<char>, 36> digits;
  const int n = 4000;
  for (int i = 0; i < n; ++i) {
    auto u = generateUuidV4();
    REQUIRE(u);
    seen.insert(*u);
    for (std::size_t p = 0; p < u->size(); ++p) digits[p].insert((*u)[p]);
  }
  CHECK(seen.size() == static_cast<std::size_t>(n));
  for (std::size_t p = 0; p < 36; ++p) {
    INFO("position " << p);
    if (p == 8 || p == 13 || p == 18 || p == 23) {
      CHECK(digits[p] == std::set<char>{'-'});
    } else if (p == 14) {
      CHECK(digits[p] == std::set<char>{'4'});
    } else if (p == 19) {
      CHECK(digits[p] == std::set<char>{'8', '9', 'a', 'b'});
    } else {
      // 4000 draws of 16 equally likely digits: missing one has probability ~16*(15/16)^4000.
      CHECK(digits[p].size() == 16);
    }
  }
}

TEST_CASE("isUuidV4 rejects other shapes", "[uid]") {
  CHECK(isUuidV4("6f0c6f9e-0d4b-4c1e-9f55-2b8f3d1f8a31"));
  CHECK(isUuidV4("6F0C6F9E-0D4B-4C1E-9F55-2B8F3D1F8A31"));
  CHECK_FALSE(isUuidV4("6f0c6f9e-0d4b-1c1e-9f55-2b8f3d1f8a31"));  // version 1
  CHECK_FALSE(isUuidV4("6f0c6f9e-0d4b-4c1e-7f55-2b8f3d1f8a31"));  // NCS variant
  CHECK_FALSE(isUuidV4("6f0c6f9e0d4b4c1e9f552b8f3d1f8a31"));
  CHECK_FALSE(isUuidV4("6f0c6f9e-0d4b-4c1e-9f55-2b8f3d1f8a3g"));
  CHECK_FALSE(isUuidV4(""));
}

TEST_CASE("identifier rules: 1 to 128 of letters, digits, dot, underscore, dash and never a colon",
          "[uid]") {
  CHECK_FALSE(identifierProblem("a"));
  CHECK_FALSE(identifierProblem("my-cluster_01.prod"));
  CHECK_FALSE(identifierProblem("6f0c6f9e-0d4b-4c1e-9f55-2b8f3d1f8a31"));
  CHECK_FALSE(identifierProblem(std::string(128, 'x')));

  auto empty = identifierProblem("");
  REQUIRE(empty);
  CHECK_THAT(*empty, Catch::Contains("is empty"));

  auto tooLong = identifierProblem(std::string(129, 'x'));
  REQUIRE(tooLong);
  CHECK_THAT(*tooLong, Catch::Contains("129 characters"));
  CHECK(tooLong->size() < 300);  // the value is not echoed whole

  auto colon = identifierProblem("prod:eu");
  REQUIRE(colon);
  CHECK_THAT(*colon, Catch::Contains("contains ':' at position 5"));
  CHECK_THAT(*colon, Catch::Contains("infrastructure PID"));

  auto space = identifierProblem("my cluster");
  REQUIRE(space);
  CHECK_THAT(*space, Catch::Contains("' ' at position 3"));

  auto control = identifierProblem(std::string("a\x01z"));
  REQUIRE(control);
  CHECK_THAT(*control, Catch::Contains("byte 0x01 at position 2"));
  CHECK(control->find('\x01') == std::string::npos);

  CHECK(identifierProblem("ü"));  // non-ASCII letters are not allowed

  // A non-ASCII character is quoted as written, at its position in characters ("??" before).
  auto accented = identifierProblem("zürich-1");
  REQUIRE(accented);
  CHECK_THAT(*accented, Catch::StartsWith("\"zürich-1\" contains 'ü' at position 2: "));
  auto after = identifierProblem("é-é:x");
  REQUIRE(after);
  CHECK_THAT(*after, Catch::Contains("contains 'é' at position 1"));
}

TEST_CASE("SharedIdentity never hands out an empty identity", "[uid]") {
  SharedIdentity id;
  CHECK_FALSE(id.clusterUid());
  id.set("abc");
  CHECK(id.clusterUid() == std::optional<std::string>("abc"));
  id.set("");
  CHECK_FALSE(id.clusterUid());
  id.set("x");
  id.clear();
  CHECK_FALSE(id.clusterUid());
}
