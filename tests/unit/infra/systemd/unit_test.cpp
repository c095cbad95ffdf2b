#include "gpumod/infra/systemd/unit.hpp"

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "gpumod/util/subprocess.hpp"

namespace gpumod::infra::systemd {
namespace {

using namespace std::chrono_literals;
using util::ErrorCode;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "gpumod-systemd-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) m_path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!m_path.empty()) std::filesystem::remove_all(m_path, ec);
  }
  const std::filesystem::path& path() const { return m_path; }

 private:
  std::filesystem::path m_path;
};

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

UnitSpec llama_spec() {
  UnitSpec spec;
  spec.unit_name = "gpumod-qwen3-coder.service";
  spec.description = "gpumod: llama.cpp qwen3-coder (100% local)";
  spec.argv = {"/opt/llama.cpp/bin/llama-server",
               "--model",
               "/models/Qwen 3/qwen3-coder-30b.gguf",
               "--port",
               "7070",
               "--host",
               "127.0.0.1",
               "--alias",
               "say \"hi\"",
               "--chat-template-kwargs",
               R"({"price":"$5","pct":"50%"})",
               R"(C:\models)",
               ";",
               ""};
  spec.env = {{"HF_HOME", "/home/u/.cache/hf $HOME 100%"}, {"CUDA_VISIBLE_DEVICES", "0"}};
  spec.working_dir = "/opt/models";
  spec.stop_timeout = 30s;
  spec.restart = "on-failure";
  spec.restart_sec = 30s;
  return spec;
}

TEST(SystemdUnit, RendersLlamaServerUnitGolden) {
  auto text = render_unit(llama_spec());
  ASSERT_TRUE(text.has_value()) << text.error().message;
  const std::string expected =
      "# Written by gpumod; edits are overwritten on the next start.\n"
      "[Unit]\n"
      "Description=gpumod: llama.cpp qwen3-coder (100%% local)\n"
      "\n"
      "[Service]\n"
      "Type=exec\n"
      R"(ExecStart="/opt/llama.cpp/bin/llama-server" "--model" "/models/Qwen 3/qwen3-coder-30b.gguf" )"
      R"("--port" "7070" "--host" "127.0.0.1" "--alias" "say \"hi\"" "--chat-template-kwargs" )"
      R"("{\"price\":\"$$5\",\"pct\":\"50%%\"}" "C:\\models" \; "")"
      "\n"
      "Environment=\"CUDA_VISIBLE_DEVICES=0\"\n"
      "Environment=\"HF_HOME=/home/u/.cache/hf $HOME 100%%\"\n"
      "WorkingDirectory=/opt/models\n"
      "KillMode=control-group\n"
      "TimeoutStopSec=30\n"
      "Restart=on-failure\n"
      "RestartSec=30\n"
      "\n"
      "[Install]\n"
      "WantedBy=default.target\n";
  EXPECT_EQ(*text, expected);
}

TEST(SystemdUnit, QuotesControlCharacters) {
  EXPECT_EQ(quote_exec_arg("a\nb\tc\x01"), "\"a\\nb\\tc\\x01\"");
  EXPECT_EQ(quote_exec_arg("plain"), "\"plain\"");
  EXPECT_EQ(quote_exec_arg("$$"), "\"$$$$\"");
}

TEST(SystemdUnit, OmitsWorkingDirectoryWhenEmptyAndDefaultsRestartToNo) {
  UnitSpec spec;
  spec.unit_name = "gpumod-x.service";
  spec.description = "x";
  spec.argv = {"/usr/bin/true"};
  auto text = render_unit(spec);
  ASSERT_TRUE(text.has_value()) << text.error().message;
  EXPECT_EQ(text->find("WorkingDirectory"), std::string::npos);
  EXPECT_EQ(text->find("Environment"), std::string::npos);
  EXPECT_NE(text->find("\nRestart=no\n"), std::string::npos);
  EXPECT_NE(text->find("\nExecStart=\"/usr/bin/true\"\n"), std::string::npos);
}

TEST(SystemdUnit, WantsAUnitStartedFirst) {
  UnitSpec spec;
  spec.unit_name = "gpumod-mcp.service";
  spec.description = "x";
  spec.argv = {"/usr/bin/true"};
  spec.wants = {"gpumod.service"};
  auto text = render_unit(spec);
  ASSERT_TRUE(text.has_value()) << text.error().message;
  EXPECT_NE(text->find("[Unit]\nDescription=x\nWants=gpumod.service\nAfter=gpumod.service\n"), std::string::npos) << *text;
  spec.wants = {"gpumod.service\nExecStartPre=/bin/evil"};
  EXPECT_FALSE(render_unit(spec).has_value()) << "a unit name is validated, no line can be smuggled in";
}

