// Times read_gguf_file on the given files (default: the shared vocab GGUFs). Not a test.
// Build and run: bench/fuzz/run_bench.sh
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "gpumod/infra/gguf/reader.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> files(argv + 1, argv + argc);
  constexpr int k_runs = 50;
  for (const auto& path : files) {
    auto first = gpumod::infra::gguf::read_gguf_file(path);
    if (!first) {
      std::fprintf(stderr, "%s\n", first.error().message.c_str());
      return 1;
    }
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < k_runs; ++i) (void)gpumod::infra::gguf::read_gguf_file(path);
    const auto t1 = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count() / k_runs;
    std::printf("%-40s %8.3f ms/parse  (%zu keys, %llu bytes)\n",
                path.substr(path.rfind('/') + 1).c_str(), ms, first->metadata.size(),
                static_cast<unsigned long long>(first->file_bytes));
  }
  return 0;
}
