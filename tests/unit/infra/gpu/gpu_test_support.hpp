// Test helpers for the infra/gpu tests: a temporary directory, fixture reading, fake programs,
// and a PATH override. Thread-safety: tests run one at a time; PathGuard changes the environment.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

namespace gpumod::infra::gpu::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    m_path = std::filesystem::temp_directory_path() /
             ("gpumod-gpu-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(m_path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
};

inline std::string read_fixture(const std::string& name) {
  std::ifstream in(std::string(GPUMOD_TESTDATA_DIR) + "/nvidia-smi/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

// A shell script at dir/name, executable.
inline std::filesystem::path write_script(const std::filesystem::path& dir,
                                          const std::string& name, const std::string& body) {
  const auto p = dir / name;
  write_file(p, "#!/bin/sh\n" + body);
  ::chmod(p.c_str(), 0755);
  return p;
}

// A fake nvidia-smi that checks its argv and prints gpu_csv / apps_csv.
inline std::filesystem::path write_fake_nvidia_smi(const std::filesystem::path& dir,
                                                   const std::string& gpu_csv,
                                                   const std::string& apps_csv) {
  write_file(dir / "gpu.csv", gpu_csv);
  write_file(dir / "apps.csv", apps_csv);
  const std::string d = dir.string();
  return write_script(
      dir, "nvidia-smi",
      "[ \"$2\" = --format=csv,noheader,nounits ] && [ $# -eq 2 ] || { echo \"bad args: $*\" >&2; "
      "exit 2; }\n"
      "case \"$1\" in\n"
      "  --query-gpu=index,uuid,name,memory.total,memory.used,memory.free,driver_version) "
      "exec cat '" + d + "/gpu.csv' ;;\n"
      "  --query-compute-apps=gpu_uuid,pid,used_memory,process_name) exec cat '" + d +
          "/apps.csv' ;;\n"
      "  *) echo \"bad query: $1\" >&2; exit 2 ;;\n"
      "esac\n");
}

// Sets PATH for the scope of the guard.
class PathGuard {
 public:
  explicit PathGuard(const std::string& path) {
    if (const char* old = std::getenv("PATH")) m_old = old, m_had = true;
    ::setenv("PATH", path.c_str(), 1);
  }
  ~PathGuard() {
    if (m_had) {
      ::setenv("PATH", m_old.c_str(), 1);
    } else {
      ::unsetenv("PATH");
    }
  }
  PathGuard(const PathGuard&) = delete;
  PathGuard& operator=(const PathGuard&) = delete;
  static std::string current() {
    const char* p = std::getenv("PATH");
    return p ? p : "";
  }

 private:
  std::string m_old;
  bool m_had = false;
};

}  // namespace gpumod::infra::gpu::testing
