#!/usr/bin/env bash
# Builds and runs the GGUF parse-time bench on the shared vocab files (Release).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${GPUMOD_BENCH_DIR:-$root/build-fuzz}"
mkdir -p "$out"
g++ -std=c++23 -O2 -I"$root/src" "$root/bench/fuzz/gguf_parse_bench.cpp" \
  "$root"/src/gpumod/core/ggml_types.cpp "$root"/src/gpumod/util/strings.cpp \
  "$root"/src/gpumod/util/result.cpp "$root"/src/gpumod/infra/gguf/byte_source.cpp \
  "$root"/src/gpumod/infra/gguf/reader.cpp -lfmt -o "$out/gguf_parse_bench"
"$out/gguf_parse_bench" "$root"/../shared/testdata/gguf/*.gguf
