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

// Streams `chunks` (already SSE-framed) as chunked text/event-stream.
// A client that goes away is logged ("stream cancelled by the client after N of M chunks").
void stream_chunks(httplib::Response& res, std::vector<std::string> chunks) {
  auto shared = std::make_shared<std::vector<std::string>>(std::move(chunks));
  auto next = std::make_shared<std::size_t>(0);
  res.set_chunked_content_provider("text/event-stream",
                                   [shared, next](std::size_t, httplib::DataSink& sink) {
                                     if (*next < shared->size()) {
                                       if (*next > 0 && g_stream.chunk_delay.count() > 0 &&
                                           !shutdown_flag().sleep_for(g_stream.chunk_delay)) {
                                         return false;
                                       }
                                       if (g_stream.die_mid_stream && *next == shared->size() / 2 && *next > 0) {
                                         crash("die-mid-stream after " + std::to_string(*next) + " chunks");
                                       }
                                       const auto& c = (*shared)[(*next)++];
                                       if (!sink.write(c.data(), c.size())) {
                                         log_line("stream cancelled by the client after " + std::to_string(*next - 1) +
                                                  " of " + std::to_string(shared->size()) + " chunks");
                                         return false;
                                       }
                                       return true;
                                     }
                                     sink.done();
                                     return true;
                                   });
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

void answer_chat(const httplib::Request& req, httplib::Response& res, const std::string& model) {
  const json body = parse_body(req);
  const auto id = next_id("chatcmpl");
  const auto created = now_epoch_s();
  const auto words = reply_words(model);
  if (!wants_stream(body)) {
    json j = {{"id", id},
              {"object", "chat.completion"},
              {"created", created},
              {"model", model},
              {"choices",
               json::array({{{"index", 0},
                             {"message", {{"role", "assistant"}, {"content", reply_text(model)}}},
                             {"finish_reason", "stop"}}})},
              {"usage", {{"prompt_tokens", 8}, {"completion_tokens", words.size()}, {"total_tokens", 8 + words.size()}}}};
    send_json(res, 200, j.dump());
    return;
  }
  std::vector<std::string> chunks;
  auto chunk = [&](json delta, json finish) {
    json j = {{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", created},
              {"model", model},
              {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", std::move(finish)}}})}};
    chunks.push_back(sse(j));
  };
  chunk({{"role", "assistant"}, {"content", nullptr}}, nullptr);
  for (std::size_t i = 0; i < words.size(); ++i)
    chunk({{"content", (i ? " " : "") + words[i]}}, nullptr);
  chunk(json::object(), "stop");
  if (body.contains("stream_options") && body["stream_options"].is_object() &&
      body["stream_options"].value("include_usage", false)) {
    json u = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created}, {"model", model},
              {"choices", json::array()},
              {"usage", {{"prompt_tokens", 8}, {"completion_tokens", words.size()}, {"total_tokens", 8 + words.size()}}}};
    chunks.push_back(sse(u));
  }
  chunks.emplace_back("data: [DONE]\n\n");
  stream_chunks(res, std::move(chunks));
}

void answer_completions(const httplib::Request& req, httplib::Response& res, const std::string& model) {
  const json body = parse_body(req);
  const auto id = next_id("cmpl");
  const auto created = now_epoch_s();
  const auto words = reply_words(model);
  if (!wants_stream(body)) {
    json j = {{"id", id},
              {"object", "text_completion"},
              {"created", created},
              {"model", model},
              {"choices", json::array({{{"index", 0}, {"text", reply_text(model)}, {"finish_reason", "stop"}}})}};
    send_json(res, 200, j.dump());
    return;
  }
  std::vector<std::string> chunks;
  for (std::size_t i = 0; i < words.size(); ++i) {
    json j = {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model},
              {"choices", json::array({{{"index", 0}, {"text", (i ? " " : "") + words[i]},
                                        {"finish_reason", i + 1 == words.size() ? json("stop") : json(nullptr)}}})}};
    chunks.push_back(sse(j));
  }
  chunks.emplace_back("data: [DONE]\n\n");
  stream_chunks(res, std::move(chunks));
}

void answer_llama_completion(const httplib::Request& req, httplib::Response& res, const std::string& model) {
  const json body = parse_body(req);
  const auto words = reply_words(model);
  if (!wants_stream(body)) {
    json j = {{"content", reply_text(model)}, {"model", model}, {"stop", true}, {"tokens_predicted", words.size()}};
    send_json(res, 200, j.dump());
    return;
  }
  std::vector<std::string> chunks;
  for (std::size_t i = 0; i < words.size(); ++i)
    chunks.push_back(sse({{"content", (i ? " " : "") + words[i]}, {"stop", false}}));
  chunks.push_back(sse({{"content", ""}, {"model", model}, {"stop", true}, {"tokens_predicted", words.size()}}));
  stream_chunks(res, std::move(chunks));
}

void answer_embeddings(const httplib::Request& req, httplib::Response& res, const std::string& model) {
  const json body = parse_body(req);
  std::vector<std::string> inputs;
  if (body.contains("input")) {
    if (body["input"].is_string()) inputs.push_back(body["input"].get<std::string>());
    else if (body["input"].is_array())
      for (const auto& x : body["input"]) inputs.push_back(x.is_string() ? x.get<std::string>() : x.dump());
  }
  if (inputs.empty()) {
    send_error(res, 400, "'input' is required", "BadRequestError");
    return;
  }
  json data = json::array();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    // A deterministic 8-dimensional vector from the input's bytes.
    std::vector<double> v(8, 0.0);
    for (std::size_t k = 0; k < inputs[i].size(); ++k)
      v[k % 8] += static_cast<unsigned char>(inputs[i][k]) / 255.0;
    data.push_back({{"index", i}, {"object", "embedding"}, {"embedding", v}});
  }
  json j = {{"object", "list"}, {"data", data}, {"model", model},
            {"usage", {{"prompt_tokens", inputs.size()}, {"total_tokens", inputs.size()}}}};
  send_json(res, 200, j.dump());
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
