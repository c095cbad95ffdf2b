// gpumod's MCP tools: each has a name, an input schema, an output schema, annotations
// (readOnlyHint on reads, destructiveHint on switch/stop/sleep) and a handler that asks the
// Backend (the daemon API, or a read-only CLI command with --json) and returns the structured
// result plus a text rendering for people. Internal to app/mcp.
// Thread-safety: the table is immutable; handlers may run at once.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gpumod/app/mcp/backend.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::app::mcp {

struct ToolOutput {
  nlohmann::json structured;  // an object, matching the tool's outputSchema
  std::string text;           // the same for people (or the JSON)
};

struct Tool {
  std::string name;
  std::string title;
  std::string description;
  nlohmann::json input_schema;
  nlohmann::json output_schema;
  bool read_only = true;
  bool destructive = false;
  bool idempotent = true;
  std::function<util::Result<ToolOutput>(Backend&, const nlohmann::json& args)> run;
};

const std::vector<Tool>& tools();
const Tool* find_tool(std::string_view name);
// The tools/list entry of a tool.
nlohmann::json tool_descriptor(const Tool& tool);

}  // namespace gpumod::app::mcp
