#include "gpumod/engine/config_review.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <tuple>

#include "gpumod/drivers/driver.hpp"
#include "gpumod/drivers/llamacpp_driver.hpp"
#include "gpumod/drivers/unit_var_keys.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

namespace fs = std::filesystem;

namespace {

// "--flag" -> its value ("" for a flag alone), from argv[1..].
std::map<std::string, std::string> flags_of(const std::vector<std::string>& argv) {
  std::map<std::string, std::string> out;
  for (std::size_t i = 1; i < argv.size(); ++i) {
    if (!argv[i].starts_with("--")) continue;
    const bool has_value = i + 1 < argv.size() && !argv[i + 1].starts_with("--");
    out[argv[i]] = has_value ? argv[i + 1] : "";
    if (has_value) ++i;
  }
  return out;
}

bool path_exists(const fs::path& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

}  // namespace

std::vector<ReviewFinding> review_config(const core::Config& config) {
  std::vector<ReviewFinding> out;
  // Placeholders for the binaries: which one is installed is the daemon's business, not the
  // configuration's; everything else is exactly what a start builds.
  const drivers::LaunchOptions launch;
  std::map<std::pair<int, std::string>, std::vector<std::pair<const core::Service*, std::vector<std::string>>>> routers;

  for (const auto& s : config.services) {
    const auto add = [&](std::string message, bool error) { out.push_back({s.defined_at, std::move(message), error}); };
    const auto driver = drivers::make_driver(s.driver);
    auto spec = driver->launch_spec(s, launch);
    if (!spec) add(spec.error().message, true);

    if (!s.command.empty() || !s.unit_template.empty()) {
      // A custom command or unit template may use any unit_vars name.
    } else {
      const auto known = drivers::known_unit_var_keys(s.driver);
      for (const auto& [key, value] : s.unit_vars) {
        if (std::ranges::find(known, key) != known.end()) continue;
        add("unit_vars." + key + " is not read by the " + std::string(core::to_string(s.driver)) +
                " driver and has no effect" + util::did_you_mean(key, known),
            false);
      }
    }

    if (s.driver == core::DriverKind::llamacpp) {
      if (drivers::is_router(s)) {
        const fs::path dir(std::string(util::trim(*s.var("models_dir"))));
        if (!path_exists(dir)) {
          add("unit_vars.models_dir " + dir.string() + " does not exist (yet); the service cannot start until it does", false);
        } else if (auto id = drivers::static_model_id(s); id && s.model_path.empty() &&
                                                           !path_exists(dir / (*id + ".gguf")) && !path_exists(dir / *id)) {
          add("model " + *id + ": neither " + (dir / (*id + ".gguf")).string() + " nor the folder " +
                  (dir / *id).string() + " exists (yet)",
              false);
        }
        if (spec && s.port) routers[{*s.port, dir.lexically_normal().string()}].push_back({&s, spec->argv});
      }
      if (!s.model_path.empty() && util::to_lower(fs::path(s.model_path).extension().string()) == ".gguf" &&
          !path_exists(s.model_path)) {
        add("model file " + s.model_path + " does not exist (yet); the service cannot start until it does", false);
      }
    }
  }

  // Router-mates: one llama-server; its command line comes from whichever service starts it.
  for (const auto& [key, mates] : routers) {
    if (mates.size() < 2) continue;
    const auto& [first, first_argv] = mates.front();
    const auto first_flags = flags_of(first_argv);
    for (std::size_t i = 1; i < mates.size(); ++i) {
      const auto& [other, other_argv] = mates[i];
      const auto other_flags = flags_of(other_argv);
      std::vector<std::string> diffs;
      if (first_argv.front() != other_argv.front()) {
        diffs.push_back("the program (" + first->id + ": " + first_argv.front() + ", " + other->id + ": " +
                        other_argv.front() + ")");
      }
      std::map<std::string, int> names;
      for (const auto& [f, v] : first_flags) names[f] = 0;
      for (const auto& [f, v] : other_flags) names[f] = 0;
      for (const auto& [f, unused] : names) {
        const auto a = first_flags.find(f), b = other_flags.find(f);
        const std::string va = a == first_flags.end() ? "unset" : (a->second.empty() ? "set" : a->second);
        const std::string vb = b == other_flags.end() ? "unset" : (b->second.empty() ? "set" : b->second);
        if (va != vb) diffs.push_back(f + " (" + first->id + ": " + va + ", " + other->id + ": " + vb + ")");
      }
      if (diffs.empty()) continue;
      out.push_back({other->defined_at,
                     other->id + " and " + first->id + " are models of one llama-server router (port " +
                         std::to_string(key.first) + ", models_dir " + key.second + ") but disagree on " +
                         util::join(diffs, ", ") +
                         "; the router runs with the values of whichever service starts it",
                     false});
    }
  }
  std::ranges::stable_sort(out, [](const ReviewFinding& a, const ReviewFinding& b) {
    return std::tie(a.where.file, a.where.line) < std::tie(b.where.file, b.where.line);
  });
  return out;
}

}  // namespace gpumod::engine
