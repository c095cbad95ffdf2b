// The vLLM flavour (`serve MODEL ...`): the engine loads before the HTTP server listens; sleep
// mode through the development endpoints /sleep, /wake_up and /is_sleeping, which exist only
// when VLLM_SERVER_DEV_MODE=1. See docs/mock-server.md.
#include <httplib.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "mock_server/flavors.hpp"
#include "mock_server/runtime.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::mock {
namespace {

using json = nlohmann::json;

std::string gib(std::int64_t mib) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", static_cast<double>(mib) / 1024.0);
  return buf;
}

std::string secs(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

bool dev_mode() {
  const char* v = std::getenv("VLLM_SERVER_DEV_MODE");
  return v && std::string_view(v) == "1";
}

}  // namespace

int run_vllm(const Options& o) {
  log_line("INFO api_server: vLLM API server (gpumod-mock-server), model " + o.model + ", pid " +
           std::to_string(::getpid()));
  if (!shutdown_flag().sleep_for(o.start_delay)) return 0;
  if (o.has(Fault::crash_on_start)) crash("crash-on-start");
  log_line("INFO gpu_model_runner: Starting to load model " + o.model + "...");
  if (!shutdown_flag().sleep_for(o.load_delay)) return 0;
  if (o.has(Fault::crash_during_load)) crash("crash-during-load: engine core initialization failed");
  if (o.has(Fault::hang_on_load)) {
    log_line("INFO gpu_model_runner: loading model (mock fault hang-on-load: never finishes)");
    while (shutdown_flag().sleep_for(std::chrono::hours(1))) {
    }
    return 0;
  }
  const std::int64_t vram = o.default_vram_mib();
  Ledger ledger(o.ledger_dir, "vllm serve " + o.model + " (gpumod-mock-server)");
  ledger.set(vram);
  log_line("INFO gpu_model_runner: Model loading took " + gib(vram * 8 / 10) + " GiB and " + secs(o.load_delay) +
           " seconds");
  log_line("INFO gpu_worker: Available KV cache memory: " + gib(vram - vram * 8 / 10) + " GiB");

  httplib::Server server;
  std::mutex mutex;          // guards asleep and serializes sleep/wake
  bool asleep = false;
  const bool dev = dev_mode();

  server.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    if (o.has(Fault::malformed_json)) return send_malformed(res);
    if (o.unhealthy_now()) return send_error(res, 503, "Service Unavailable", "ServiceUnavailableError");
    res.status = 200;  // vLLM answers an empty 200, also while asleep
  });
  server.Get("/ping", [&](const httplib::Request&, httplib::Response& res) { res.status = 200; });
  server.Get("/version", [&](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, R"({"version":"0.0.0-gpumod-mock"})");
  });
  server.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    if (o.has(Fault::malformed_json)) return send_malformed(res);
    json card = {{"id", o.served_model_name}, {"object", "model"}, {"created", now_epoch_s()},
                 {"owned_by", "vllm"}, {"root", o.model}, {"parent", nullptr}, {"max_model_len", o.max_model_len}};
    send_json(res, 200, json{{"object", "list"}, {"data", json::array({card})}}.dump());
  });
  auto guarded = [&](auto answer) {
    return [&, answer](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard lock(mutex);
        if (asleep) return send_error(res, 503, "The model is sleeping", "ServiceUnavailableError");
      }
      answer(req, res, o.served_model_name);
    };
  };
  server.Post("/v1/chat/completions", guarded(answer_chat));
  server.Post("/v1/completions", guarded(answer_completions));
  server.Post("/v1/embeddings", guarded(answer_embeddings));
  server.Post("/tokenize", [](const httplib::Request& q, httplib::Response& r) { answer_tokenize(q, r, true); });
  server.Post("/detokenize", [](const httplib::Request& q, httplib::Response& r) { answer_detokenize(q, r, true); });

  if (dev) {
    server.Post("/sleep", [&](const httplib::Request& req, httplib::Response& res) {
      if (o.has(Fault::http_500)) return send_error(res, 500, "mock fault: http-500", "InternalServerError");
      int level = 1;
      if (req.has_param("level")) {
        auto l = util::parse_int(req.get_param_value("level"), 1, 2, "level");
        if (!l) return send_error(res, 400, "sleep level must be 1 or 2", "BadRequestError");
        level = static_cast<int>(*l);
      }
      if (!o.enable_sleep_mode)
        return send_error(res, 500, "Sleep mode is not enabled. Start vLLM with --enable-sleep-mode.", "InternalServerError");
      std::lock_guard lock(mutex);
      if (!asleep) {
        shutdown_flag().sleep_for(o.sleep_delay);
        asleep = true;
        ledger.set(o.residue_mib());
        log_line("INFO gpu_worker: Sleep mode (level " + std::to_string(level) + ") freed " +
                 gib(vram - o.residue_mib()) + " GiB memory, " + gib(o.residue_mib()) + " GiB memory is still in use.");
        log_line("INFO executor_base: It took " + secs(o.sleep_delay) + " seconds to fall asleep.");
      }
      res.status = 200;
    });
    server.Post("/wake_up", [&](const httplib::Request&, httplib::Response& res) {
      if (o.has(Fault::http_500)) return send_error(res, 500, "mock fault: http-500", "InternalServerError");
      std::lock_guard lock(mutex);
      if (asleep) {
        shutdown_flag().sleep_for(o.wake_delay);
        asleep = false;
        ledger.set(vram);
        log_line("INFO executor_base: It took " + secs(o.wake_delay) + " seconds to wake up tags {'weights', 'kv_cache'}.");
      }
      res.status = 200;
    });
    server.Get("/is_sleeping", [&](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mutex);
      send_json(res, 200, json{{"is_sleeping", asleep}}.dump());
    });
  }

  if (!prepare_and_bind(server, o,
                        "ERROR: [Errno 98] error while attempting to bind on address ('" + o.host + "', " +
                            std::to_string(o.port) + "): address already in use")) {
    ledger.release();
    return 1;
  }
  set_stop_hook([&server] { server.stop(); });
  log_line("INFO: Started server process; sleep mode " + std::string(o.enable_sleep_mode ? "enabled" : "disabled") +
           (dev ? ", development endpoints on" : ""));
  log_line("INFO: Uvicorn running on http://" + o.host + ":" + std::to_string(o.port) + " (Press CTRL+C to quit)");
  log_line("INFO: Application startup complete.");
  mark_ready(o);
  if (!shutdown_flag().requested()) server.listen_after_bind();
  set_stop_hook(nullptr);
  ledger.release();
  log_line("INFO: Shutting down; finished server process");
  return 0;
}

}  // namespace gpumod::mock
