#include "operator/kube/utf8.h"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace kube {

// Length of the valid UTF-8 sequence at text[i], 0 when invalid (RFC 3629: no overlong forms,
// no surrogates, nothing above U+10FFFF).
std::size_t utf8SequenceLength(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char b = byte(i);
  if (b < 0x80) return 1;
  std::size_t n = b >= 0xC2 && b <= 0xDF   ? 2
                  : b >= 0xE0 && b <= 0xEF ? 3
                  : b >= 0xF0 && b <= 0xF4 ? 4
                                           : 0;
  if (n == 0 || i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  unsigned char c = byte(i + 1);
  if ((b == 0xE0 && c < 0xA0) || (b == 0xED && c > 0x9F) || (b == 0xF0 && c < 0x90) ||
      (b == 0xF4 && c > 0x8F)) {
    return 0;
  }
  return n;
}

// Hand-written rather than nlohmann's check because a message must name the byte where the bad
// sequence starts; nlohmann reports the byte after it ("incomplete UTF-8 string" at the end).
std::string utf8Problem(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = utf8SequenceLength(text, i);
    if (n == 0) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[i]));
      return "invalid UTF-8 sequence at byte " + std::to_string(i) + " (" + hex + ")";
    }
    i += n;
  }
  return "";
}

bool isValidUtf8(std::string_view text) {
  return utf8Problem(text).empty();
}

// The replacement reuses nlohmann's encoder, which already implements U+FFFD substitution.
std::string validUtf8(std::string_view text) {
  if (isValidUtf8(text)) return std::string(text);
  auto quoted = nlohmann::json(std::string(text))
                    .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return nlohmann::json::parse(quoted).get<std::string>();
}

}  // namespace kube
