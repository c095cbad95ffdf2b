#!/usr/bin/env bash
# Runs every benchmark suite against an already built tree and prints one summary table with the
# targets and PASS/MISS. Builds nothing itself: `make bench` configures and builds BUILD_DIR
# (Release, -DGPUMOD_BUILD_BENCH=ON) first.
#
# Usage: bench/run_all.sh [BUILD_DIR]      (default: build-bench)
#   GPUMOD_BENCH_ARGS   extra arguments for gpumod-bench-runtime (e.g. "--runs-switch 40")
#
# Suites: runtime (bench/runtime, the gpumod-bench-runtime binary) and, when present, the
# scripts of the other suites: bench/<suite>/run_bench.sh or bench/<suite>/run.sh for
# <suite> in fuzz, accuracy, hf. A missing suite is skipped, a failing one is reported.
# Output: stdout, and bench/results/<suite>-<UTC date>.txt per suite (runtime-<date>.txt also
# holds the machine header and the combined summary).
set -uo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-build-bench}"
[[ "$build" = /* ]] || build="$root/$build"
day="$(date -u +%Y-%m-%d)"
results="$root/bench/results"
mkdir -p "$results"
runtime_out="$results/runtime-$day.txt"
summary="$(mktemp)"
trap 'rm -f "$summary"' EXIT
status=0

machine_header() {
  echo "gpumod benchmarks, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
  echo "machine: nproc $(nproc), CPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), kernel $(uname -r)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "build: $build ($(grep -s '^CMAKE_BUILD_TYPE:' "$build/CMakeCache.txt" | cut -d= -f2 || echo unknown build type))"
}

# run_suite NAME OUTFILE CMD...: runs CMD, tees its output, records SUMMARY lines (or one row).
run_suite() {
  local name="$1" out="$2"
  shift 2
  echo
  echo "=== $name: $*"
  local rc
  "$@" 2>&1 | tee -a "$out"
  rc=${PIPESTATUS[0]}
  if grep -q '^SUMMARY|' "$out"; then
    grep '^SUMMARY|' "$out" >> "$summary"
  else
    echo "SUMMARY|$name: ran (exit $rc)|-|-|-|$([ "$rc" -eq 0 ] && echo ok || echo FAILED)" >> "$summary"
  fi
  if [ "$rc" -ne 0 ]; then
    echo "SUMMARY|$name: exit status $rc|-|-|-|FAILED" >> "$summary"
    status=1
  fi
}

machine_header | tee "$runtime_out"

runtime_bin="$build/bin/gpumod-bench-runtime"
if [ -x "$runtime_bin" ]; then
  # shellcheck disable=SC2086
  run_suite runtime "$runtime_out" "$runtime_bin" --bin "$build/bin" ${GPUMOD_BENCH_ARGS:-}
else
  echo "runtime: $runtime_bin not built (make bench); skipped" | tee -a "$runtime_out"
  echo "SUMMARY|runtime: not built|-|-|-|skipped" >> "$summary"
fi

for suite in fuzz accuracy hf; do
  script=""
  for candidate in run_bench.sh run.sh; do
    if [ -f "$root/bench/$suite/$candidate" ]; then
      script="$root/bench/$suite/$candidate"
      break
    fi
  done
  [ -n "$script" ] || continue
  out="$results/$suite-$day.txt"
  machine_header > "$out"
  GPUMOD_BENCH_DIR="$build/bench-$suite" run_suite "$suite" "$out" bash "$script"
done

{
  echo
  echo "SUMMARY (medians; PASS when the median is below the target)"
  printf '%-58s %10s %10s %10s  %s\n' "benchmark" "median ms" "p90 ms" "target ms" "verdict"
  while IFS='|' read -r _ name median p90 target verdict; do
    printf '%-58s %10s %10s %10s  %s\n' "$name" "$median" "$p90" "$target" "$verdict"
  done < "$summary"
} | tee -a "$runtime_out"
echo
echo "written: $runtime_out"
exit "$status"
