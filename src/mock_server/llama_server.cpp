// The llama-server flavour: router mode (--models-dir, models loaded and unloaded on request)
// and single-model mode (--model, loaded once at start). See docs/mock-server.md.
#include <httplib.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "mock_server/flavors.hpp"
#include "mock_server/runtime.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::mock {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

enum class State { unloaded, loading, loaded, sleeping };

std::string_view to_string(State s) {
  switch (s) {
    case State::unloaded: return "unloaded";
    case State::loading: return "loading";
    case State::loaded: return "loaded";
    case State::sleeping: return "sleeping";
  }
  return "?";
}

struct Model {
  std::string id;
  std::string path;        // the GGUF file; may not exist (a preset naming a missing file)
  std::string preset;      // the INI section text, "" when none
  std::int64_t vram_mib = 0;
  int sleep_idle_s = -1;
  State state = State::unloaded;
  bool failed = false;
  int exit_code = 0;
  int port = 0;            // the (fake) child port: 0 until first loaded, stale after unload
  std::uint64_t gen = 0;   // bumped by every operation; a worker whose gen is stale gives up
  Clock::time_point last_used{};
};

struct PresetSection {
  std::string name;
  std::string text;
  std::map<std::string, std::string> keys;
};

// Parses an INI presets file. A key before any section creates the phantom model "default", as
// the real router does.
util::Result<std::vector<PresetSection>> parse_presets(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return util::fail(util::ErrorCode::not_found, "cannot open presets file " + file.string());
  std::vector<PresetSection> out;
  PresetSection* current = nullptr;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const std::string t(util::trim(line));
    if (t.empty() || t[0] == ';' || t[0] == '#') continue;
    if (t.front() == '[') {
      if (t.back() != ']' || t.size() < 3)
        return util::fail(util::ErrorCode::config_invalid, file.string() + ":" + std::to_string(line_no) + ": bad section header");
      out.push_back({std::string(util::trim(std::string_view(t).substr(1, t.size() - 2))), "", {}});
      current = &out.back();
      continue;
    }
    const auto eq = t.find('=');
    if (eq == std::string::npos)
      return util::fail(util::ErrorCode::config_invalid, file.string() + ":" + std::to_string(line_no) + ": expected key = value");
    if (!current) {
      auto it = std::find_if(out.begin(), out.end(), [](const auto& s) { return s.name == "default"; });
      if (it == out.end()) {
        out.push_back({"default", "", {}});
        it = out.end() - 1;
      }
      current = &*it;
    }
    current->keys[std::string(util::trim(std::string_view(t).substr(0, eq)))] =
        std::string(util::trim(std::string_view(t).substr(eq + 1)));
    current->text += t + "\n";
  }
  return out;
}

class LlamaServer {
 public:
  LlamaServer(const Options& o, std::string argv0)
      : m_o(o), m_argv0(std::move(argv0)),
        m_ledger(o.ledger_dir, "llama-server (gpumod-mock-server)"),
        m_created(now_epoch_s()) {}

  util::Status init_models();
  int run();

 private:
  // --- model state (all under m_mutex) ---
  Model* find(const std::string& id);
  void publish(const Model& m);  // SSE event + ledger
  void update_ledger();
  json model_json(const Model& m) const;
  json models_json() const;
  std::int64_t used_mib() const;
  void begin_load(Model& m, std::unique_lock<std::mutex>& lock);
  void evict_if_needed(const std::string& for_id, std::unique_lock<std::mutex>& lock);
  // Waits until `m` is no longer loading; false on shutdown or timeout.
  bool wait_not_loading(const std::string& id, std::unique_lock<std::mutex>& lock);
  void spawn(std::function<void()> fn);
  bool wait_gen(const std::string& id, std::uint64_t gen, std::chrono::milliseconds d,
                std::unique_lock<std::mutex>& lock);
  void idle_monitor();
  void stop();

  // --- HTTP ---
  void routes();
  void handle_load(const httplib::Request& req, httplib::Response& res);
  void handle_unload(const httplib::Request& req, httplib::Response& res);
  void handle_generate(const httplib::Request& req, httplib::Response& res, int kind);
  void handle_sse(const httplib::Request& req, httplib::Response& res);

  const Options& m_o;
  std::string m_argv0;
  Ledger m_ledger;
  std::int64_t m_created;
  httplib::Server m_server;

