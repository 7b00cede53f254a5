#include "controllers/clusteridentity/uid.h"

#include <openssl/rand.h>

#include <array>
#include <cctype>
#include <cstdint>
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

// The start of an input for a message: short, printable, so a hostile value cannot flood logs.
std::string preview(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 40)) {
    out.push_back(std::isprint(static_cast<unsigned char>(c)) ? c : '?');
  }
  if (s.size() > 40) out += "...";
  return out;
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
      return concat({"\"", preview(uid), "\" contains ':' at position ", std::to_string(i + 1),
                     ", which separates the parts of a Prefect infrastructure PID: ", kRule});
    }
    const unsigned char c = static_cast<unsigned char>(uid[i]);
    const char hex[] = {"0123456789abcdef"[c >> 4], "0123456789abcdef"[c & 0x0f], '\0'};
    const char quoted[] = {'\'', uid[i], '\'', '\0'};
    const std::string shown = std::isprint(c) ? concat({quoted}) : concat({"byte 0x", hex});
    return concat({"\"", preview(uid), "\" contains ", shown, " at position ",
                   std::to_string(i + 1), ": ", kRule});
  }
  return std::nullopt;
}

}  // namespace controllers::clusteridentity
