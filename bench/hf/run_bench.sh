#!/usr/bin/env bash
# Builds bench/hf/quants_bench against the libraries of an existing build (default ./build:
# cmake --build build --target gpumod_engine) and runs it. Needs no network: the hub is on loopback.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${GPUMOD_BUILD_DIR:-$root/build}"
out="${GPUMOD_BENCH_DIR:-$build/bench-hf}"
mkdir -p "$out"
g++ -std=c++23 -O2 -I"$root/src" -I"$root/tests" $(pkg-config --cflags cpp-httplib) \
  "$root/bench/hf/quants_bench.cpp" "$root/tests/support/fake_hub.cpp" \
  "$build"/src/libgpumod_engine.a "$build"/src/libgpumod_drivers.a "$build"/src/libgpumod_infra.a \
  "$build"/src/libgpumod_core.a "$build"/src/libgpumod_util.a \
  $(pkg-config --libs cpp-httplib) -lfmt -lyaml-cpp -lsqlite3 -lpthread -ldl -lcrypto \
  -o "$out/quants_bench"
"$out/quants_bench"
