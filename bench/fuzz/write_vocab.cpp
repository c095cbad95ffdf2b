// Writes the vocab-only GGUF files the fuzz corpus and the parse bench start from, with the
// project's own writer (tools/make_model/vocab_builder), so the scripts need nothing outside the
// repository. Usage: write_vocab OUT_DIR  (writes ggml-vocab-{llama-spm,phi-3,bert-bge,gpt2-bpe}.gguf)
#include <cstdio>
#include <string>

#include "tools/make_model/vocab_builder.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: write_vocab OUT_DIR\n");
    return 2;
  }
  for (const char* name : {"llama-spm", "phi-3", "bert-bge", "gpt2-bpe"}) {
    const std::string path = std::string(argv[1]) + "/ggml-vocab-" + name + ".gguf";
    if (auto st = gpumod::tools::write_vocab_gguf(path, gpumod::tools::known_vocab(name)); !st) {
      std::fprintf(stderr, "write_vocab: %s: %s\n", path.c_str(), st.error().message.c_str());
      return 9;
    }
  }
  return 0;
}
