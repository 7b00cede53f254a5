#pragma once
// Text that reaches a status, an Event or a log line must be valid UTF-8: the API server refuses
// anything else, and nlohmann::json's encoder throws (type_error.316) on it.
#include <string>
#include <string_view>

namespace kube {

bool isValidUtf8(std::string_view text);
// Length in bytes of the valid UTF-8 sequence (one character) starting at text[i], 0 when the
// bytes there are not one.
std::size_t utf8SequenceLength(std::string_view text, std::size_t i);
// Why `text` is not valid UTF-8 ("invalid UTF-8 byte at index 12: 0xDF"), or "" when it is.
std::string utf8Problem(std::string_view text);
// `text` with each invalid byte sequence replaced by U+FFFD; unchanged when already valid.
std::string validUtf8(std::string_view text);

}  // namespace kube