  mutable std::mutex m_mutex;
  std::condition_variable m_cv;
  std::vector<Model> m_models;
  std::vector<std::string> m_events;
  bool m_stopping = false;
  std::vector<std::jthread> m_workers;
};

util::Status LlamaServer::init_models() {
  auto vram_for = [&](const std::string& id, const std::map<std::string, std::string>* keys) {
    if (auto it = m_o.model_vram_mib.find(id); it != m_o.model_vram_mib.end()) return it->second;
    if (keys) {
      if (auto k = keys->find("mock-vram-mib"); k != keys->end())
        if (auto v = util::parse_int(k->second, 0, 1LL << 34, "mock-vram-mib")) return *v;
    }
    return m_o.default_vram_mib();
  };
  if (!m_o.router()) {
    Model m;
    m.path = m_o.model;
    m.id = m_o.aliases.empty() ? m_o.model : m_o.aliases.front();
    m.vram_mib = vram_for(m.id, nullptr);
    if (auto it = m_o.model_vram_mib.find(fs::path(m_o.model).stem().string()); it != m_o.model_vram_mib.end())
      m.vram_mib = it->second;
    m.sleep_idle_s = m_o.sleep_idle_seconds;
    m_models.push_back(std::move(m));
    return {};
  }
  std::error_code ec;
  if (!fs::is_directory(m_o.models_dir, ec)) {
    // A mock without model files (the bundled demo): the models named by --mock-model-vram.
    if (m_o.model_vram_mib.empty()) {
      return util::fail(util::ErrorCode::not_found, "models directory not found: " + m_o.models_dir);
    }
    for (const auto& [id, mib] : m_o.model_vram_mib) {
      Model m;
      m.id = id;
      m.vram_mib = mib;
      m.sleep_idle_s = m_o.sleep_idle_seconds;
      m_models.push_back(std::move(m));
    }
  }
  for (fs::directory_iterator it(m_o.models_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file() || it->path().extension() != ".gguf") continue;
    Model m;
    m.id = it->path().stem().string();
    m.path = it->path().string();
    m.vram_mib = vram_for(m.id, nullptr);
    m.sleep_idle_s = m_o.sleep_idle_seconds;
    m_models.push_back(std::move(m));
  }
  if (!m_o.models_preset.empty()) {
    auto sections = parse_presets(m_o.models_preset);
    if (!sections) return std::unexpected(sections.error());
    for (auto& s : *sections) {
      Model* m = find(s.name);
      if (!m) {
        m_models.push_back(Model{});
        m = &m_models.back();
        m->id = s.name;
        m->sleep_idle_s = m_o.sleep_idle_seconds;
      }
      m->preset = s.text;
      if (auto k = s.keys.find("model"); k != s.keys.end()) m->path = k->second;
      if (auto k = s.keys.find("sleep-idle-seconds"); k != s.keys.end())
        if (auto v = util::parse_int(k->second, -1, 1'000'000, "sleep-idle-seconds")) m->sleep_idle_s = static_cast<int>(*v);
      m->vram_mib = vram_for(m->id, &s.keys);
    }
  }
  std::sort(m_models.begin(), m_models.end(), [](const Model& a, const Model& b) { return a.id < b.id; });
  return {};
}

Model* LlamaServer::find(const std::string& id) {
  for (auto& m : m_models)
    if (m.id == id) return &m;
  return nullptr;
}

std::int64_t LlamaServer::used_mib() const {
  std::int64_t sum = 0;
  for (const auto& m : m_models) {
    if (m.state == State::loaded) sum += m.vram_mib;
    else if (m.state == State::sleeping) sum += std::min(m.vram_mib, m_o.residue_mib());
  }
  return sum;
}

void LlamaServer::update_ledger() { m_ledger.set(used_mib()); }

void LlamaServer::publish(const Model& m) {
  json ev = {{"id", m.id}, {"status", to_string(m.state)}};
  if (m.failed) {
    ev["failed"] = true;
    ev["exit_code"] = m.exit_code;
  }
  m_events.push_back(ev.dump());
  update_ledger();
  m_cv.notify_all();
}

