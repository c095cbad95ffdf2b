// Vocab-only GGUF files shaped like llama.cpp's models/ggml-vocab-*.gguf (no tensors; the header
// is a few architecture keys and a tokenizer of tens of thousands of tokens), written by the
// project's own GGUF writer. They exercise the same reader paths as the real vocab files: long
// string arrays (skipped by length, never kept), long typed arrays (f32 scores, i32 token types,
// above the kept-array limit), a string-array of merges, and a non-default alignment. Used by the
// tests and the fuzz/bench scripts so that nothing outside the repository is needed.
// Thread-safety: pure functions (write_vocab_gguf writes only its path).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gpumod/infra/gguf/reader.hpp"
#include "gpumod/util/result.hpp"

namespace gpumod::tools {

struct VocabSpec {
  std::string arch = "llama";          // general.architecture
  std::string tokenizer = "llama";     // tokenizer.ggml.model: llama (SPM) | gpt2 (BPE) | bert (WPM)
  std::uint32_t tokens = 32000;        // tokenizer.ggml.tokens length
  std::uint32_t merges = 0;            // tokenizer.ggml.merges length (BPE)
  std::uint32_t alignment = 32;        // general.alignment when not 32
  std::uint32_t version = 3;
};

// The metadata of a vocab-only file (keys like the real ones: general.*, <arch>.* shape keys,
// tokenizer.ggml.*). Deterministic for a given spec.
std::vector<infra::gguf::MetadataEntry> vocab_metadata(const VocabSpec& spec);

// Writes the vocab-only file. Errors: invalid_argument (tokens < 3, bad alignment), io.
util::Status write_vocab_gguf(const std::string& path, const VocabSpec& spec);

// The three shapes of llama.cpp's vocab files the tests used to read from ../shared:
// llama-spm (32,000 SPM tokens), phi-3 (32,064 SPM tokens, alignment 64), bert-bge
// (30,522 WPM tokens). name: "llama-spm" | "phi-3" | "bert-bge".
VocabSpec known_vocab(const std::string& name);

}  // namespace gpumod::tools
