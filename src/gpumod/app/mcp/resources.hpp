// gpumod's MCP resources, each Markdown built from the same answers as the tools (no filesystem
// paths in them): gpumod://help, config, status, events, modes, modes/{id}, services,
// services/{id}, models, models/{id}. Internal to app/mcp.
// Thread-safety: pure functions over the Backend.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "gpumod/app/mcp/backend.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::app::mcp {

// The resources/list "resources" array: the fixed resources plus one per configured mode,
// service and registered model (asked from the backend; those it cannot list are left out).
nlohmann::json resource_list(Backend& backend);
// The resources/templates/list "resourceTemplates" array.
nlohmann::json resource_templates();
// The Markdown of one resource. Errors: not_found (unknown URI or id), invalid_argument (an id
// that fails validation), and the backend's errors.
util::Result<std::string> read_resource(Backend& backend, const std::string& uri);

}  // namespace gpumod::app::mcp
