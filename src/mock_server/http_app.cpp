// The http flavour: a plain web app (the FastAPI/Docker kind of service) with a configurable
// health endpoint, optionally holding --mock-vram-mib of simulated GPU memory while it runs.
#include <httplib.h>

#include "mock_server/flavors.hpp"
#include "mock_server/runtime.hpp"

namespace gpumod::mock {

int run_http(const Options& o) {
  log_line("http app (gpumod-mock-server) starting, pid " + std::to_string(::getpid()));
  if (!shutdown_flag().sleep_for(o.start_delay)) return 0;
  if (o.has(Fault::crash_on_start)) crash("crash-on-start");
  Ledger ledger(o.ledger_dir, "http app (gpumod-mock-server)");
  httplib::Server server;
  server.Get(o.health_path, [&](const httplib::Request&, httplib::Response& res) {
    if (o.has(Fault::malformed_json)) return send_malformed(res);
    if (o.has(Fault::unhealthy)) return send_error(res, 503, "Service Unavailable", "unavailable_error");
    send_json(res, 200, R"({"status":"ok"})");
  });
  server.Get("/", [&](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, R"({"name":"gpumod-mock-server http app"})");
  });
  if (!prepare_and_bind(server, o,
                        "ERROR: couldn't bind HTTP server socket, hostname: " + o.host + ", port: " +
                            std::to_string(o.port) + ": address already in use")) {
    return 1;
  }
  ledger.set(o.default_vram_mib());
  set_stop_hook([&server] { server.stop(); });
  log_line("http app listening on http://" + o.host + ":" + std::to_string(o.port) + " (health " + o.health_path + ")");
  mark_ready(o);
  if (!shutdown_flag().requested()) server.listen_after_bind();
  set_stop_hook(nullptr);
  ledger.release();
  log_line("http app stopped");
  return 0;
}

}  // namespace gpumod::mock
