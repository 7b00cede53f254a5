#pragma once
// Splits a command line into words the way the Prefect worker does (Python's shlex.split, POSIX
// mode), which follows the shell's quoting: whitespace separates words; '...' is literal;
// "..." keeps spaces and only \" and \\ are escapes inside it; a backslash outside quotes escapes
// the next character; adjacent quoted and unquoted parts join into one word. No expansion,
// globbing or comments: the words go to the container's args as they are.
#include <string>
#include <variant>
#include <vector>

#include "controllers/flowrun/job_renderer.h"

namespace controllers::flowrun {

// An unbalanced quote or a trailing backslash is an error with path "spec.command".
std::variant<std::vector<std::string>, RenderError> splitCommand(const std::string& command);

}  // namespace controllers::flowrun
