// Shared pieces of gpumod-mock-server: timestamped logging to stderr, the simulated-GPU ledger
// entry of this process, the shutdown flag, OpenAI-shaped error bodies, deterministic chat
// replies, and running an httplib server on the configured address.
// Thread-safety: log_line, Ledger and Shutdown may be used from any thread. Headers of httplib
// and nlohmann are only forward-declared here.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "mock_server/options.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace gpumod::mock {

// "2026-11-24T12:00:00.123Z mock: <text>" to stderr, one line, flushed.
void log_line(std::string_view text);
// The text as is (no timestamp), flushed: for llama-server-like buffer lines.
void log_raw(std::string_view text);

// Prints the llama-server buffer lines (model / KV / compute, CUDA0) that sum to total_mib.
// `prefix` goes in front of each line (e.g. "[model-id] " in router mode).
void log_buffer_lines(std::string_view prefix, std::int64_t total_mib);

// Ends the process as a crash would (SIGABRT, no core file).
[[noreturn]] void crash(std::string_view why);

// The ledger entry of this process: the memory it "uses" on the simulated GPU.
class Ledger {
 public:
  Ledger(std::filesystem::path dir, std::string name);
  void set(std::int64_t used_mib);  // 0 removes the entry
  void release();
  std::int64_t used_mib() const { return m_used.load(); }

 private:
  std::filesystem::path m_dir;
  std::string m_name;
  std::mutex m_mutex;
  std::atomic<std::int64_t> m_used{0};
};

// Process-wide stop request (SIGTERM/SIGINT): waits that must end early watch it.
class Shutdown {
 public:
  void request();
  bool requested() const { return m_requested.load(); }
  // Sleeps for `d` or until a shutdown is requested; false when a shutdown cut it short.
  bool sleep_for(std::chrono::milliseconds d);

 private:
  std::atomic<bool> m_requested{false};
  std::mutex m_mutex;
  std::condition_variable m_cv;
};

Shutdown& shutdown_flag();

// What the signal handler thread calls after shutdown_flag().request(): stops the running server
// and wakes its workers. Set by the flavour once its server exists; cleared before it is destroyed.
void set_stop_hook(std::function<void()> hook);
void run_stop_hook();

// {"error":{"code":N,"message":M,"type":T}} with that HTTP status.
void send_error(httplib::Response& res, int status, std::string_view message, std::string_view type);
void send_json(httplib::Response& res, int status, const std::string& body);
// Broken JSON (the malformed-json fault).
void send_malformed(httplib::Response& res);

// How answers stream (--mock-chunk-delay-ms, --mock-reply-words, the die-mid-stream fault); set
// once at start, before the server runs.
void set_stream_options(const Options& o);

// The deterministic reply text of the mock.
std::string reply_text(std::string_view model);

// Sets the generation timing (--mock-ttft-ms, --mock-prompt-tps, --mock-gen-tps) and the
// error-after-requests fault for the answers below; call once before the server starts.
void configure_generation(const Options& o);

// The mock's tokenizer: one token per whitespace-separated word (a hash of it); "t<id>" words,
// as mock_detokenize writes them, come back as that id, so a detokenized prompt keeps its count.
std::vector<int> mock_tokenize(std::string_view text);
std::string mock_detokenize(const std::vector<int>& tokens);

// POST /v1/chat/completions, /v1/completions, /completion: answers (streamed or not) for `model`.
// "n_predict" / "max_tokens" give exactly that many tokens; the prompt is text or token ids;
// llama-server's "timings" (measured by the mock) come with the answer, not with vLLM's.
void answer_chat(const httplib::Request& req, httplib::Response& res, const std::string& model);
void answer_completions(const httplib::Request& req, httplib::Response& res, const std::string& model);
void answer_llama_completion(const httplib::Request& req, httplib::Response& res, const std::string& model);
void answer_embeddings(const httplib::Request& req, httplib::Response& res, const std::string& model);
// POST /tokenize, /detokenize (llama-server: "content"; vLLM: "prompt", with "count").
void answer_tokenize(const httplib::Request& req, httplib::Response& res, bool vllm);
void answer_detokenize(const httplib::Request& req, httplib::Response& res, bool vllm);

// Gives the server only SO_REUSEADDR (httplib's default sets SO_REUSEPORT, which would let a second
// server bind a port already in use), a JSON 404 for unknown paths, idle keep-alive connections
// closed after 1 s (so SIGTERM is not held up by a client's idle connection), and binds host:port.
// Returns false (after logging) when the port cannot be bound.
bool prepare_and_bind(httplib::Server& server, const Options& o, std::string_view bind_error_line);

// With --mock-ready-file: writes "<CLOCK_REALTIME ns> <CLOCK_MONOTONIC ns>\n" to that file
// (atomically: temp file + rename) at the moment the server is ready. No-op otherwise.
void mark_ready(const Options& o);

// Epoch seconds now.
std::int64_t now_epoch_s();

}  // namespace gpumod::mock
