// `gpumod mcp install` through the real binary: the systemd user unit for the HTTP transport.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/gpumod_runner.hpp"

namespace gpumod::testing {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(McpCli, InstallWritesAUserUnitForTheHttpTransport) {
  GpumodRunner runner;
  const auto cfg = example_config_dir().string();
  auto r = runner.run({"--config", cfg, "mcp", "install", "--listen", "127.0.0.1:7991"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const fs::path unit = runner.home() / "config" / "systemd" / "user" / "gpumod-mcp.service";
  const std::string text = read(unit);
  EXPECT_NE(text.find("\" \"mcp\" \"--listen\" \"127.0.0.1:7991\" \"--no-autostart\"\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\"--config\" \"" + cfg + "\""), std::string::npos) << text;
  EXPECT_NE(text.find("Wants=gpumod.service\nAfter=gpumod.service\n"), std::string::npos) << text;
  EXPECT_NE(r.out.find("http://127.0.0.1:7991/mcp"), std::string::npos) << r.out;
  auto again = runner.run({"--config", cfg, "mcp", "install", "--listen", "127.0.0.1:7991"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_NE(again.out.find("unchanged"), std::string::npos) << again.out;
  auto bad = runner.run({"--config", cfg, "mcp", "install", "--listen", "0.0.0.0:7991"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("not a loopback address"), std::string::npos) << bad.err;
}

TEST(McpCli, ListenOnANonLoopbackAddressNeedsAnApiKey) {
  GpumodRunner runner;
  auto r = runner.run({"--config", example_config_dir().string(), "mcp", "--listen", "0.0.0.0:7992"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("GPUMOD_MCP_API_KEYS"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace gpumod::testing
