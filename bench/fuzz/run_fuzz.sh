#!/usr/bin/env bash
# Builds the GGUF reader fuzz target (libFuzzer + ASan/UBSan) and runs it for a bounded
# time (default 60 s) on a copy of the seed corpus. Not part of `make test`.
# Usage: bench/fuzz/run_fuzz.sh [seconds]
set -euo pipefail
secs="${1:-60}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${GPUMOD_FUZZ_DIR:-$root/build-fuzz}"
mkdir -p "$out/corpus"
bash "$root/bench/fuzz/make_corpus.sh" "$out/corpus"
srcs=("$root"/src/gpumod/core/ggml_types.cpp "$root"/src/gpumod/core/model_shape.cpp
      "$root"/src/gpumod/util/strings.cpp "$root"/src/gpumod/util/result.cpp
      "$root"/src/gpumod/infra/gguf/byte_source.cpp "$root"/src/gpumod/infra/gguf/reader.cpp
      "$root"/src/gpumod/infra/gguf/model_info.cpp)
# The code needs C++23 <expected>, which Debian 12's clang 14 cannot compile with libstdc++ 12;
# so g++ builds it (ASan + UBSan, comparison tracing for libFuzzer's value profile) and links
# clang's libFuzzer runtime.
fuzzer_rt="$(ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a | head -1)"
g++ -std=c++23 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  -fsanitize-coverage=trace-cmp -I"$root/src" "$root/bench/fuzz/gguf_reader_fuzz.cpp" "${srcs[@]}" \
  "$fuzzer_rt" -lfmt -lpthread -o "$out/gguf_reader_fuzz"
"$out/gguf_reader_fuzz" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 \
  -use_value_profile=1 -timeout=5 "$out/corpus"
