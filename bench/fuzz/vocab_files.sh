#!/usr/bin/env bash
# Prints the folder of vocab-only GGUF files the fuzz and parse-bench scripts read: llama.cpp's
# real ones in ../shared/testdata/gguf when that folder exists beside the clone, else files of the
# same shapes written into OUT_DIR/vocab by the project's own GGUF writer (bench/fuzz/write_vocab.cpp).
# Usage: vocab_dir="$(bash bench/fuzz/vocab_files.sh OUT_DIR)"
set -euo pipefail
out="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
shared="$root/../shared/testdata/gguf"
if compgen -G "$shared/*.gguf" > /dev/null; then
  echo "$shared"
  exit 0
fi
echo "vocab_files: no $shared; writing vocab files of the same shapes with gpumod's writer" >&2
mkdir -p "$out/vocab"
g++ -std=c++23 -O1 -I"$root/src" "$root/bench/fuzz/write_vocab.cpp" \
  "$root"/src/tools/make_model/vocab_builder.cpp "$root"/src/gpumod/infra/gguf/writer.cpp \
  "$root"/src/gpumod/infra/gguf/reader.cpp "$root"/src/gpumod/infra/gguf/byte_source.cpp \
  "$root"/src/gpumod/core/ggml_types.cpp "$root"/src/gpumod/util/strings.cpp \
  "$root"/src/gpumod/util/result.cpp -lfmt -o "$out/write_vocab" >&2
"$out/write_vocab" "$out/vocab" >&2
echo "$out/vocab"