json LlamaServer::model_json(const Model& m) const {
  if (!m_o.router()) {
    return {{"id", m.id}, {"object", "model"}, {"created", m_created}, {"owned_by", "llamacpp"},
            {"meta", {{"n_ctx_train", 4096}, {"size", m.vram_mib * 1024 * 1024}}}};
  }
  json args = json::array({m_argv0, "--host", "127.0.0.1", "--port", std::to_string(m.port), "--model", m.path,
                           "--alias", m.id});
  for (const auto& a : m_o.child_args) args.push_back(a);
  json status = {{"value", to_string(m.state)}, {"args", args}};
  if (!m.preset.empty()) status["preset"] = m.preset;
  if (m.failed) {
    status["failed"] = true;
    status["exit_code"] = m.exit_code;
  }
  return {{"id", m.id}, {"aliases", json::array()}, {"tags", json::array()}, {"object", "model"},
          {"owned_by", "llamacpp"}, {"created", m_created}, {"status", status}};
}

json LlamaServer::models_json() const {
  json data = json::array();
  for (const auto& m : m_models) data.push_back(model_json(m));
  return {{"object", "list"}, {"data", data}};
}

void LlamaServer::spawn(std::function<void()> fn) {
  m_workers.emplace_back(std::move(fn));
}

bool LlamaServer::wait_gen(const std::string& id, std::uint64_t gen, std::chrono::milliseconds d,
                           std::unique_lock<std::mutex>& lock) {
  const auto deadline = Clock::now() + d;
  m_cv.wait_until(lock, deadline, [&] {
    const Model* m = find(id);
    return m_stopping || !m || m->gen != gen;
  });
  const Model* m = find(id);
  return !m_stopping && m && m->gen == gen;
}

void LlamaServer::begin_load(Model& m, std::unique_lock<std::mutex>&) {
  m.state = State::loading;
  m.failed = false;
  m.exit_code = 0;
  const auto gen = ++m.gen;
  const std::string id = m.id;
  const std::string prefix = m_o.router() ? "[" + id + "] " : "";
  log_line("srv load_model: loading model '" + id + "' from " + m.path);
  publish(m);
  spawn([this, id, gen, prefix] {
    std::unique_lock lock(m_mutex);
    if (!wait_gen(id, gen, m_o.load_delay, lock)) return;
    Model* mm = find(id);
    std::error_code ec;
    // A model named only by --mock-model-vram (no file behind it) loads; a named file must exist.
    const bool file_missing = mm->path.empty() ? !m_o.model_vram_mib.contains(mm->id) : !fs::exists(mm->path, ec);
    if (m_o.has(Fault::hang_on_load) || (m_o.router() && file_missing)) {
      log_raw(prefix + "llama_model_load: error loading model: failed to open " + mm->path);
      log_raw(prefix + "srv    load_model: exiting due to model loading error");
      return;  // stays "loading", as the real router does
    }
    if (m_o.has(Fault::crash_during_load) || file_missing) {
      log_raw(prefix + "llama_model_load: error loading model: mock fault crash-during-load");
      log_raw(prefix + "srv    load_model: exiting due to model loading error");
      if (!m_o.router()) {
        lock.unlock();
        m_ledger.release();
        if (file_missing && !m_o.has(Fault::crash_during_load)) {
          log_line("error: model file not found: " + m_o.model);
          std::fflush(stderr);
          std::_Exit(1);
        }
        crash("crash during load of " + id);
      }
      mm->state = State::unloaded;
      mm->failed = true;
      mm->exit_code = 1;
      log_line("srv load_model: instance of '" + id + "' exited with status 1");
      publish(*mm);
      return;
    }
    // What the context was built with, as llama_context prints it before the buffer sizes.
    log_raw(prefix + "llama_context: n_seq_max     = " + std::to_string(m_o.parallel));
    log_raw(prefix + "llama_context: n_ctx         = " + std::to_string(m_o.ctx_size > 0 ? m_o.ctx_size : 4096));
    log_buffer_lines(prefix, mm->vram_mib);
    if (m_o.router()) {
      static int next_port = 0;
      if (mm->port == 0) mm->port = 39000 + (m_o.port % 1000) * 10 + (next_port++ % 10);
    }
    mm->state = State::loaded;
    mm->last_used = Clock::now();
    log_line("main: model loaded: " + id + " (" + std::to_string(mm->vram_mib) + " MiB)");
    publish(*mm);
    if (!m_o.router()) mark_ready(m_o);
  });
}

