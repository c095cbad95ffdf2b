// Runs the real gpumod binary for e2e tests in an isolated environment: its own temporary
// XDG_STATE_HOME, XDG_RUNTIME_DIR, XDG_CONFIG_HOME and simulated-GPU ledger, so tests never touch
// the user's state or each other. Also golden-file comparison (GPUMOD_UPDATE_GOLDEN=1 rewrites).
// Thread-safety: one runner per test.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace gpumod::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

class GpumodRunner {
 public:
  GpumodRunner();
  ~GpumodRunner();  // stops a daemon this runner started (and its services), removes the temp dir

  RunResult run(const std::vector<std::string>& args, int deadline_ms = 60000) const;
  const std::filesystem::path& home() const { return m_home; }
  std::filesystem::path state_dir() const { return m_home / "state"; }
  std::filesystem::path ledger_dir() const { return m_home / "simgpu"; }
  std::map<std::string, std::string>& env() { return m_env; }
  // Runs another gpumod file from now on (a copy: a "rebuilt" gpumod); empty = the build's.
  void set_binary(std::filesystem::path binary) { m_binary = std::move(binary); }

 private:
  std::filesystem::path m_home;
  std::map<std::string, std::string> m_env;
  std::filesystem::path m_binary;
};

std::filesystem::path source_dir();
std::filesystem::path example_config_dir();

// Compares `actual` with tests/golden/<name>; with GPUMOD_UPDATE_GOLDEN=1 writes it instead.
// Returns "" when equal, else a diff-like message.
std::string compare_golden(const std::string& name, const std::string& actual);

// Replaces every occurrence of `from` with `to`.
std::string replace_all(std::string text, const std::string& from, const std::string& to);

}  // namespace gpumod::testing
