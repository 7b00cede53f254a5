#include "controllers/clusteridentity/uid.h"

#include <openssl/rand.h>

#include "operator/kube/utf8.h"

#include <array>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <string_view>

namespace controllers::clusteridentity {

std::optional<std::string> generateUuidV4() {
  std::array<unsigned char, 16> b{};
  if (RAND_bytes(b.data(), static_cast<int>(b.size())) != 1) return std::nullopt;
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // variant 10xx
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[b[i] >> 4]);
    out.push_back(kHex[b[i] & 0x0f]);
  }
  return out;
}

bool isUuidV4(const std::string& text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash != (text[i] == '-')) return false;
    if (!dash && !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  if (text[14] != '4') return false;
  const char variant = static_cast<char>(std::tolower(static_cast<unsigned char>(text[19])));
  return variant == '8' || variant == '9' || variant == 'a' || variant == 'b';
}

namespace {

// One reserved string appended piece by piece: GCC 12 at -O3 reports a false -Werror=restrict on
// `"literal" + std::string&&` chains (the insert at position 0 that operator+ inlines).
std::string concat(std::initializer_list<std::string_view> parts) {
  std::size_t n = 0;
  for (auto p : parts) n += p.size();
  std::string out;
  out.reserve(n);
  for (auto p : parts) out.append(p);
  return out;
}

bool identifierChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

// The start of an input for a message: short, one line, so a hostile value cannot flood logs;
// characters beyond ASCII are kept (a person wrote them), control characters become '?'.
std::string preview(const std::string& s) {
  std::string out;
  std::size_t chars = 0;
  for (std::size_t i = 0; i < s.size() && chars < 40; ++chars) {
    std::size_t n = kube::utf8SequenceLength(s, i);
    if (n > 1) {
      out += s.substr(i, n);
    } else {
      out.push_back(n == 1 && std::isprint(static_cast<unsigned char>(s[i])) ? s[i] : '?');
      n = 1;
    }
    i += n;
    if (i < s.size() && chars + 1 == 40) out += "...";
  }
  return out;
}

// 1-based position, in characters, of the byte at `i`.
std::size_t characterPosition(const std::string& s, std::size_t i) {
  std::size_t pos = 1;
  for (std::size_t k = 0; k < i;) {
    std::size_t n = kube::utf8SequenceLength(s, k);
    k += n == 0 ? 1 : n;
    ++pos;
  }
  return pos;
}

// The character at byte `i` for a message: 'x', or the bytes of what is not a character.
std::string shownChar(const std::string& s, std::size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  std::size_t n = kube::utf8SequenceLength(s, i);
  if (n > 1 || (n == 1 && std::isprint(c))) return concat({"'", s.substr(i, n), "'"});
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", c);
  return concat({"byte ", hex});
}

}  // namespace

std::optional<std::string> identifierProblem(const std::string& uid) {
  static const std::string kRule =
      "a cluster identity must be 1 to 128 characters of letters, digits, '.', '_' or '-'";
  if (uid.empty()) return concat({"is empty: ", kRule});
  if (uid.size() > kMaxIdentifierLength) {
    return concat(
        {"is ", std::to_string(uid.size()), " characters long (\"", preview(uid), "\"): ", kRule});
  }
  for (std::size_t i = 0; i < uid.size(); ++i) {
    if (identifierChar(uid[i])) continue;
    if (uid[i] == ':') {
      return concat({"\"", preview(uid), "\" contains ':' at position ",
                     std::to_string(characterPosition(uid, i)),
                     ", which separates the parts of a Prefect infrastructure PID: ", kRule});
    }
    return concat({"\"", preview(uid), "\" contains ", shownChar(uid, i), " at position ",
                   std::to_string(characterPosition(uid, i)), ": ", kRule});
  }
  return std::nullopt;
}

}  // namespace controllers::clusteridentity
