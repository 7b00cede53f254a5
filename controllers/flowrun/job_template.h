#pragma once
// The pieces of Prefect's templating (prefect/utilities/templating.py) and of base job template
// handling that the Job renderer builds on: placeholders, apply-values, a small JSON-schema check
// of variable values, and parsing a template from JSON or YAML text. Pure functions, no throws.
#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "controllers/flowrun/job_renderer.h"

namespace controllers::flowrun::templating {

enum class PlaceholderKind {
  Standard,       // {{ name }}, {{ name.field }}, {{ name[0] }}
  BlockDocument,  // {{ prefect.blocks.type.name }}: needs the Prefect API
  Variable,       // {{ prefect.variables.name }}: needs the Prefect API
  EnvVar,         // {{ $NAME }}: the worker's own environment
};

struct Placeholder {
  std::string fullMatch;  // "{{ memory }}"
  std::string name;       // "memory"
  PlaceholderKind kind = PlaceholderKind::Standard;
};

// All placeholders in `text`, in order of appearance, duplicates removed. Same grammar as
// Prefect: "{{", optional whitespace, a name of [A-Za-z0-9_.\-[\]$], optional whitespace, "}}".
std::vector<Placeholder> findPlaceholders(const std::string& text);

// The variable a placeholder name refers to: "memory" for "memory", "a" for "a.b[0]".
std::string rootName(const std::string& placeholderName);

// Looks up "a.b[0]" in `values` (Prefect's get_from_dict). nullopt when any step is missing.
std::optional<nlohmann::json> lookup(const nlohmann::json& values, const std::string& name);

// How an embedded placeholder value is written into text: strings as they are, numbers as
// numbers, booleans True/False and null None (like Python's str(), as Prefect does), objects and
// arrays as compact JSON.
std::string toText(const nlohmann::json& value);

// Prefect's apply_values: a whole-string placeholder takes the value with its type; embedded
// ones are replaced by their text; an unset whole-string placeholder removes its key (or list
// item), an unset embedded one becomes "". `isKnown` says whether a root variable name is
// declared; a placeholder to an undeclared variable, or one that needs the Prefect API or the
// worker's environment, is an error naming `path` (the JSON path of the string).
// Returns the rendered value, or nullopt for "unset".
std::variant<std::optional<nlohmann::json>, RenderError> applyValues(
    const nlohmann::json& tmpl, const nlohmann::json& values,
    const std::function<bool(const std::string&)>& isKnown, const std::string& path,
    const std::string& origin);

// Where a value breaks its schema: `path` is relative to the value ("" for the value itself,
// "FOO" or "[0]" below it), `message` is for a person.
struct SchemaViolation {
  std::string path;
  std::string message;  // "must be of type integer, got string \"lots\""
};

// Checks `value` against a variable's JSON schema: type, enum, const, anyOf/oneOf/allOf, local
// $ref (#/definitions, #/$defs), properties, additionalProperties, items, required,
// minimum/maximum, minLength/maxLength. Other keywords (pattern, format) are not checked.
std::optional<SchemaViolation> checkAgainstSchema(const nlohmann::json& value,
                                                  const nlohmann::json& schema,
                                                  const nlohmann::json& rootSchema);

// Checks the shape of a base job template: an object with job_configuration (an object holding
// job_manifest, an object) and variables (an object, optional; its properties an object of
// objects). Error paths are inside the template document; origin is copied into the error.
std::optional<RenderError> checkTemplateShape(const nlohmann::json& tmpl,
                                              const std::string& origin);

// JSON text, or YAML (1.2 core schema scalars) when the first non-blank character is not '{'.
std::variant<nlohmann::json, RenderError> parseDocument(const std::string& text,
                                                        const std::string& origin);

// "a.b[0].c" path building, quoting keys that are not plain identifiers: a["x.y/z"].
std::string joinPath(const std::string& base, const std::string& key);
std::string indexPath(const std::string& base, std::size_t index);

// A short description of a JSON value's type for messages: string "lots", integer 3, object.
std::string describeValue(const nlohmann::json& value);

}  // namespace controllers::flowrun::templating