void LlamaServer::evict_if_needed(const std::string& for_id, std::unique_lock<std::mutex>& lock) {
  if (m_o.models_max <= 0) return;
  auto running = [&] {
    return std::count_if(m_models.begin(), m_models.end(),
                         [&](const Model& m) { return m.id != for_id && m.state != State::unloaded; });
  };
  while (running() >= m_o.models_max && !m_stopping) {
    Model* victim = nullptr;
    for (auto& m : m_models) {
      if (m.id == for_id || m.state == State::unloaded) continue;
      if (!victim || m.last_used < victim->last_used) victim = &m;
    }
    if (!victim) return;
    const std::string vid = victim->id;
    const auto gen = ++victim->gen;
    log_line("srv load_model: models-max " + std::to_string(m_o.models_max) + " reached, unloading '" + vid + "'");
    // The real router blocks the load request while it stops the least recently used instance.
    lock.unlock();
    shutdown_flag().sleep_for(m_o.unload_delay);
    lock.lock();
    Model* v = find(vid);
    if (v && v->gen == gen) {
      v->state = State::unloaded;
      log_line("srv unload: model '" + vid + "' unloaded");
      publish(*v);
    }
  }
}

bool LlamaServer::wait_not_loading(const std::string& id, std::unique_lock<std::mutex>& lock) {
  return m_cv.wait_for(lock, std::chrono::minutes(10), [&] {
    const Model* m = find(id);
    return m_stopping || !m || m->state != State::loading;
  }) && !m_stopping;
}

void LlamaServer::idle_monitor() {
  std::unique_lock lock(m_mutex);
  while (!m_stopping) {
    m_cv.wait_for(lock, std::chrono::milliseconds(20));
    const auto now = Clock::now();
    for (auto& m : m_models) {
      if (m.state != State::loaded || m.sleep_idle_s < 0) continue;
      if (now - m.last_used >= std::chrono::seconds(m.sleep_idle_s)) {
        m.state = State::sleeping;
        ++m.gen;
        log_line("srv sleep: model '" + m.id + "' idle for " + std::to_string(m.sleep_idle_s) + " s, sleeping");
        publish(m);
      }
    }
  }
}

void LlamaServer::stop() {
  {
    std::lock_guard lock(m_mutex);
    m_stopping = true;
  }
  m_cv.notify_all();
  m_server.stop();
}

void LlamaServer::handle_load(const httplib::Request& req, httplib::Response& res) {
  if (m_o.has(Fault::http_500)) return send_error(res, 500, "mock fault: http-500", "server_error");
  const json body = json::parse(req.body, nullptr, false);
  if (!body.is_object() || !body.contains("model") || !body["model"].is_string())
    return send_error(res, 400, "\"model\" is required", "invalid_request_error");
  const std::string id = body["model"].get<std::string>();
  std::unique_lock lock(m_mutex);
  Model* m = find(id);
  if (!m) return send_error(res, 404, "File Not Found", "not_found_error");
  if (m->state != State::unloaded) return send_error(res, 400, "model is already running", "invalid_request_error");
  evict_if_needed(id, lock);
  m = find(id);
  if (m->state != State::unloaded) return send_error(res, 400, "model is already running", "invalid_request_error");
  begin_load(*m, lock);
  send_json(res, 200, R"({"success":true})");
}

void LlamaServer::handle_unload(const httplib::Request& req, httplib::Response& res) {
  if (m_o.has(Fault::http_500)) return send_error(res, 500, "mock fault: http-500", "server_error");
  const json body = json::parse(req.body, nullptr, false);
  if (!body.is_object() || !body.contains("model") || !body["model"].is_string())
    return send_error(res, 400, "\"model\" is required", "invalid_request_error");
  const std::string id = body["model"].get<std::string>();
  std::unique_lock lock(m_mutex);
  Model* m = find(id);
  if (!m) return send_error(res, 404, "File Not Found", "not_found_error");
  if (m->state == State::unloaded) return send_error(res, 400, "model is not running", "invalid_request_error");
  const auto gen = ++m->gen;
  log_line("srv unload: stopping instance of '" + id + "'");
  spawn([this, id, gen] {
    std::unique_lock l(m_mutex);
    if (!wait_gen(id, gen, m_o.unload_delay, l)) return;
    Model* mm = find(id);
    mm->state = State::unloaded;
    log_line("srv unload: model '" + id + "' unloaded");
    publish(*mm);
  });
  send_json(res, 200, R"({"success":true})");
}

