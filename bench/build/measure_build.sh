#!/usr/bin/env bash
# Cold and warm build times of `make run`'s and `make test`'s builds, before and after a change,
# side by side in one run on one machine (bench/README.md "Build").
#   bench/build/measure_build.sh BEFORE_REV AFTER_REV [OUT_FILE]   (BEFORE_REV "-": the after one only)
# Each revision is exported with `git archive` into a temporary folder (the repository is not
# touched). For each, in a fresh build folder:
#   cold run:  an empty private ccache (CCACHE_DIR in the temporary folder: every compile is a
#              miss, as with CCACHE_DISABLE=1 plus ccache's own small cost), configure + build
#              exactly what that revision's `make run` builds (before this change: everything,
#              with make's default generator; after: the two targets, Ninja when present), then
#              what `make test` adds;
#   warm run:  a second fresh build folder with that ccache, now full: the same steps.
# It records the machine (CPUs, model), the load average before each step and the wall time.
# Run it on an idle machine if you can; `nice -n -5` when it is shared (the figures say so).
# WARM=0 skips the warm runs.
set -euo pipefail
before="$1"
after="$2"
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="${3:-$root/bench/results/build-$(date -u +%Y-%m-%d).txt}"
work="$(mktemp -d /tmp/gpumod-build-bench-XXXXXX)"
trap 'rm -rf "$work"' EXIT
jobs="$(nproc)"

log() { echo "$*" | tee -a "$out"; }
now() { date +%s.%N; }
# Wall time depends on what else runs; the CPU time (user + sys of the compilers) much less, and
# CPU / jobs is what the step takes on an idle machine with that many cores (a lower bound: it
# assumes every core busy all the time).
step() {  # step LABEL DIR COMMAND...
  local label="$1" dir="$2"; shift 2
  local load; load="$(cut -d' ' -f1-3 /proc/loadavg)"
  children_cpu > "$work/cpu0"; local before_cpu; before_cpu="$(cat "$work/cpu0")"
  local t0; t0="$(now)"
  (cd "$dir" && "$@") > "$work/log" 2>&1 || { log "$label: FAILED"; tail -20 "$work/log" | tee -a "$out"; exit 1; }
  local t1; t1="$(now)"
  children_cpu > "$work/cpu1"; local cpu; cpu="$(echo "$(cat "$work/cpu1") - $before_cpu" | bc)"
  log "$(printf '%-46s wall %7.1f s   cpu %7.1f s   cpu/%d %7.1f s   (load before: %s)' "$label" \
    "$(echo "$t1 - $t0" | bc)" "$cpu" "$jobs" "$(echo "$cpu / $jobs" | bc -l)" "$load")"
}
# User + system seconds of this shell's finished children (bash's `times`, second line).
# (`times` must run in this shell, not in a pipeline's or a $(...)'s subshell: so via a file.)
children_cpu() {
  times > "$work/times"
  sed -n 2p "$work/times" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%.2f", u[1] * 60 + u[2] + s[1] * 60 + s[2] }'
}

: > "$out"
log "gpumod build times, $(date -u '+%Y-%m-%d %H:%M UTC')"
log "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB"
log "compiler: $(g++ --version | head -1); cmake $(cmake --version | head -1 | awk '{print $3}'); ninja $(ninja --version 2>/dev/null || echo absent)"
[ "$before" = - ] || log "before: $(git -C "$root" log -1 --format='%h %s' "$before")"
log "after:  $(git -C "$root" log -1 --format='%h %s' "$after")"
log "jobs: $jobs; nice: $(nice); the load average (1, 5, 15 min) before each step is printed beside it"
log ""

revs="before after"; [ "$before" = - ] && revs="after"  # "-": measure the after revision only
for rev in $revs; do
  commit="${!rev}"
  src="$work/src-$rev"
  mkdir -p "$src"
  git -C "$root" archive "$commit" | tar -x -C "$src"
  temps="cold warm"; [ "${WARM:-1}" = 0 ] && temps="cold"
  for temp in $temps; do
    b="$src/build-$temp"
    export CCACHE_DIR="$work/ccache-$rev" CCACHE_BASEDIR="$src" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=5G
    [ "$temp" = cold ] && rm -rf "$CCACHE_DIR"
    if [ "$rev" = before ]; then
      # The old Makefile: `cmake -S . -B build` (make's generator), then `cmake --build build` (all).
      step "$rev $temp: configure" "$src" cmake -S . -B "$b" -DCMAKE_BUILD_TYPE=RelWithDebInfo
      step "$rev $temp: make run's build (everything)" "$src" cmake --build "$b" -j "$jobs"
    else
      gen=""; command -v ninja > /dev/null && gen="-G Ninja"
      step "$rev $temp: configure" "$src" cmake -S . -B "$b" $gen -DCMAKE_BUILD_TYPE=RelWithDebInfo
      step "$rev $temp: make run's build (gpumod, mock)" "$src" cmake --build "$b" -j "$jobs" --target gpumod gpumod-mock-server
      step "$rev $temp: make test's rest (tests, tools)" "$src" cmake --build "$b" -j "$jobs"
    fi
  done
done
log ""
log "(make run = configure + its build; make test = that + the rest. Cold: an empty ccache. Warm: the ccache the cold run filled.)"
