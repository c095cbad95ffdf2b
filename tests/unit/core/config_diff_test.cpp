#include "gpumod/core/config_diff.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace gpumod::core {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

Config base() {
  Config c;
  Service a;
  a.id = "a";
  a.port = 8001;
  a.vram_mib = 1000;
  Service b;
  b.id = "b";
  b.port = 8002;
  c.services = {a, b};
  Mode m;
  m.id = "m";
  m.services = {"a", "b"};
  c.modes = {m};
  return c;
}

TEST(ConfigDiff, SameValuesAreNoChangeEvenFromAnotherFileAndLine) {
  auto x = base();
  auto y = base();
  y.services[0].defined_at = {"other.yaml", 3, 1};
  EXPECT_TRUE(diff_config(x, y).empty());
}

TEST(ConfigDiff, AddedRemovedAndChangedServicesModesAndSettings) {
  auto x = base();
  auto y = base();
  y.services.erase(y.services.begin() + 1);  // b removed
  Service c;
  c.id = "c";
  y.services.push_back(c);
  y.services[0].vram_mib = 2000;  // a changed
  y.modes[0].services = {"a", "c"};
  Mode n;
  n.id = "n";
  y.modes.push_back(n);
  y.settings.vram_margin_mib = 0;
  const auto d = diff_config(x, y);
  EXPECT_THAT(d.services_added, ElementsAre("c"));
  EXPECT_THAT(d.services_removed, ElementsAre("b"));
  EXPECT_THAT(d.services_changed, ElementsAre("a"));
  EXPECT_THAT(d.modes_added, ElementsAre("n"));
  EXPECT_THAT(d.modes_changed, ElementsAre("m"));
  EXPECT_THAT(d.modes_removed, IsEmpty());
  EXPECT_THAT(d.settings_changed, ElementsAre("vram_margin_mib"));
  EXPECT_FALSE(d.empty());
}

TEST(ConfigDiff, EveryLaunchFieldCounts) {
  auto x = base();
  auto y = base();
  y.services[1].env["X"] = "1";
  EXPECT_THAT(diff_config(x, y).services_changed, ElementsAre("b"));
  y = base();
  y.services[1].command = {"/bin/server", "--flag"};
  EXPECT_THAT(diff_config(x, y).services_changed, ElementsAre("b"));
}

}  // namespace
}  // namespace gpumod::core
