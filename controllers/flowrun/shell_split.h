#pragma once
// Splits a command line into words the way a POSIX shell does (Python's shlex.split in POSIX
// mode, which the Prefect worker uses): whitespace separates words; '...' is literal;
// "..." keeps spaces and honours \" \\ \$ \` and \<newline>; a backslash outside quotes
// escapes the next character. No expansion, globbing or comments.
#include <string>
#include <variant>
#include <vector>

#include "controllers/flowrun/job_renderer.h"

namespace controllers::flowrun {

// An unbalanced quote or a trailing backslash is an error with path "spec.command".
std::variant<std::vector<std::string>, RenderError> splitCommand(const std::string& command);

}  // namespace controllers::flowrun
