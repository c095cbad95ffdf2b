// libFuzzer target for the GGUF reader: any input must give a GgufFile or a clean Error, never a
// crash, a hang or a huge allocation. The model-shape extraction runs on whatever parses.
// Build and run: bench/fuzz/run_fuzz.sh [seconds]
#include <cstddef>
#include <cstdint>
#include <span>

#include "gpumod/infra/gguf/model_info.hpp"
#include "gpumod/infra/gguf/reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace gpumod::infra::gguf;
  MemoryByteSource src(std::as_bytes(std::span(data, size)), "<fuzz>");
  auto f = read_gguf(src);
  if (f) {
    (void)model_shape_from_gguf(*f);
    (void)quant_label(*f, "x-Q4_K_M.gguf");
  }
  return 0;
}
