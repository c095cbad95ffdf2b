// Cross-file checks of the serve: settings (gpumod.yaml against the modes).
#include <algorithm>

#include "gpumod/infra/config/parse.hpp"
#include "gpumod/infra/http/client.hpp"

namespace gpumod::infra::config::detail {

void check_serve(const core::ServeSettings& serve, const std::vector<ParsedMode>& modes,
                 Diagnostics& diags) {
  const core::SourceLocation where{"gpumod.yaml", 0, 0};
  if (!serve.idle_mode.empty() &&
      std::ranges::none_of(modes, [&](const ParsedMode& m) { return m.mode.id == serve.idle_mode; })) {
    std::vector<std::string> ids;
    for (const auto& m : modes) ids.push_back(m.mode.id);
    diags.error(where, "serve.idle_mode: no mode '" + serve.idle_mode + "'" + suggest(serve.idle_mode, ids));
  }
  if (!serve.listen.empty()) {
    const auto host = serve.listen.substr(0, serve.listen.rfind(':'));
    if (!http::is_loopback_host(host) && serve.api_keys.empty()) {
      diags.error(where, "serve.listen: '" + serve.listen +
                             "' is not a loopback address; set serve.api_keys so that clients must "
                             "send one as Authorization: Bearer");
    }
  }
}

}  // namespace gpumod::infra::config::detail
