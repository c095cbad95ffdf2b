// Test helper: a configuration root in a fresh temporary folder, removed at the end of the test.
// Thread-safety: one per test.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <unistd.h>

#include "gpumod/infra/config/expand.hpp"

namespace gpumod::infra::config::testing_support {

class TempConfig {
 public:
  TempConfig() {
    static std::atomic<int> counter{0};
    m_root = std::filesystem::path(::testing::TempDir()) /
             ("gpumod-config-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::remove_all(m_root);
    std::filesystem::create_directories(m_root);
  }
  ~TempConfig() {
    std::error_code ec;
    std::filesystem::remove_all(m_root, ec);
  }
  TempConfig(const TempConfig&) = delete;
  TempConfig& operator=(const TempConfig&) = delete;

  const std::filesystem::path& root() const { return m_root; }

  // Writes `text` to root/relative, creating folders.
  void write(const std::string& relative, const std::string& text) const {
    const auto path = m_root / relative;
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  }

 private:
  std::filesystem::path m_root;
};

// An environment made of the given variables only.
inline EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace gpumod::infra::config::testing_support
