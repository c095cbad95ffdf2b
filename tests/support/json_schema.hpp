// A small JSON Schema validator for the golden tests of the CLI's --json output
// (docs/schemas/*.schema.json, docs/cli-contract.md). It covers the keywords those schemas use:
// type (one or a list; "integer" is a number without fraction), properties, required,
// additionalProperties (false or a schema), items, enum, const, minimum, minItems, pattern-free
// strings, anyOf, oneOf, $ref to "#/$defs/<name>" (within the same schema) and to
// "<file>.schema.json" (another file in the same folder). Unknown keywords are an error, so a
// schema cannot silently ask for more than is checked.
// Thread-safety: one validator per thread.
#pragma once

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace gpumod::test_support {

// Every violation, as "<json pointer>: <what>"; empty when `doc` is valid.
std::vector<std::string> validate_json(const nlohmann::json& doc, const nlohmann::json& schema,
                                       const std::filesystem::path& schema_dir = {});

// Loads docs/schemas/<name>.schema.json of the source tree.
nlohmann::json load_schema(const std::string& name);
std::filesystem::path schema_dir();

// "" when `doc` is valid against docs/schemas/<name>.schema.json, else the violations, one a line.
std::string schema_violations(const nlohmann::json& doc, const std::string& name);

// A command's stdout as one JSON document valid against docs/schemas/<name>.schema.json; a
// GoogleTest failure (showing `out` and `err`) when it is not. Null when stdout does not parse.
nlohmann::json expect_one_document(const std::string& out, const std::string& err, const std::string& name);

}  // namespace gpumod::test_support
