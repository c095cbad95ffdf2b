#!/usr/bin/env bash
# Seeds a fuzz corpus: the header of each vocab GGUF (llama.cpp's in ../shared when present, else
# files of the same shapes written by gpumod's writer: bench/fuzz/vocab_files.sh) cut to its first 8 KiB and 64 KiB
# (the tail is token strings, which the reader skips), plus one small file of each shape the
# writer makes is left to the fuzzer to mutate from these.
# Usage: bench/fuzz/make_corpus.sh OUT_DIR
set -euo pipefail
out="$1"
root="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$out"
vocab="$(bash "$root/bench/fuzz/vocab_files.sh" "$(dirname "$out")")"
for f in "$vocab"/*.gguf; do
  b="$(basename "$f" .gguf)"
  head -c 8192 "$f" > "$out/$b-8k"
  head -c 65536 "$f" > "$out/$b-64k"
done
cp "$root"/bench/fuzz/corpus/* "$out/" 2>/dev/null || true
