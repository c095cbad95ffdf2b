#include "gpumod/util/strings.hpp"

#include <gtest/gtest.h>

#include "gpumod/util/ids.hpp"

namespace gpumod::util {
namespace {

TEST(Strings, ParseIntAcceptsRangeAndRejectsJunk) {
  EXPECT_EQ(parse_int("42", 0, 100, "n").value(), 42);
  EXPECT_EQ(parse_int(" 7 ", 0, 100, "n").value(), 7);
  EXPECT_FALSE(parse_int("4x2", 0, 100, "n").has_value());
  EXPECT_FALSE(parse_int("", 0, 100, "n").has_value());
  const auto r = parse_int("101", 0, 100, "context");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(r.error().message.find("context"), std::string::npos);
}

TEST(Strings, DidYouMeanFindsCloseWordsOnly) {
  const std::vector<std::string> cands{"status", "simulate", "service"};
  EXPECT_EQ(did_you_mean("stauts", cands), " (did you mean 'status'?)");
  EXPECT_EQ(did_you_mean("zzzzzzzz", cands), "");
}

TEST(Strings, GroupThousands) {
  EXPECT_EQ(group_thousands(24564), "24,564");
  EXPECT_EQ(group_thousands(-2936), "-2,936");
  EXPECT_EQ(group_thousands(512), "512");
  EXPECT_EQ(group_thousands(1000000), "1,000,000");
}

TEST(Ids, ValidatesThePresetIdPattern) {
  EXPECT_TRUE(is_valid_id("nemotron-3-nano"));
  EXPECT_TRUE(is_valid_id("A_1"));
  EXPECT_FALSE(is_valid_id(""));
  EXPECT_FALSE(is_valid_id("-x"));
  EXPECT_FALSE(is_valid_id("a/b"));
  EXPECT_FALSE(is_valid_id("a;rm"));
  EXPECT_FALSE(is_valid_id(std::string(65, 'a')));
  EXPECT_TRUE(is_valid_id(std::string(64, 'a')));
}

}  // namespace
}  // namespace gpumod::util
