// The CLI's one-document rule for --json (docs/cli-contract.md): with --json, stdout carries
// exactly one JSON document, the command's result or, when the command failed before printing
// one, {"error": {"code", "message"}}. main counts what a command wrote to stdout so the error
// document is never a second one. Streaming commands (events -f --json, JSON Lines) are the
// documented exception.
// Thread-safety: CountingStreambuf is used by one thread (the command's).
#pragma once

#include <cstddef>
#include <streambuf>
#include <string>

#include "gpumod/util/result.hpp"

namespace gpumod::app {

// True when argv asks for JSON output (a `--json` word before any `--`).
bool wants_json(int argc, char** argv);

// The error document, one line: {"error":{"code":"not_found","message":"..."}}.
std::string error_document(const util::Error& error);

// Forwards every byte to `target` and counts them.
class CountingStreambuf : public std::streambuf {
 public:
  explicit CountingStreambuf(std::streambuf* target) : m_target(target) {}
  std::size_t written() const { return m_written; }

 protected:
  int_type overflow(int_type ch) override;
  std::streamsize xsputn(const char* s, std::streamsize n) override;
  int sync() override;

 private:
  std::streambuf* m_target;
  std::size_t m_written = 0;
};

}  // namespace gpumod::app
