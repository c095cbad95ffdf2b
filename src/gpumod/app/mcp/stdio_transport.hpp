// The MCP stdio transport: newline-delimited JSON-RPC messages on a file descriptor in, one
// response line per request out (stdout carries MCP only; gpumod's notes go to stderr).
// Requests run on their own threads (a mode switch does not hold up a ping), at most
// k_max_in_flight at once; answers are written whole, one line each, in the order they finish.
// A line longer than k_max_message_bytes is dropped and answered -32600.
// Before each message `changed()` is asked (the configuration's fingerprint moved since the last
// look); when it says yes, notifications/tools/list_changed and resources/list_changed go out
// first.
// Thread-safety: run() blocks until the input ends, then waits for the requests in flight.
#pragma once

#include <functional>

#include "gpumod/app/mcp/server.hpp"

namespace gpumod::app::mcp {

inline constexpr std::size_t k_max_in_flight = 16;

void run_stdio(Server& server, int in_fd, int out_fd, const std::function<bool()>& changed);

}  // namespace gpumod::app::mcp