// kind: 0 = /v1/chat/completions, 1 = /v1/completions, 2 = /completion, 3 = /v1/embeddings
void LlamaServer::handle_generate(const httplib::Request& req, httplib::Response& res, int kind) {
  const json body = json::parse(req.body, nullptr, false);
  if (!body.is_object()) return send_error(res, 400, "request body is not valid JSON", "invalid_request_error");
  std::unique_lock lock(m_mutex);
  Model* m = nullptr;
  if (!m_o.router()) {
    m = &m_models.front();
    if (m->state == State::loading || m->state == State::unloaded)
      return send_error(res, 503, "Loading model", "unavailable_error");
  } else {
    if (!body.contains("model") || !body["model"].is_string())
      return send_error(res, 400, "\"model\" is required in router mode", "invalid_request_error");
    const std::string id = body["model"].get<std::string>();
    m = find(id);
    if (!m) return send_error(res, 400, "model '" + id + "' not found", "invalid_request_error");
    if (m->state == State::unloaded) {
      if (!m_o.models_autoload) return send_error(res, 400, "model is not loaded", "invalid_request_error");
      evict_if_needed(id, lock);
      m = find(id);
      if (m->state == State::unloaded) begin_load(*m, lock);
    }
    if (m->state == State::loading) {
      if (!wait_not_loading(id, lock)) return send_error(res, 503, "Loading model", "unavailable_error");
      m = find(id);
      if (m->state != State::loaded && m->state != State::sleeping)
        return send_error(res, 500, "model '" + id + "' failed to load", "server_error");
    }
  }
  if (m->state == State::sleeping) {
    const std::string id = m->id;
    const auto gen = ++m->gen;
    lock.unlock();
    shutdown_flag().sleep_for(m_o.wake_delay);
    lock.lock();
    m = find(id);
    if (m->gen == gen && m->state == State::sleeping) {
      m->state = State::loaded;
      log_line("srv wake: model '" + id + "' woke up");
      publish(*m);
    }
  }
  m->last_used = Clock::now();
  const std::string name = m->id;
  lock.unlock();
  if (kind == 0) answer_chat(req, res, name);
  else if (kind == 1) answer_completions(req, res, name);
  else if (kind == 3) answer_embeddings(req, res, name);
  else answer_llama_completion(req, res, name);
}

void LlamaServer::handle_sse(const httplib::Request&, httplib::Response& res) {
  std::size_t next = 0;
  std::vector<std::string> initial;
  {
    std::lock_guard lock(m_mutex);
    next = m_events.size();
    for (const auto& m : m_models) {
      json ev = {{"id", m.id}, {"status", to_string(m.state)}};
      if (m.failed) {
        ev["failed"] = true;
        ev["exit_code"] = m.exit_code;
      }
      initial.push_back(ev.dump());
    }
  }
  auto cursor = std::make_shared<std::size_t>(next);
  auto pending = std::make_shared<std::vector<std::string>>(std::move(initial));
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [this, cursor, pending](std::size_t, httplib::DataSink& sink) {
    std::vector<std::string> out;
    out.swap(*pending);
    bool stopping = false;
    if (out.empty()) {
      std::unique_lock lock(m_mutex);
      m_cv.wait_for(lock, std::chrono::seconds(1), [&] { return m_stopping || m_events.size() > *cursor; });
      for (; *cursor < m_events.size(); ++*cursor) out.push_back(m_events[*cursor]);
      stopping = m_stopping;
    }
    if (stopping) {
      sink.done();
      return true;
    }
    std::string text;
    for (const auto& e : out) text += "data: " + e + "\n\n";
    if (text.empty()) text = ": keep-alive\n\n";
    return sink.write(text.data(), text.size());
  });
}

