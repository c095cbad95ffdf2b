// Result<T>: the return type of every fallible call below the app layer.
// An Error carries one code from a small closed set (the CLI maps each code to an exit code)
// and a message for people that says what failed and where.
// Thread-safety: plain values; safe to copy and move between threads.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace gpumod::util {

enum class ErrorCode {
  invalid_argument,   // bad input from outside: an id, a number, a path
  config_invalid,     // configuration files that do not validate
  not_found,          // no such service, mode, model, file
  conflict,           // the request contradicts the current state (port taken, busy)
  unavailable,        // a needed system is not there (no GPU, daemon down, server unreachable)
  timeout,            // a deadline passed
  io,                 // reading or writing a file or socket failed
  corrupt,            // data on disk or on the wire is malformed (database, GGUF, JSON)
  insufficient_vram,  // it does not fit
  failed,             // an operation ran and did not succeed (a server crashed, a load failed)
  internal,           // a bug in gpumod
};

std::string_view to_string(ErrorCode code);

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
};

template <class T>
using Result = std::expected<T, Error>;

// Status is a Result with no value: success, or an Error.
using Status = std::expected<void, Error>;

inline std::unexpected<Error> fail(ErrorCode code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}

// Prefixes the message of an error with context ("loading presets/x.yaml: ...").
inline Error with_context(Error e, std::string_view context) {
  e.message = std::string(context) + ": " + e.message;
  return e;
}

}  // namespace gpumod::util
