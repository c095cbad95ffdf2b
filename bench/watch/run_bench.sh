#!/usr/bin/env bash
# The daemon's cost while people watch it: CPU seconds per minute and RSS of an idle daemon with
# `gpumod top` attached (in tmux, 80x24) and a real Prometheus scraping GET /metrics every 5 s
# through the loopback listener (bearer token from a file). Two services of the mock server run
# (a mode switched to first), on a simulated GPU. Targets (issue 16): < 0.5 s CPU per minute,
# RSS <= 24 MiB.
#
# Usage: bench/watch/run_bench.sh [BUILD_DIR] [SECONDS]     (default build-bench, 60)
# Needs: tmux and prometheus (Debian packages; `make deps` installs them).
# Output: stdout and bench/results/watch-<UTC date>.txt.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-build-bench}"
[[ "$build" = /* ]] || build="$root/$build"
seconds="${2:-60}"
gpumod="$build/bin/gpumod"
mock="$build/bin/gpumod-mock-server"
for tool in "$gpumod" "$mock" /usr/bin/tmux /usr/bin/prometheus; do
  [[ -x "$tool" ]] || { echo "missing $tool" >&2; exit 2; }
done
results="$root/bench/results"
mkdir -p "$results"
out="$results/watch-$(date -u +%Y-%m-%d).txt"

work="$(mktemp -d /tmp/gpumod-watch-bench-XXXXXX)"
tmux_sock="gpumod-watch-bench-$$"
prom_pid=""
cleanup() {
  tmux -L "$tmux_sock" kill-server 2>/dev/null || true
  [[ -n "$prom_pid" ]] && kill "$prom_pid" 2>/dev/null && wait "$prom_pid" 2>/dev/null || true
  "$gpumod" --config "$work/cfg" daemon stop --with-services >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

export HOME="$work" XDG_STATE_HOME="$work/state" XDG_RUNTIME_DIR="$work/run" XDG_CONFIG_HOME="$work/config"
export GPUMOD_SIM_GPU_DIR="$work/simgpu" GPUMOD_DB_PATH="$work/state/gpumod.db"
mkdir -p "$XDG_RUNTIME_DIR" "$work/cfg/presets" "$work/cfg/modes" "$work/prom/data"
chmod 700 "$XDG_RUNTIME_DIR"
cat > "$work/cfg/gpumod.yaml" <<YAML
gpu:
  simulate: {name: Bench GPU, total_mib: 24000, only_without_gpu: false}
vram_margin_mib: 0
YAML
for svc in chat:3000 embed:1000; do
  id="${svc%%:*}"; mib="${svc##*:}"
  cat > "$work/cfg/presets/$id.yaml" <<YAML
id: $id
name: $id
driver: vllm
port: $(free_port)
vram_mb: $mib
model_id: bench/$id
supports_sleep: true
sleep_mode: l1
unit_vars: {vllm_bin: $mock}
env: {GPUMOD_MOCK_VRAM_MIB: "$mib"}
YAML
done
printf 'id: both\nname: both\nservices: [chat, embed]\n' > "$work/cfg/modes/both.yaml"

token="watch-bench-token-0123456789abcdef"
printf '%s' "$token" > "$work/prom/token"; chmod 600 "$work/prom/token"
dport="$(free_port)"
GPUMOD_DAEMON_TOKEN="$token" setsid "$gpumod" --config "$work/cfg" daemon run --listen "127.0.0.1:$dport" \
  >"$work/daemon.log" 2>&1 &
for _ in $(seq 100); do [[ -S "$XDG_RUNTIME_DIR/gpumod/daemon.sock" ]] && break; sleep 0.1; done
"$gpumod" --config "$work/cfg" mode switch both >/dev/null
daemon_pid="$("$gpumod" --config "$work/cfg" daemon status | sed -n 's/.*daemon pid \([0-9]*\).*/\1/p')"

pport="$(free_port)"
cat > "$work/prom/prometheus.yml" <<YAML
scrape_configs:
  - job_name: gpumod
    scrape_interval: 5s
    authorization: {credentials_file: $work/prom/token}
    static_configs: [{targets: ['127.0.0.1:$dport']}]
YAML
/usr/bin/prometheus --config.file="$work/prom/prometheus.yml" --storage.tsdb.path="$work/prom/data" \
  --web.listen-address="127.0.0.1:$pport" >"$work/prom.log" 2>&1 &
prom_pid=$!
tmux -L "$tmux_sock" -f /dev/null new-session -d -s top -x 80 -y 24 "$gpumod" --config "$work/cfg" top
sleep 5  # let top and the first scrape settle before measuring

ticks="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$daemon_pid/stat"; }
t0="$(cpu_ticks)"; start="$(date +%s.%N)"
sleep "$seconds"
t1="$(cpu_ticks)"; end="$(date +%s.%N)"
scrapes="$(curl -s "http://127.0.0.1:$pport/api/v1/query?query=count_over_time(up%5B${seconds}s%5D)" | sed -n 's/.*"value":\[[^,]*,"\([0-9]*\)".*/\1/p')"
rss_kib="$(awk '/^VmRSS/ {print $2}' "/proc/$daemon_pid/status")"
hwm_kib="$(awk '/^VmHWM/ {print $2}' "/proc/$daemon_pid/status")"
cpu_per_min="$(awk -v a="$t0" -v b="$t1" -v hz="$ticks" -v s="$start" -v e="$end" 'BEGIN {printf "%.3f", (b - a) / hz * 60 / (e - s)}')"
rss_mib="$(awk -v k="$rss_kib" 'BEGIN {printf "%.1f", k / 1024}')"
hwm_mib="$(awk -v k="$hwm_kib" 'BEGIN {printf "%.1f", k / 1024}')"
top_ok="$(tmux -L "$tmux_sock" capture-pane -p -t top | grep -c 'mode: both' || true)"
pass() { awk -v v="$1" -v t="$2" 'BEGIN {print (v <= t) ? "PASS" : "MISS"}'; }
{
  echo "gpumod watch bench, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "machine: nproc $(nproc), CPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "build: $build; window ${seconds} s; top attached: $([[ "$top_ok" -gt 0 ]] && echo yes || echo NO); Prometheus scrapes in the window: ${scrapes:-?} (every 5 s)"
  echo "SUMMARY daemon CPU per minute idle (top + scrape/5s): ${cpu_per_min} s (target < 0.5) $(pass "$cpu_per_min" 0.5)"
  echo "SUMMARY daemon RSS: ${rss_mib} MiB (peak ${hwm_mib}) (target <= 24) $(pass "$rss_mib" 24)"
} | tee "$out"
