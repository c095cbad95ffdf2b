#include "gpumod/engine/model_routes.hpp"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "gpumod/drivers/llamacpp_driver.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::engine {

using nlohmann::json;
using util::ErrorCode;

namespace {

std::string gguf_stem(const std::string& path) {
  if (path.empty()) return "";
  const std::filesystem::path p(path);
  return util::to_lower(p.extension().string()) == ".gguf" ? p.stem().string() : "";
}

// Merges `patch` into `target` (objects recursively, anything else replaced).
void merge(json& target, const json& patch) {
  if (!patch.is_object() || !target.is_object()) {
    target = patch;
    return;
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    if (target.contains(it.key()) && target[it.key()].is_object() && it.value().is_object()) {
      merge(target[it.key()], it.value());
    } else {
      target[it.key()] = it.value();
    }
  }
}

bool wants_stream(const json& j) {
  const auto it = j.find("stream");
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

}  // namespace

std::string upstream_model_id(const core::Service& s) {
  const auto trimmed = [](std::optional<std::string> v) {
    return v ? std::string(util::trim(*v)) : std::string();
  };
  if (s.driver == core::DriverKind::llamacpp) {
    if (auto id = drivers::static_model_id(s)) return *id;
    if (!s.model_id.empty()) {
      std::string stem = s.model_id.substr(s.model_id.rfind('/') == std::string::npos ? 0 : s.model_id.rfind('/') + 1);
      for (std::string_view suffix : {"-GGUF", "-gguf"}) {
        if (stem.size() > suffix.size() && stem.ends_with(suffix)) stem.resize(stem.size() - suffix.size());
      }
      return stem;
    }
    return s.id;
  }
  if (s.driver == core::DriverKind::vllm) {
    if (auto v = trimmed(s.var("served_model_name")); !v.empty()) return v;
    if (!s.model_id.empty()) return s.model_id;
    if (!s.model_path.empty()) return s.model_path;
    return s.id;
  }
  for (const char* key : {"served_model_name", "default_model"}) {
    if (auto v = trimmed(s.var(key)); !v.empty()) return v;
  }
  return s.model_id.empty() ? s.id : s.model_id;
}

ModelRoutes::ModelRoutes(const core::Config& config) {
  std::set<std::string> taken;
  const auto add = [&](const core::Service& s, const std::string& name, std::string kind,
                       std::optional<core::VirtualModel> vm) {
    if (name.empty() || taken.contains(name)) return;  // the first service (by id) keeps a name
    taken.insert(name);
    m_routes.push_back({name, s.id, upstream_model_id(s), std::move(kind), std::move(vm)});
  };
  // Own model ids first for every service, so an alias never shadows another's real id.
  for (const auto& s : config.services) add(s, upstream_model_id(s), "model", std::nullopt);
  for (const auto& s : config.services) {
    add(s, gguf_stem(s.model_path), "model", std::nullopt);
    if (s.driver == core::DriverKind::vllm && !s.model_id.empty()) add(s, s.model_id, "model", std::nullopt);
    for (const auto& a : s.serving.aliases) add(s, a, "alias", std::nullopt);
    for (const auto& vm : s.serving.virtual_models) add(s, vm.name, "virtual", vm);
  }
  for (const auto& s : config.services) add(s, s.id, "service", std::nullopt);
  std::ranges::stable_sort(m_routes, {}, &ModelRoute::service_id);
}

std::optional<ModelRoute> ModelRoutes::find(std::string_view name) const {
  const auto it = std::ranges::find(m_routes, name, &ModelRoute::name);
  if (it == m_routes.end()) return std::nullopt;
  return *it;
}

std::vector<std::string> ModelRoutes::close_names(std::string_view name, std::size_t max) const {
  std::vector<std::string> names;
  for (const auto& r : m_routes) names.push_back(r.name);
  std::vector<std::pair<std::size_t, std::string>> scored;
  const std::string lower = util::to_lower(name);
  for (const auto& n : names) {
    const std::string ln = util::to_lower(n);
    std::size_t score = 1000;
    if (auto close = util::closest_match(name, std::vector<std::string>{n}); close) score = 0;
    else if (!lower.empty() && (ln.find(lower) != std::string::npos || lower.find(ln) != std::string::npos)) score = 1;
    else {
      std::size_t common = 0;
      while (common < ln.size() && common < lower.size() && ln[common] == lower[common]) ++common;
      if (common >= 3) score = 2 + (64 - std::min<std::size_t>(common, 64));
    }
    if (score < 1000) scored.emplace_back(score, n);
  }
  std::ranges::stable_sort(scored, {}, &std::pair<std::size_t, std::string>::first);
  std::vector<std::string> out;
  for (const auto& [score, n] : scored) {
    if (out.size() >= max) break;
    out.push_back(n);
  }
  return out;
}

util::Result<ModelRoute> ModelRoutes::route_name(std::string_view name) const {
  if (auto r = find(name)) return *r;
  const auto close = close_names(name);
  std::string message = "The model '" + std::string(name) + "' does not exist";
  if (!close.empty()) message += "; close names: " + util::join(close, ", ");
  return util::fail(ErrorCode::not_found, message);
}

util::Result<RoutedRequest> ModelRoutes::route_body(std::string_view body) const {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return util::fail(ErrorCode::invalid_argument, "the request body is not valid JSON");
  if (!j.is_object()) return util::fail(ErrorCode::invalid_argument, "the request body must be a JSON object");
  const auto it = j.find("model");
  if (it == j.end() || !it->is_string()) {
    return util::fail(ErrorCode::invalid_argument, "the request body needs a string 'model'");
  }
  auto route = route_name(it->get<std::string>());
  if (!route) return std::unexpected(route.error());
  RoutedRequest out;
  out.stream = wants_stream(j);
  if (route->upstream_model == route->name && !route->virtual_model) {
    out.body = std::string(body);  // nothing to rewrite: the client's bytes as they came
    out.route = std::move(*route);
    return out;
  }
  j["model"] = route->upstream_model;
  if (route->virtual_model) {
    for (const auto& field : route->virtual_model->strip) j.erase(field);
    const json patch = json::parse(route->virtual_model->set_json, nullptr, false);
    if (patch.is_object()) merge(j, patch);
    out.stream = wants_stream(j);
  }
  out.body = j.dump();
  out.route = std::move(*route);
  return out;
}

}  // namespace gpumod::engine
