#include "mock_server/runtime.hpp"

#include <httplib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <thread>

#include "gpumod/infra/gpu/sim_ledger.hpp"
#include "gpumod/util/strings.hpp"

namespace gpumod::mock {

using json = nlohmann::json;

namespace {
std::mutex g_log_mutex;

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const auto t = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

struct StreamOptions {
  std::chrono::milliseconds chunk_delay{0};
  int reply_words = 0;
  bool die_mid_stream = false;
};
StreamOptions g_stream;

std::vector<std::string> reply_words(std::string_view model) {
  if (g_stream.reply_words > 0) {
    std::vector<std::string> words;
    for (int i = 0; i < g_stream.reply_words; ++i) words.push_back("w" + std::to_string(i));
    return words;
  }
  return util::split("Hello from gpumod-mock-server, model " + std::string(model) + ".", ' ');
}

std::string sse(const json& j) { return "data: " + j.dump() + "\n\n"; }

bool wants_stream(const json& body) { return body.is_object() && body.value("stream", false); }

json parse_body(const httplib::Request& req) {
  json body = json::parse(req.body, nullptr, false);
  return body.is_discarded() ? json::object() : body;
}

std::int64_t g_completion_counter = 0;
std::mutex g_counter_mutex;
std::string next_id(std::string_view prefix) {
  std::lock_guard lock(g_counter_mutex);
  return std::string(prefix) + "-mock-" + std::to_string(++g_completion_counter);
}

}  // namespace

void log_line(std::string_view text) {
  std::lock_guard lock(g_log_mutex);
  std::fprintf(stderr, "%s mock: %.*s\n", timestamp().c_str(), static_cast<int>(text.size()), text.data());
  std::fflush(stderr);
}

void log_raw(std::string_view text) {
  std::lock_guard lock(g_log_mutex);
  std::fprintf(stderr, "%.*s\n", static_cast<int>(text.size()), text.data());
  std::fflush(stderr);
}

void log_buffer_lines(std::string_view prefix, std::int64_t total_mib) {
  // Hundredths of MiB, so that the three printed figures sum exactly to total_mib.
  const std::int64_t total_c = total_mib * 100;
  const std::int64_t kv_c = total_c * 6 / 100;
  const std::int64_t compute_c = total_c * 25 / 1000;
  const std::int64_t model_c = total_c - kv_c - compute_c;
  auto fmt = [](std::int64_t c) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%5lld.%02lld", static_cast<long long>(c / 100), static_cast<long long>(c % 100));
    return std::string(buf);
  };
  const std::string p(prefix);
  log_raw(p + "load_tensors: offloading all layers to GPU");
  log_raw(p + "load_tensors:        CUDA0 model buffer size = " + fmt(model_c) + " MiB");
  log_raw(p + "llama_kv_cache:      CUDA0 KV buffer size = " + fmt(kv_c) + " MiB");
  log_raw(p + "llama_context:      CUDA0 compute buffer size = " + fmt(compute_c) + " MiB");
}

void crash(std::string_view why) {
  log_line("fatal: " + std::string(why) + " (mock crash: SIGABRT)");
  rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  std::signal(SIGABRT, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGABRT);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  std::abort();
}

Ledger::Ledger(std::filesystem::path dir, std::string name) : m_dir(std::move(dir)), m_name(std::move(name)) {}

void Ledger::set(std::int64_t used_mib) {
  std::lock_guard lock(m_mutex);
  m_used = used_mib;
  if (auto st = infra::gpu::write_ledger_entry(m_dir, static_cast<int>(::getpid()), used_mib, m_name); !st)
    log_line("warning: simulated GPU ledger: " + st.error().message);
}

void Ledger::release() {
  std::lock_guard lock(m_mutex);
  m_used = 0;
  infra::gpu::remove_ledger_entry(m_dir, static_cast<int>(::getpid()));
}

void Shutdown::request() {
  {
    std::lock_guard lock(m_mutex);
    m_requested = true;
  }
  m_cv.notify_all();
}

