#!/usr/bin/env bash
# Builds and runs the GGUF parse-time bench on the vocab files (Release): llama.cpp's in ../shared
# when present, else ones of the same shapes written by gpumod's writer (bench/fuzz/vocab_files.sh).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${GPUMOD_BENCH_DIR:-$root/build-fuzz}"
mkdir -p "$out"
g++ -std=c++23 -O2 -I"$root/src" "$root/bench/fuzz/gguf_parse_bench.cpp" \
  "$root"/src/gpumod/core/ggml_types.cpp "$root"/src/gpumod/util/strings.cpp \
  "$root"/src/gpumod/util/result.cpp "$root"/src/gpumod/infra/gguf/byte_source.cpp \
  "$root"/src/gpumod/infra/gguf/reader.cpp -lfmt -o "$out/gguf_parse_bench"
vocab="$(bash "$root/bench/fuzz/vocab_files.sh" "$out")"
"$out/gguf_parse_bench" "$vocab"/*.gguf
