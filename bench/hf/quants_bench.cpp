// Benchmark: `model quants` (engine::quant_table) for a repo of 20 GGUF files against the
// loopback FakeHub with 50 ms added to every request: cold (empty cache) and cached (same cache,
// new client). Prints both times, their ratio and the machine. Build and run: bench/hf/run_bench.sh
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "gpumod/engine/hf_models.hpp"
#include "support/fake_hub.hpp"

namespace fs = std::filesystem;
using namespace gpumod;

static std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  }
  return "unknown";
}

int main() {
  char tmpl[] = "/tmp/gpumod-hf-bench-XXXXXX";
  const fs::path dir = ::mkdtemp(tmpl);
  const char* labels[] = {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_M", "Q2_K", "Q2_K_L", "IQ3_XXS", "Q3_K_S",
                          "Q3_K_M", "Q3_K_L", "IQ4_XS", "IQ4_NL", "Q4_0", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M",
                          "Q6_K", "Q8_0"};
  test_support::FakeHubRepo repo;
  repo.id = "bench/Nemotron-like-GGUF";
  repo.sha = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
  std::uint64_t bytes = 9'000'000'000ULL;
  for (const char* l : labels) {
    const auto paths = test_support::write_nemotron_like_gguf(dir / "files", std::string("Nemotron-") + l + ".gguf", bytes);
    repo.files.push_back({paths.at(0).filename().string(), paths.at(0), "", "", true});
    bytes += 1'200'000'000ULL;
  }
  test_support::FakeHub hub;
  hub.add_repo(repo);
  hub.set_latency(std::chrono::milliseconds(50));

  infra::hf::HubSettings s;
  s.endpoint = hub.endpoint();
  s.cache_dir = dir / "cache";
  engine::QuantTableOptions o;
  o.estimate.context_size = 8192;
  o.budget_mib = 22064;
  auto run = [&](const char* what) {
    infra::hf::HubClient client(s);
    hub.reset_counters();
    const auto t0 = std::chrono::steady_clock::now();
    auto t = engine::quant_table(client, repo.id, "main", o);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!t) {
      std::fprintf(stderr, "%s: %s\n", what, t.error().message.c_str());
      std::exit(1);
    }
    std::printf("%-7s %8.1f ms  %3llu requests  %6.2f MiB of files read  %zu quants\n", what, ms,
                static_cast<unsigned long long>(hub.requests()), static_cast<double>(hub.file_bytes_served()) / 1048576.0,
                t->rows.size());
    return ms;
  };
  std::printf("machine: %u CPUs (nproc), %s\n", std::thread::hardware_concurrency(), cpu_model().c_str());
  std::printf("repo: 20 GGUF files (9-32 GB, sparse), 50 ms added per request, 4 headers read at once\n");
  const double cold = run("cold");
  const double cached = run("cached");
  std::printf("ratio cold/cached: %.1fx\n", cached > 0 ? cold / cached : 0.0);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
