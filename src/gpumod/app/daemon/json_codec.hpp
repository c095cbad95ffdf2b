// JSON forms of the engine's results, shared by the daemon (which sends them) and the CLI (which
// renders them for people). The wire format is described in docs/daemon-protocol.md.
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include "gpumod/engine/engine.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::infra::state {
struct RequestRecord;
}

namespace gpumod::app {

nlohmann::json to_json(const engine::StatusView& v);
nlohmann::json to_json(const engine::OpResult& r);
nlohmann::json to_json(const engine::SwitchResult& r);
// One request the OpenAI-compatible endpoint answered (`gpumod requests --json`, GET /v1/requests).
nlohmann::json to_json(const infra::state::RequestRecord& r);
nlohmann::json error_json(const util::Error& e);
// One request of the endpoint's ring (`gpumod requests --json`, GET /v1/requests).
nlohmann::json to_json(const infra::state::RequestRecord& r);

// HTTP status for an error code, and back.
int http_status_for(util::ErrorCode code);
util::ErrorCode error_code_from_string(std::string_view s);

// Text for people.
std::string render_status(const nlohmann::json& status);
std::string render_op(const nlohmann::json& op);
std::string render_switch(const nlohmann::json& sw);
// {"requests": [...]} as the table of `gpumod requests`.
std::string render_requests(const nlohmann::json& list);

}  // namespace gpumod::app