bool Shutdown::sleep_for(std::chrono::milliseconds d) {
  std::unique_lock lock(m_mutex);
  return !m_cv.wait_for(lock, d, [this] { return m_requested.load(); });
}

Shutdown& shutdown_flag() {
  static Shutdown s;
  return s;
}

namespace {
std::mutex g_hook_mutex;
std::function<void()> g_stop_hook;
}  // namespace

void set_stop_hook(std::function<void()> hook) {
  std::lock_guard lock(g_hook_mutex);
  g_stop_hook = std::move(hook);
}

namespace {

// cpp-httplib 0.11 keeps a worker in its keep-alive wait (5 s) even after Server::stop(), so a
// client holding an idle keep-alive connection (the gpumod daemon does) delayed every shutdown to
// the 2 s forced exit. Real servers (uvicorn, llama-server's newer httplib) drop idle connections
// at shutdown; so does the mock: it shuts the reading side of every accepted TCP connection, which
// wakes those waits (EOF) and lets a response in progress still be written.
void end_idle_connections() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    int fd = -1;
    try {
      fd = std::stoi(e.path().filename().string());
    } catch (...) {
      continue;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    int listening = 0;
    int domain = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || listening) continue;
    len = sizeof domain;
    if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 || (domain != AF_INET && domain != AF_INET6)) continue;
    ::shutdown(fd, SHUT_RD);
  }
}

}  // namespace

void run_stop_hook() {
  std::lock_guard lock(g_hook_mutex);
  if (g_stop_hook) {
    g_stop_hook();
    end_idle_connections();
  }
}

void send_error(httplib::Response& res, int status, std::string_view message, std::string_view type) {
  json j = {{"error", {{"code", status}, {"message", message}, {"type", type}}}};
  send_json(res, status, j.dump());
}

void send_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json; charset=utf-8");
}

void send_malformed(httplib::Response& res) {
  res.status = 200;
  res.set_content(R"({"object":"list","data":[{"id":"broken",)", "application/json; charset=utf-8");
}

void set_stream_options(const Options& o) {
  g_stream.chunk_delay = o.chunk_delay;
  g_stream.reply_words = o.reply_words;
  g_stream.die_mid_stream = o.has(Fault::die_mid_stream);
}

std::string reply_text(std::string_view model) {
  return util::join(reply_words(model), " ");
}

void mark_ready(const Options& o) {
  if (o.ready_file.empty()) return;
  timespec real{};
  timespec mono{};
  ::clock_gettime(CLOCK_REALTIME, &real);
  ::clock_gettime(CLOCK_MONOTONIC, &mono);
  const auto ns = [](const timespec& t) { return static_cast<long long>(t.tv_sec) * 1000000000LL + t.tv_nsec; };
  const std::string tmp = o.ready_file.string() + ".tmp";
  if (std::FILE* f = std::fopen(tmp.c_str(), "w")) {
    std::fprintf(f, "%lld %lld\n", ns(real), ns(mono));
    std::fclose(f);
    std::rename(tmp.c_str(), o.ready_file.c_str());
  }
}

std::int64_t now_epoch_s() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

// Generation timing and faults of this process (configure_generation, before the server starts).
struct GenerationSettings {
  std::chrono::milliseconds ttft{0};
  std::int64_t prompt_tps = 0;
  std::int64_t gen_tps = 0;
  bool llama_timings = true;       // llama-server returns "timings"; vLLM does not
  bool error_fault = false;
  int error_after = 0;
};
GenerationSettings g_gen;
std::atomic<int> g_generation_requests{0};

using Mono = std::chrono::steady_clock;

// Sleeps `d` (sub-millisecond precision), in slices so a shutdown is not held up.
void pause_for(std::chrono::microseconds d) {
  const auto end = Mono::now() + d;
  while (!shutdown_flag().requested()) {
    const auto left = end - Mono::now();
    if (left <= Mono::duration::zero()) return;
    std::this_thread::sleep_for(std::min<Mono::duration>(left, std::chrono::milliseconds(50)));
  }
}

