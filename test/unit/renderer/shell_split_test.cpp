// Command splitting: the same words as Python's shlex.split (what the Prefect worker uses).
#include <catch2/catch.hpp>

#include "controllers/flowrun/shell_split.h"

using controllers::flowrun::RenderError;
using controllers::flowrun::splitCommand;
using Words = std::vector<std::string>;

namespace {
Words words(const std::string& command) {
  auto r = splitCommand(command);
  REQUIRE(std::holds_alternative<Words>(r));
  return std::get<Words>(r);
}
RenderError error(const std::string& command) {
  auto r = splitCommand(command);
  REQUIRE(std::holds_alternative<RenderError>(r));
  return std::get<RenderError>(r);
}
}  // namespace

TEST_CASE("splitCommand: whitespace separates words, runs of it count once") {
  CHECK(words("prefect flow-run execute") == Words{"prefect", "flow-run", "execute"});
  CHECK(words("  python\t-m \n prefect.engine  ") == Words{"python", "-m", "prefect.engine"});
  CHECK(words("").empty());
  CHECK(words("   ").empty());
}

TEST_CASE("splitCommand: quotes keep spaces and join with adjacent text") {
  CHECK(words("sh -c 'echo hello world'") == Words{"sh", "-c", "echo hello world"});
  CHECK(words(R"(echo "a b" c)") == Words{"echo", "a b", "c"});
  CHECK(words(R"(--name="my flow"run)") == Words{"--name=my flowrun"});
  CHECK(words("a '' b") == Words{"a", "", "b"});
  CHECK(words(R"('say "hi"')") == Words{R"(say "hi")"});
  CHECK(words(R"("it's")") == Words{"it's"});
}

TEST_CASE("splitCommand: escapes outside and inside double quotes, literal in single quotes") {
  CHECK(words(R"(a\ b c)") == Words{"a b", "c"});
  CHECK(words(R"(echo \"x\")") == Words{"echo", R"("x")"});
  CHECK(words(R"("a \"quoted\" \\ word")") == Words{R"(a "quoted" \ word)"});
  // shlex keeps a backslash before any other character inside double quotes.
  CHECK(words(R"("cost \$5")") == Words{R"(cost \$5)"});
  CHECK(words(R"('no \escapes\ here')") == Words{R"(no \escapes\ here)"});
}

TEST_CASE("splitCommand: an unbalanced quote is an error naming spec.command") {
  auto e = error(R"(python -c "print(1))");
  CHECK(e.path == "spec.command");
  CHECK_THAT(e.message, Catch::Contains("unbalanced quote"));
  CHECK_THAT(e.message, Catch::Contains("character 11"));
  CHECK(e.describe().rfind("spec.command: unbalanced quote", 0) == 0);
  CHECK(error("echo 'oops").path == "spec.command");
  CHECK_THAT(error("trailing \\").message, Catch::Contains("backslash"));
}
