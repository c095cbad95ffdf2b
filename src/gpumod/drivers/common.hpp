// Helpers shared by the drivers: reading typed unit_vars, extra_args, loopback checks, error
// bodies of servers, and timeouts for single HTTP calls inside a longer wait.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/core/service.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::drivers {

// "true/yes/on/1" -> true, "false/no/off/0" -> false, else nullopt (case-insensitive).
std::optional<bool> parse_bool(std::string_view text);

// The first present unit_vars key among `keys`.
std::optional<std::string> first_var(const core::Service& s, std::initializer_list<std::string_view> keys);

// A boolean unit_var; invalid_argument when present but not a boolean.
util::Result<std::optional<bool>> bool_var(const core::Service& s, std::string_view key);
// An integer unit_var in [min, max] (any of `keys`); invalid_argument when malformed.
util::Result<std::optional<std::int64_t>> int_var(const core::Service& s,
                                                  std::initializer_list<std::string_view> keys,
                                                  std::int64_t min, std::int64_t max);
// A word unit_var ([A-Za-z0-9._:/+-]+, not starting with '-'); invalid_argument otherwise.
util::Result<std::optional<std::string>> word_var(const core::Service& s,
                                                  std::initializer_list<std::string_view> keys);

// unit_vars.extra_args: a JSON list of strings, or a whitespace-separated string.
util::Result<std::vector<std::string>> extra_args(const core::Service& s);

bool is_loopback_address(std::string_view host);

// The port of a service that must have one (invalid_argument names the service).
util::Result<int> require_port(const core::Service& s);

// A server's error body in a line: the OpenAI {"error":{"message"}} or FastAPI {"detail"}
// message when there is one, else the body cut to 200 characters.
std::string error_text(std::string_view body);

// The timeout for one HTTP call when `left` remains of a longer wait (at least 1 ms).
std::chrono::milliseconds call_timeout(std::chrono::milliseconds left,
                                       std::chrono::milliseconds cap = std::chrono::milliseconds(2000));

// "'id' (driver, port P)" for messages.
std::string describe(const core::Service& s);

}  // namespace gpumod::drivers