void LlamaServer::routes() {
  auto health = [this](const httplib::Request&, httplib::Response& res) {
    if (m_o.has(Fault::malformed_json)) return send_malformed(res);
    if (m_o.unhealthy_now()) return send_error(res, 503, "Service Unavailable", "unavailable_error");
    if (!m_o.router()) {
      std::lock_guard lock(m_mutex);
      if (m_models.front().state == State::loading || m_models.front().state == State::unloaded)
        return send_error(res, 503, "Loading model", "unavailable_error");
    }
    send_json(res, 200, R"({"status":"ok"})");
  };
  m_server.Get("/health", health);
  m_server.Get("/v1/health", health);
  auto models = [this](const httplib::Request&, httplib::Response& res) {
    if (m_o.has(Fault::malformed_json)) return send_malformed(res);
    std::lock_guard lock(m_mutex);
    send_json(res, 200, models_json().dump());
  };
  m_server.Get("/models", models);
  m_server.Get("/v1/models", models);
  m_server.Get("/props", [this](const httplib::Request&, httplib::Response& res) {
    if (m_o.router()) {
      json j = {{"role", "router"}, {"max_instances", m_o.models_max}, {"models_autoload", m_o.models_autoload},
                {"build_info", "gpumod-mock-server"}};
      return send_json(res, 200, j.dump());
    }
    std::lock_guard lock(m_mutex);
    const Model& m = m_models.front();
    json j = {{"model_path", m.path}, {"total_slots", m_o.parallel},
              {"default_generation_settings", {{"n_ctx", m_o.ctx_size > 0 ? m_o.ctx_size : 4096}}},
              {"is_sleeping", m.state == State::sleeping}, {"build_info", "gpumod-mock-server"}};
    send_json(res, 200, j.dump());
  });
  m_server.Get("/models/sse", [this](const httplib::Request& req, httplib::Response& res) { handle_sse(req, res); });
  if (m_o.router()) {
    m_server.Post("/models/load", [this](const httplib::Request& q, httplib::Response& r) { handle_load(q, r); });
    m_server.Post("/models/unload", [this](const httplib::Request& q, httplib::Response& r) { handle_unload(q, r); });
  }
  m_server.Post("/v1/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { handle_generate(q, r, 0); });
  m_server.Post("/chat/completions", [this](const httplib::Request& q, httplib::Response& r) { handle_generate(q, r, 0); });
  m_server.Post("/v1/completions", [this](const httplib::Request& q, httplib::Response& r) { handle_generate(q, r, 1); });
  m_server.Post("/completion", [this](const httplib::Request& q, httplib::Response& r) { handle_generate(q, r, 2); });
  m_server.Post("/completions", [this](const httplib::Request& q, httplib::Response& r) { handle_generate(q, r, 2); });
  m_server.Post("/v1/embeddings", [this](const httplib::Request& q, httplib::Response& r) { handle_generate(q, r, 3); });
  m_server.Post("/embeddings", [this](const httplib::Request& q, httplib::Response& r) { handle_generate(q, r, 3); });
  m_server.Post("/tokenize", [](const httplib::Request& q, httplib::Response& r) { answer_tokenize(q, r, false); });
  m_server.Post("/detokenize", [](const httplib::Request& q, httplib::Response& r) { answer_detokenize(q, r, false); });
}

int LlamaServer::run() {
  routes();
  const std::string where = m_o.host + ":" + std::to_string(m_o.port);
  if (!prepare_and_bind(m_server, m_o,
                        "main: couldn't bind HTTP server socket, hostname: " + m_o.host + ", port: " +
                            std::to_string(m_o.port))) {
    log_line("error: exiting due to HTTP server error (" + where + ")");
    return 1;
  }
  set_stop_hook([this] { stop(); });
  if (m_o.router()) {
    log_line("srv llama_server: router mode, " + std::to_string(m_models.size()) + " model(s) in " + m_o.models_dir +
             ", models-max " + std::to_string(m_o.models_max) + (m_o.models_autoload ? ", autoload" : ", no autoload"));
  } else {
    std::unique_lock lock(m_mutex);
    begin_load(m_models.front(), lock);
  }
  const bool any_idle = std::any_of(m_models.begin(), m_models.end(), [](const Model& m) { return m.sleep_idle_s >= 0; });
  if (any_idle) spawn([this] { idle_monitor(); });
  log_line("main: server is listening on http://" + where + " - starting the main loop");
  if (m_o.router()) mark_ready(m_o);  // single model: ready when its load ends
  if (!shutdown_flag().requested()) m_server.listen_after_bind();
  set_stop_hook(nullptr);
  stop();
  m_workers.clear();  // joins
  m_ledger.release();
  log_line("main: server stopped");
  return 0;
}

}  // namespace

int run_llama(const Options& o, const std::string& argv0) {
  if (o.models_dir.empty() && o.model.empty()) {
    log_raw("error: either --model or --models-dir is required (gpumod-mock-server)");
    return 1;
  }
  log_line(std::string("main: gpumod-mock-server as llama-server, ") + (o.router() ? "router mode" : "single-model mode") +
           ", pid " + std::to_string(::getpid()));
  if (!shutdown_flag().sleep_for(o.start_delay)) return 0;
  if (o.has(Fault::crash_on_start)) crash("crash-on-start");
  auto server = std::make_unique<LlamaServer>(o, argv0);
  if (auto st = server->init_models(); !st) {
    log_raw("error: " + st.error().message);
    return 1;
  }
  return server->run();
}

}  // namespace gpumod::mock
