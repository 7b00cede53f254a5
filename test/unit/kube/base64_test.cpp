#include <catch2/catch.hpp>

#include <string>

#include "operator/kube/base64.h"

TEST_CASE("base64: RFC 4648 vectors both ways") {
  const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    CHECK(kube::base64Encode(plain) == encoded);
    CHECK(kube::base64Decode(encoded) == plain);
  }
}

TEST_CASE("base64: binary data round-trips, NUL bytes and high bytes included") {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  CHECK(kube::base64Decode(kube::base64Encode(bytes)) == bytes);
}

TEST_CASE("base64: white space and missing padding are accepted, nothing else") {
  CHECK(kube::base64Decode("Zm9v\nYmFy\r\n") == std::string("foobar"));
  CHECK(kube::base64Decode(" Zm9vYg ") == std::string("foob"));  // unpadded
  CHECK(kube::base64Decode("Zm8") == std::string("fo"));
  CHECK_FALSE(kube::base64Decode("Z").has_value());         // a lone symbol is no byte
  CHECK_FALSE(kube::base64Decode("Zm9v!mFy").has_value());  // not in the alphabet
  CHECK_FALSE(kube::base64Decode("Zm==Zm9v").has_value());  // padding in the middle
  CHECK_FALSE(kube::base64Decode("Zg===").has_value());     // too much padding
  CHECK_FALSE(kube::base64Decode("Zm9v-_").has_value());    // URL-safe alphabet is not base64
}