std::chrono::microseconds per_tokens(std::int64_t n, std::int64_t tps) {
  if (tps <= 0 || n <= 0) return std::chrono::microseconds(0);
  return std::chrono::microseconds(n * 1000000 / tps);
}

double ms_between(Mono::time_point a, Mono::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::int64_t tokens_of(const json& prompt) {
  if (prompt.is_string()) return static_cast<std::int64_t>(mock_tokenize(prompt.get<std::string>()).size());
  if (prompt.is_array()) {
    if (!prompt.empty() && (prompt[0].is_array() || prompt[0].is_string())) return tokens_of(prompt[0]);
    return static_cast<std::int64_t>(prompt.size());  // token ids
  }
  return 0;
}

// Prompt tokens of a request: "prompt" (text or token ids) or chat "messages" (their words, plus
// 4 tokens of template per message).
std::int64_t prompt_tokens(const json& body) {
  if (body.contains("prompt")) return tokens_of(body["prompt"]);
  std::int64_t n = 0;
  if (body.contains("messages") && body["messages"].is_array()) {
    for (const auto& m : body["messages"]) {
      n += 4;
      if (m.is_object() && m.contains("content") && m["content"].is_string())
        n += static_cast<std::int64_t>(mock_tokenize(m["content"].get<std::string>()).size());
    }
  }
  return n;
}

// Tokens asked for (n_predict, max_tokens, max_completion_tokens); -1 when none.
std::int64_t requested_tokens(const json& body) {
  for (const char* key : {"n_predict", "max_tokens", "max_completion_tokens"}) {
    if (body.contains(key) && body[key].is_number_integer()) {
      const auto v = body[key].get<std::int64_t>();
      if (v >= 0) return std::min<std::int64_t>(v, 100000);
    }
  }
  return -1;
}

// True (and the 500 sent) when the error-after-requests fault says this request fails.
bool fault_refuses(httplib::Response& res) {
  const int n = ++g_generation_requests;
  if (g_gen.error_fault && n > g_gen.error_after) {
    send_error(res, 500, "mock fault: error-after-requests", "server_error");
    return true;
  }
  return false;
}

// One generation: the prompt is processed, then tokens come one at a time, with the configured
// delays; the timings are what the mock measured on its own clock, as llama-server reports them.
struct Generation {
  std::int64_t prompt_n = 0;
  std::vector<std::string> pieces;
  bool length_limited = false;
  Mono::time_point prompt_start, gen_start, gen_end;

  Generation(const json& body, std::string_view model) {
    prompt_n = prompt_tokens(body);
    const auto words = reply_words(model);
    const auto want = requested_tokens(body);
    const std::int64_t n = want >= 0 ? want : static_cast<std::int64_t>(words.size());
    length_limited = want >= 0;
    for (std::int64_t i = 0; i < n; ++i) pieces.push_back((i ? " " : "") + words[static_cast<std::size_t>(i) % words.size()]);
  }
  void prefill() {
    pause_for(std::chrono::duration_cast<std::chrono::microseconds>(g_gen.ttft));
    prompt_start = Mono::now();
    pause_for(per_tokens(prompt_n, g_gen.prompt_tps));
    gen_start = Mono::now();
    gen_end = gen_start;
  }
  void token() {
    pause_for(per_tokens(1, g_gen.gen_tps));
    gen_end = Mono::now();
  }
  std::string text() const { return util::join(pieces, ""); }
  json timings() const {
    const double pms = ms_between(prompt_start, gen_start);
    const double gms = ms_between(gen_start, gen_end);
    const auto n = static_cast<double>(pieces.size());
    const auto pn = static_cast<double>(prompt_n);
    return {{"prompt_n", prompt_n},
            {"prompt_ms", pms},
            {"prompt_per_token_ms", pn > 0 ? pms / pn : 0.0},
            {"prompt_per_second", pms > 0 ? pn * 1000.0 / pms : 0.0},
            {"predicted_n", pieces.size()},
            {"predicted_ms", gms},
            {"predicted_per_token_ms", n > 0 ? gms / n : 0.0},
            {"predicted_per_second", gms > 0 ? n * 1000.0 / gms : 0.0}};
  }
  json usage() const {
    return {{"prompt_tokens", prompt_n}, {"completion_tokens", pieces.size()},
            {"total_tokens", prompt_n + static_cast<std::int64_t>(pieces.size())}};
  }
  const char* finish_reason() const { return length_limited ? "length" : "stop"; }
};

// Streams a generation: `token_chunk(i)` per token after the prefill, then `tail()` (the final
// SSE events), each built when it is sent.
void stream_generation(httplib::Response& res, std::shared_ptr<Generation> g,
                       std::function<std::string(std::size_t)> token_chunk, std::function<std::string()> head,
                       std::function<std::string()> tail) {
  auto next = std::make_shared<std::size_t>(0);
  auto started = std::make_shared<bool>(false);
  res.set_chunked_content_provider(
      "text/event-stream", [g, next, started, token_chunk, head, tail](std::size_t, httplib::DataSink& sink) {
        std::string out;
        if (!*started) {
          *started = true;
          g->prefill();
          if (head) out = head();
        }
        if (*next < g->pieces.size()) {
          // --mock-chunk-delay-ms between chunks; die-mid-stream aborts after half of them.
          if (*next > 0 && g_stream.chunk_delay.count() > 0 && !shutdown_flag().sleep_for(g_stream.chunk_delay)) {
            return false;
          }
          if (g_stream.die_mid_stream && *next > 0 && *next == g->pieces.size() / 2) {
            crash("die-mid-stream after " + std::to_string(*next) + " chunks");
          }
          g->token();
          out += token_chunk((*next)++);
          if (!sink.write(out.data(), out.size())) {
            log_line("stream cancelled by the client after " + std::to_string(*next - 1) + " of " +
                     std::to_string(g->pieces.size()) + " chunks");
            return false;
          }
          return true;
        }
        if (*next == g->pieces.size()) {
          ++*next;
          out += tail();
          if (!sink.write(out.data(), out.size())) return false;
        }
        sink.done();
        return true;
      });
}

bool include_usage(const json& body) {
  return body.contains("stream_options") && body["stream_options"].is_object() &&
         body["stream_options"].value("include_usage", false);
}

}  // namespace

