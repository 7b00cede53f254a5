#include "controllers/flowrun/shell_split.h"

namespace controllers::flowrun {

namespace {
bool isShellSpace(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}
}  // namespace

std::variant<std::vector<std::string>, RenderError> splitCommand(const std::string& command) {
  std::vector<std::string> words;
  std::string word;
  bool inWord = false;  // a word has started (it may still be empty: '' is a word)
  std::size_t i = 0;
  const std::size_t n = command.size();
  while (i < n) {
    const char c = command[i];
    if (isShellSpace(c)) {
      if (inWord) {
        words.push_back(std::move(word));
        word.clear();
        inWord = false;
      }
      ++i;
    } else if (c == '\\') {
      if (i + 1 >= n) {
        return RenderError{"spec.command", "ends with a backslash that escapes nothing: " + command,
                           ""};
      }
      word += command[i + 1];
      inWord = true;
      i += 2;
    } else if (c == '\'' || c == '"') {
      const char quote = c;
      const std::size_t opened = i;
      inWord = true;
      ++i;
      bool closed = false;
      while (i < n) {
        const char q = command[i];
        if (q == quote) {
          closed = true;
          ++i;
          break;
        }
        // Inside double quotes shlex honours only \" and \\; any other backslash is literal.
        if (quote == '"' && q == '\\' && i + 1 < n &&
            (command[i + 1] == '"' || command[i + 1] == '\\')) {
          word += command[i + 1];
          i += 2;
          continue;
        }
        word += q;
        ++i;
      }
      if (!closed) {
        return RenderError{"spec.command",
                           std::string("unbalanced quote: the ") + quote + " at character " +
                               std::to_string(opened + 1) + " is never closed in: " + command,
                           ""};
      }
    } else {
      word += c;
      inWord = true;
      ++i;
    }
  }
  if (inWord) words.push_back(std::move(word));
  return words;
}

}  // namespace controllers::flowrun
