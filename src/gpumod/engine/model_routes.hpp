// Model routes: which service serves a model name a client sends. A name maps to a service by
// the model id the server itself uses (unit_vars.default_model, the .gguf file stem, vLLM's
// served_model_name or model_id), by the preset's `aliases:`, by its `virtual_models:` (a name
// that also sets or strips request fields), or by the service id. The request body is rewritten
// for the upstream: `model` becomes the upstream's own id, virtual-model fields are applied.
// Thread-safety: immutable after construction; safe to share between threads.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpumod/core/config.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::engine {

struct ModelRoute {
  std::string name;            // as clients send it
  std::string service_id;
  std::string upstream_model;  // what the upstream calls it
  std::string kind;            // "model", "alias", "virtual", "service"
  std::optional<core::VirtualModel> virtual_model;
};

// A request body after routing: the route, the body to send upstream, whether it streams.
struct RoutedRequest {
  ModelRoute route;
  std::string body;
  bool stream = false;
};

class ModelRoutes {
 public:
  explicit ModelRoutes(const core::Config& config);

  std::optional<ModelRoute> find(std::string_view name) const;
  // Every route, by service then kind (model first).
  const std::vector<ModelRoute>& all() const { return m_routes; }
  // Up to `max` known names close to `name` (edit distance, then shared prefix).
  std::vector<std::string> close_names(std::string_view name, std::size_t max = 5) const;

  // Parses a JSON request body, finds its `model` and rewrites the body for the upstream.
  // invalid_argument: not a JSON object, no string `model`; not_found: an unknown model, with
  // close names in the message.
  util::Result<RoutedRequest> route_body(std::string_view body) const;
  // The same for a GET with ?model=NAME (nothing to rewrite).
  util::Result<ModelRoute> route_name(std::string_view name) const;

 private:
  std::vector<ModelRoute> m_routes;
};

// The model id the service's server answers to (the upstream's name for it).
std::string upstream_model_id(const core::Service& service);

}  // namespace gpumod::engine