TEST(SystemdUnit, RejectsBadSpecsWithTheFieldNamed) {
  const auto expect_bad = [](UnitSpec spec, std::string_view needle) {
    auto r = render_unit(spec);
    ASSERT_FALSE(r.has_value()) << needle;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_argument);
    EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
  };
  auto s = llama_spec();
  s.argv.clear();
  expect_bad(s, "empty argv");
  s = llama_spec();
  s.argv[0] = "llama-server";
  expect_bad(s, "not an absolute path");
  s = llama_spec();
  s.env["BAD-NAME"] = "1";
  expect_bad(s, "BAD-NAME");
  s = llama_spec();
  s.env["1X"] = "1";
  expect_bad(s, "1X");
  s = llama_spec();
  s.working_dir = "relative/dir";
  expect_bad(s, "relative/dir");
  s = llama_spec();
  s.restart = "always";
  expect_bad(s, "always");
  s = llama_spec();
  s.description = "two\nlines";
  expect_bad(s, "line break");
  s = llama_spec();
  s.unit_name = "gpumod-x";
  expect_bad(s, "gpumod-x");
}

TEST(SystemdUnit, ValidatesUnitNames) {
  for (const char* good : {"gpumod-qwen3.service", "gpumod@7070.service", "a_b:c.d-e.service"}) {
    EXPECT_TRUE(validate_unit_name(good).has_value()) << good;
  }
  for (const char* bad : {"", ".service", "gpumod", "gpumod.socket", "gpumod x.service",
                          "gpumod/../x.service", "-gpumod.service", "gpumod;rm.service",
                          "gpumod\n.service", "gpumod$.service"}) {
    auto r = validate_unit_name(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_argument);
  }
  EXPECT_FALSE(validate_unit_name(std::string(250, 'a') + ".service").has_value());
}

TEST(SystemdUnit, InstallWritesOnlyWhenChangedAndLeavesNoTempFile) {
  TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const auto dir = tmp.path() / "config" / "systemd" / "user";  // created on demand
  auto first = install_unit(dir, "gpumod-a.service", "one\n");
  ASSERT_TRUE(first.has_value()) << first.error().message;
  EXPECT_TRUE(*first);
  EXPECT_EQ(read_file(dir / "gpumod-a.service"), "one\n");
  struct stat st {};
  ASSERT_EQ(::stat((dir / "gpumod-a.service").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);

  auto same = install_unit(dir, "gpumod-a.service", "one\n");
  ASSERT_TRUE(same.has_value());
  EXPECT_FALSE(*same);

  auto changed = install_unit(dir, "gpumod-a.service", "two\n");
  ASSERT_TRUE(changed.has_value());
  EXPECT_TRUE(*changed);
  EXPECT_EQ(read_file(dir / "gpumod-a.service"), "two\n");

  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  ASSERT_EQ(names.size(), 1u);
  EXPECT_EQ(names[0], "gpumod-a.service");
}

TEST(SystemdUnit, InstallRejectsBadNamesAndReportsIoErrors) {
  TempDir tmp;
  auto bad = install_unit(tmp.path(), "../escape.service", "x");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, ErrorCode::invalid_argument);
  EXPECT_FALSE(std::filesystem::exists(tmp.path().parent_path() / "escape.service"));

  // A regular file where the directory should be.
  const auto blocker = tmp.path() / "file";
  std::ofstream(blocker) << "x";
  auto io = install_unit(blocker / "user", "gpumod-a.service", "x");
  ASSERT_FALSE(io.has_value());
  EXPECT_EQ(io.error().code, ErrorCode::io);
  EXPECT_NE(io.error().message.find(blocker.string()), std::string::npos) << io.error().message;
}

TEST(SystemdUnit, RenderedUnitPassesSystemdAnalyzeVerify) {
  const std::string analyze = util::find_program("systemd-analyze");
  if (analyze.empty()) GTEST_SKIP() << "systemd-analyze is not installed";
  TempDir tmp;
  auto spec = llama_spec();
  spec.argv[0] = "/bin/sh";  // verify checks that the program exists
  auto text = render_unit(spec);
  ASSERT_TRUE(text.has_value());
  auto installed = install_unit(tmp.path(), spec.unit_name, *text);
  ASSERT_TRUE(installed.has_value()) << installed.error().message;
  util::CaptureOptions options;
  options.deadline = 20s;
  auto r = util::run_capture({analyze, "verify", "--man=no", (tmp.path() / spec.unit_name).string()},
                             options);
  if (!r) GTEST_SKIP() << "systemd-analyze could not run: " << r.error().message;
  if (r->exit_code != 0 && r->err.find("Failed to initialize manager") != std::string::npos) {
    GTEST_SKIP() << "systemd-analyze cannot run here: " << r->err;
  }
  EXPECT_EQ(r->exit_code, 0) << r->err;
  // Warnings ("ignoring") do not change the exit status; a clean unit has none.
  EXPECT_EQ(r->err, "") << r->err;
}

}  // namespace
}  // namespace gpumod::infra::systemd
