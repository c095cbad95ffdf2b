// gpumod-mock-server: behaves like llama.cpp's llama-server (router or single model), like vLLM
// with sleep mode, or like a plain HTTP app, on a simulated GPU (see docs/mock-server.md).
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "gpumod/infra/gpu/sim_ledger.hpp"
#include "mock_server/flavors.hpp"
#include "mock_server/options.hpp"
#include "mock_server/runtime.hpp"

namespace {

using namespace gpumod::mock;

// Waits for SIGTERM/SIGINT (blocked in every thread) and shuts down gracefully; if the flavour
// has not finished within 200 ms (a real llama-server exits in ~0.2 s; httplib would wait out idle
// keep-alive connections for seconds), removes the ledger entry and exits 0 anyway.
void signal_thread(sigset_t set, std::filesystem::path ledger_dir) {
  int sig = 0;
  if (sigwait(&set, &sig) != 0) return;
  log_line(std::string("main: received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", shutting down");
  shutdown_flag().request();
  run_stop_hook();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  gpumod::infra::gpu::remove_ledger_entry(ledger_dir, static_cast<int>(::getpid()));
  log_line("main: forced exit after the shutdown grace period");
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  auto parsed = parse_options(args, [](const std::string& name) -> std::optional<std::string> {
    if (const char* v = std::getenv(name.c_str())) return std::string(v);
    return std::nullopt;
  });
  if (!parsed) {
    std::fprintf(stderr, "%s\n", parsed.error().message.c_str());
    return parsed.error().exit_code;
  }
  Options o = std::move(*parsed);
  if (o.ledger_dir.empty()) o.ledger_dir = gpumod::infra::gpu::default_ledger_dir();
  set_stream_options(o);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  std::thread(signal_thread, set, o.ledger_dir).detach();

  if (o.has(Fault::crash_after)) {
    std::thread([ms = o.crash_after] {
      if (shutdown_flag().sleep_for(ms)) crash("crash-after-ms=" + std::to_string(ms.count()));
    }).detach();
  }

  configure_generation(o);
  switch (o.flavor) {
    case Flavor::vllm: return run_vllm(o);
    case Flavor::http: return run_http(o);
    case Flavor::llama: break;
  }
  return run_llama(o, args.empty() ? "llama-server" : args[0]);
}
