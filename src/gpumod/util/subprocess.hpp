// Runs a short-lived program to completion with a deadline (nvidia-smi, systemctl, journalctl,
// systemd-analyze): argv only, never a shell; stdout and stderr captured up to a cap; on the
// deadline the child's whole process group is killed (SIGKILL) and reaped.
// Thread-safety: run_capture may be called from several threads at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "gpumod/util/result.hpp"

namespace gpumod::util {

struct CaptureOptions {
  std::chrono::milliseconds deadline{5000};
  std::size_t max_output_bytes = 4 * 1024 * 1024;  // per stream; the rest is discarded
  std::map<std::string, std::string> env_overrides;  // added to (or replacing in) the environment
};

struct CaptureResult {
  int exit_code = -1;   // the exit status, or 128 + signal when killed by a signal
  std::string out;      // stdout
  std::string err;      // stderr
};

// Errors: not_found (the program does not exist / is not executable), timeout (the deadline
// passed; the child was killed), io (pipe or fork failure), invalid_argument (empty argv).
// A non-zero exit status is NOT an error: check CaptureResult::exit_code.
Result<CaptureResult> run_capture(const std::vector<std::string>& argv,
                                  const CaptureOptions& options = {});

// Looks up a program on PATH (or checks an absolute/relative path); empty if not found.
std::string find_program(const std::string& name);
// The same against a given PATH value (a child's environment rather than ours).
std::string find_program_in(const std::string& name, std::string_view path_var);

}  // namespace gpumod::util