void configure_generation(const Options& o) {
  g_gen.ttft = o.ttft;
  g_gen.prompt_tps = o.prompt_tps;
  g_gen.gen_tps = o.gen_tps;
  g_gen.llama_timings = o.flavor != Flavor::vllm;
  g_gen.error_fault = o.has(Fault::error_after_requests);
  g_gen.error_after = o.error_after_requests;
}

std::vector<int> mock_tokenize(std::string_view text) {
  std::vector<int> out;
  for (const auto& word : util::split(std::string(text), ' ')) {
    const auto w = util::trim(word);
    if (w.empty()) continue;
    if (w.size() > 1 && w[0] == 't' && std::all_of(w.begin() + 1, w.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        w.size() < 9) {
      out.push_back(std::stoi(std::string(w.substr(1))));  // a detokenized id comes back as itself
      continue;
    }
    std::uint32_t h = 2166136261u;
    for (char c : w) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
    out.push_back(100 + static_cast<int>(h % 30000u));
  }
  return out;
}

std::string mock_detokenize(const std::vector<int>& tokens) {
  std::string out;
  for (std::size_t i = 0; i < tokens.size(); ++i) out += (i ? " t" : "t") + std::to_string(tokens[i]);
  return out;
}

void answer_chat(const httplib::Request& req, httplib::Response& res, const std::string& model) {
  const json body = parse_body(req);
  if (fault_refuses(res)) return;
  const auto id = next_id("chatcmpl");
  const auto created = now_epoch_s();
  auto g = std::make_shared<Generation>(body, model);
  auto chunk = [id, created, model](json delta, json finish) {
    return json{{"id", id},
                {"object", "chat.completion.chunk"},
                {"created", created},
                {"model", model},
                {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", std::move(finish)}}})}};
  };
  if (!wants_stream(body)) {
    g->prefill();
    for (std::size_t i = 0; i < g->pieces.size(); ++i) g->token();
    json j = {{"id", id},
              {"object", "chat.completion"},
              {"created", created},
              {"model", model},
              {"choices",
               json::array({{{"index", 0},
                             {"message", {{"role", "assistant"}, {"content", g->text()}}},
                             {"finish_reason", g->finish_reason()}}})},
              {"usage", g->usage()}};
    if (g_gen.llama_timings) j["timings"] = g->timings();
    send_json(res, 200, j.dump());
    return;
  }
  const bool usage = include_usage(body);
  stream_generation(
      res, g, [g, chunk](std::size_t i) { return sse(chunk({{"content", g->pieces[i]}}, nullptr)); },
      [chunk] { return sse(chunk({{"role", "assistant"}, {"content", nullptr}}, nullptr)); },
      [g, chunk, usage] {
        json last = chunk(json::object(), g->finish_reason());
        if (g_gen.llama_timings) last["timings"] = g->timings();
        std::string out = sse(last);
        if (usage) {
          json u = chunk(json::object(), nullptr);
          u["choices"] = json::array();
          u["usage"] = g->usage();
          out += sse(u);
        }
        return out + "data: [DONE]\n\n";
      });
}

void answer_completions(const httplib::Request& req, httplib::Response& res, const std::string& model) {
  const json body = parse_body(req);
  if (fault_refuses(res)) return;
  const auto id = next_id("cmpl");
  const auto created = now_epoch_s();
  auto g = std::make_shared<Generation>(body, model);
  if (!wants_stream(body)) {
    g->prefill();
    for (std::size_t i = 0; i < g->pieces.size(); ++i) g->token();
    json j = {{"id", id},
              {"object", "text_completion"},
              {"created", created},
              {"model", model},
              {"choices", json::array({{{"index", 0}, {"text", g->text()}, {"finish_reason", g->finish_reason()}}})},
              {"usage", g->usage()}};
    if (g_gen.llama_timings) j["timings"] = g->timings();
    send_json(res, 200, j.dump());
    return;
  }
  const bool usage = include_usage(body);
  auto chunk = [id, created, model](json text, json finish) {
    return json{{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
                {"choices", json::array({{{"index", 0}, {"text", std::move(text)}, {"finish_reason", std::move(finish)}}})}};
  };
  stream_generation(
      res, g, [g, chunk](std::size_t i) { return sse(chunk(g->pieces[i], nullptr)); }, nullptr,
      [g, chunk, usage] {
        json last = chunk("", g->finish_reason());
        if (g_gen.llama_timings) last["timings"] = g->timings();
        std::string out = sse(last);
        if (usage) {
          json u = chunk("", nullptr);
          u["choices"] = json::array();
          u["usage"] = g->usage();
          out += sse(u);
        }
        return out + "data: [DONE]\n\n";
      });
}

void answer_llama_completion(const httplib::Request& req, httplib::Response& res, const std::string& model) {
  const json body = parse_body(req);
  if (fault_refuses(res)) return;
  auto g = std::make_shared<Generation>(body, model);
  auto final_chunk = [g, model] {
    return json{{"content", ""}, {"model", model}, {"stop", true},
                {"tokens_predicted", g->pieces.size()}, {"tokens_evaluated", g->prompt_n},
                {"stop_type", g->length_limited ? "limit" : "eos"}, {"timings", g->timings()}};
  };
  if (!wants_stream(body)) {
    g->prefill();
    for (std::size_t i = 0; i < g->pieces.size(); ++i) g->token();
    json j = final_chunk();
    j["content"] = g->text();
    send_json(res, 200, j.dump());
    return;
  }
  stream_generation(
      res, g, [g](std::size_t i) { return sse({{"content", g->pieces[i]}, {"stop", false}}); }, nullptr,
      [final_chunk] { return sse(final_chunk()); });
}

void answer_embeddings(const httplib::Request& req, httplib::Response& res, const std::string& model) {
  const json body = parse_body(req);
  // Inputs: a text, token ids (one input), or an array of texts / of token-id arrays.
  std::vector<json> inputs;
  if (body.contains("input")) {
    const json& in = body["input"];
    if (in.is_string()) inputs.push_back(in);
    else if (in.is_array() && !in.empty() && in[0].is_number_integer()) inputs.push_back(in);
    else if (in.is_array())
      for (const auto& x : in) inputs.push_back(x);
  }
  if (inputs.empty()) {
    send_error(res, 400, "'input' is required", "BadRequestError");
    return;
  }
  if (fault_refuses(res)) return;
  std::int64_t tokens = 0;
  for (const auto& x : inputs) tokens += tokens_of(x);
  pause_for(std::chrono::duration_cast<std::chrono::microseconds>(g_gen.ttft) + per_tokens(tokens, g_gen.prompt_tps));
  json data = json::array();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    // A deterministic 8-dimensional vector from the input's bytes.
    const std::string bytes = inputs[i].is_string() ? inputs[i].get<std::string>() : inputs[i].dump();
    std::vector<double> v(8, 0.0);
    for (std::size_t k = 0; k < bytes.size(); ++k)
      v[k % 8] += static_cast<unsigned char>(bytes[k]) / 255.0;
    data.push_back({{"index", i}, {"object", "embedding"}, {"embedding", v}});
  }
  json j = {{"object", "list"}, {"data", data}, {"model", model},
            {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
  send_json(res, 200, j.dump());
}

void answer_tokenize(const httplib::Request& req, httplib::Response& res, bool vllm) {
  const json body = parse_body(req);
  const char* key = vllm ? "prompt" : "content";
  if (!body.contains(key) || !body[key].is_string())
    return send_error(res, 400, std::string("'") + key + "' is required", "invalid_request_error");
  const auto tokens = mock_tokenize(body[key].get<std::string>());
  json j = {{"tokens", tokens}};
  if (vllm) {
    j["count"] = tokens.size();
    j["max_model_len"] = 4096;
  }
  send_json(res, 200, j.dump());
}

void answer_detokenize(const httplib::Request& req, httplib::Response& res, bool vllm) {
  const json body = parse_body(req);
  if (!body.contains("tokens") || !body["tokens"].is_array())
    return send_error(res, 400, "'tokens' is required", "invalid_request_error");
  std::vector<int> tokens;
  for (const auto& t : body["tokens"]) {
    if (!t.is_number_integer()) return send_error(res, 400, "'tokens' must be integers", "invalid_request_error");
    tokens.push_back(t.get<int>());
  }
  send_json(res, 200, json{{vllm ? "prompt" : "content", mock_detokenize(tokens)}}.dump());
}

bool prepare_and_bind(httplib::Server& server, const Options& o, std::string_view bind_error_line) {
  server.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // No Nagle delay: httplib writes headers and body separately, and with Nagle the body waited
  // for the client's delayed ACK (about 40 ms per response). llama-server builds httplib with
  // CPPHTTPLIB_TCP_NODELAY, and uvicorn (vLLM) sets TCP_NODELAY too.
  server.set_tcp_nodelay(true);
  // --mock-threads: as many workers as the benchmark has connections (httplib keeps a worker per
  // keep-alive connection; its default of 8 would starve the others).
  if (o.threads > 0) {
    const int n = o.threads;
    server.new_task_queue = [n] { return new httplib::ThreadPool(static_cast<std::size_t>(n)); };
  }
  // An idle keep-alive connection is closed after 1 s instead of httplib's 5 s: a worker waiting
  // on one held SIGTERM up until the forced exit (2 s grace) whenever a client (gpumod's pooled
  // HTTP client) kept a connection open. (Not 0: httplib applies the same wait to a new
  // connection's first request, which a busy machine may not deliver within 10 ms.)
  server.set_keep_alive_timeout(1);
  server.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.status == 404 && res.body.empty()) send_error(res, 404, "File Not Found", "not_found_error");
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    send_error(res, 500, "internal error in the mock server", "server_error");
  });
  if (o.has(Fault::refuse_bind) || !server.bind_to_port(o.host, o.port)) {
    log_raw(bind_error_line);
    return false;
  }
  return true;
}

}  // namespace gpumod::mock
