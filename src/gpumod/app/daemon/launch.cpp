#include "gpumod/app/daemon/launch.hpp"

#include <cstdlib>
#include <filesystem>

#include "gpumod/util/subprocess.hpp"

namespace gpumod::app {

namespace fs = std::filesystem;

namespace {
std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string mock_server_path() {
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return "";
  const auto mock = exe.parent_path() / "gpumod-mock-server";
  return fs::exists(mock, ec) ? mock.string() : "";
}
}  // namespace

ResolvedLaunch resolve_launch(const core::Config& config) {
  ResolvedLaunch r;
  const bool allow_mock = config.bundled_example || env("GPUMOD_USE_MOCK_SERVERS") == "1";
  const std::string mock = allow_mock ? mock_server_path() : "";
  if (auto b = env("GPUMOD_LLAMA_SERVER_BIN"); !b.empty()) {
    r.options.llama_server_bin = b;
  } else if (!util::find_program("llama-server").empty()) {
    r.options.llama_server_bin = "llama-server";
  } else if (!mock.empty()) {
    r.options.llama_server_bin = mock;
    r.llama_is_mock = true;
  }
  if (auto b = env("GPUMOD_VLLM_BIN"); !b.empty()) {
    r.options.vllm_bin = b;
  } else if (!util::find_program("vllm").empty()) {
    r.options.vllm_bin = "vllm";
  } else if (!mock.empty()) {
    r.options.vllm_bin = mock;
    r.vllm_is_mock = true;
  }
  return r;
}

drivers::LaunchOptions resolve_launch_options(const core::Config& config) { return resolve_launch(config).options; }

}  // namespace gpumod::app
