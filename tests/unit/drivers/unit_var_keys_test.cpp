// Every unit_vars key listed as known for llama.cpp and vLLM is read by the launch: setting it
// changes the argv or environment, or a malformed value is refused. So the list `config check`
// uses to flag unread keys cannot name a key no code reads.
#include "gpumod/drivers/unit_var_keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "gpumod/drivers/driver.hpp"

namespace gpumod::drivers {
namespace {

// Keys read outside launch_spec: the estimator (engine/gguf_vram_model.cpp) and the router's
// model id (static_model_id); their readers have their own tests.
const std::set<std::string> k_read_elsewhere = {"batch_size", "ubatch_size", "default_model"};

bool launch_differs(const core::Service& a, const core::Service& b) {
  const auto driver = make_driver(a.driver);
  const LaunchOptions o;
  auto x = driver->launch_spec(a, o);
  auto y = driver->launch_spec(b, o);
  if (!x || !y) return x.has_value() != y.has_value();
  return x->argv != y->argv || x->env != y->env;
}

void check_every_key(const std::vector<core::Service>& baselines) {
  ASSERT_FALSE(baselines.empty());
  for (const auto& key : known_unit_var_keys(baselines.front().driver)) {
    if (k_read_elsewhere.contains(key)) continue;
    SCOPED_TRACE(key);
    bool read = false;
    for (const auto& base : baselines) {
      for (const std::string value : {"zzz-not-valid", "2", "true", "/opt/x"}) {
        auto changed = base;
        changed.unit_vars[key] = value;
        read = read || launch_differs(base, changed);
      }
    }
    EXPECT_TRUE(read) << "unit_vars." << key << " is listed as known but changes nothing";
  }
}

TEST(UnitVarKeys, EveryLlamaCppKeyIsRead) {
  core::Service single;
  single.id = "chat";
  single.driver = core::DriverKind::llamacpp;
  single.port = 7070;
  single.model_path = "/models/m.gguf";
  auto router = single;
  router.model_path.clear();
  router.sleep_mode = core::SleepMode::router;
  router.unit_vars = {{"models_dir", "/models"}, {"default_model", "m"}};
  check_every_key({single, router});
}

TEST(UnitVarKeys, EveryVllmKeyIsRead) {
  core::Service s;
  s.id = "emb";
  s.driver = core::DriverKind::vllm;
  s.port = 8000;
  s.model_id = "org/model";
  check_every_key({s});
}

TEST(UnitVarKeys, ATypoIsNotKnown) {
  const auto keys = known_unit_var_keys(core::DriverKind::llamacpp);
  EXPECT_EQ(std::find(keys.begin(), keys.end(), "jinjja"), keys.end());
  EXPECT_NE(std::find(keys.begin(), keys.end(), "jinja"), keys.end());
}

}  // namespace
}  // namespace gpumod::drivers
