// Test helper: `promtool check metrics` (Debian's prometheus package) on a Prometheus text
// exposition. promtool reads the exposition from its stdin, so the text is written to a file that
// becomes the child's stdin (posix_spawn file actions; no shell).
// Thread-safety: free functions; safe from any thread.
#pragma once

#include <optional>
#include <string>

namespace gpumod::test_support {

// The path of promtool, or "" when it is not installed (`make deps` installs it).
std::string promtool_path();

struct PromtoolResult {
  int exit_code = -1;
  std::string output;  // stdout + stderr: the problems promtool found
};

// Runs `promtool check metrics` on `exposition`; nullopt when promtool could not be run.
std::optional<PromtoolResult> promtool_check_metrics(const std::string& exposition);

}  // namespace gpumod::test_support
