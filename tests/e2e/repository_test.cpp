// The repository explains itself and stands alone: every weak-spot tag (W1..W30) that code, tests
// or docs cite is defined in docs/weak-spots.md, every schema in docs/schemas/ is valid JSON that
// the validator accepts, and no test or script reads from outside the clone without skipping
// when it is absent.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "support/gpumod_runner.hpp"
#include "support/json_schema.hpp"

namespace gpumod::testing {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<fs::path> files_under(const std::vector<std::string>& dirs, const std::set<std::string>& extensions) {
  std::vector<fs::path> out;
  for (const auto& d : dirs) {
    const fs::path root = source_dir() / d;
    if (!fs::is_directory(root)) continue;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      if (e.is_regular_file() && extensions.contains(e.path().extension().string())) out.push_back(e.path());
    }
  }
  return out;
}

TEST(Repository, EveryWeakSpotTagIsDefinedInTheDocs) {
  const std::string defs = slurp(source_dir() / "docs" / "weak-spots.md");
  ASSERT_FALSE(defs.empty()) << "docs/weak-spots.md is missing";
  const std::regex tag(R"(\bW([0-9]{1,2})\b)");
  std::set<int> cited;
  for (const auto& f : files_under({"src", "tests", "docs", "bench"}, {".cpp", ".hpp", ".md", ".sh"})) {
    const std::string text = slurp(f);
    for (auto it = std::sregex_iterator(text.begin(), text.end(), tag); it != std::sregex_iterator(); ++it) {
      cited.insert(std::stoi((*it)[1].str()));
    }
  }
  EXPECT_FALSE(cited.empty());
  for (const int w : cited) {
    EXPECT_NE(defs.find("| W" + std::to_string(w) + " |"), std::string::npos) << "W" << w << " is cited but not defined";
  }
}

TEST(Repository, EverySchemaLoadsAndUsesOnlyCheckedKeywords) {
  int seen = 0;
  for (const auto& e : fs::directory_iterator(test_support::schema_dir())) {
    if (!e.path().string().ends_with(".schema.json")) continue;
    ++seen;
    SCOPED_TRACE(e.path().filename().string());
    const auto schema = nlohmann::json::parse(slurp(e.path()), nullptr, false);
    ASSERT_FALSE(schema.is_discarded());
    // Validating anything walks the schema's keywords; an unsupported one is reported.
    for (const auto& v : test_support::validate_json(nlohmann::json::object(), schema, test_support::schema_dir())) {
      EXPECT_EQ(v.find("not supported by this validator"), std::string::npos) << v;
    }
  }
  EXPECT_GE(seen, 10);
}

// A test or script that reads ../shared (beside the clone, present in CI only) must skip when it
// is absent: each file that names it also says GTEST_SKIP or falls back.
TEST(Repository, NothingNeedsAFolderBesideTheClone) {
  for (const auto& f : files_under({"tests", "bench"}, {".cpp", ".hpp", ".sh", ".txt"})) {
    if (f.filename() == "repository_test.cpp") continue;
    if (f.string().find("/results/") != std::string::npos) continue;  // recorded output, not code
    const std::string text = slurp(f);
    if (text.find("../shared") == std::string::npos && text.find("SHARED_TESTDATA") == std::string::npos) continue;
    SCOPED_TRACE(f.string());
    const bool skips = text.find("GTEST_SKIP") != std::string::npos;
    const bool falls_back = text.find("vocab_files.sh") != std::string::npos || f.filename() == "vocab_files.sh";
    EXPECT_TRUE(skips || falls_back || f.filename() == "CMakeLists.txt");
  }
}

}  // namespace
}  // namespace gpumod::testing
