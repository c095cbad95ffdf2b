#!/usr/bin/env bash
# The OpenAI endpoint's proxy overhead, on loopback with the mock upstream, in one run side by side:
# wrk (Debian) direct to the upstream, through gpumod, and through nginx (Debian) as a plain
# reverse proxy (the reference). Also the first streamed chunk (curl, direct vs gpumod) and the
# daemon's RSS under load. Targets (issue 14): throughput through gpumod >= 0.98 of direct at 64
# connections; added p50 <= 0.3 ms, p99 <= 1 ms; first chunk <= direct + 1 ms; RSS <= 32 MiB.
#
# Usage: bench/openai/run_bench.sh [BUILD_DIR] [SECONDS]   (default: build, 10)
# Needs: wrk, nginx (apt-get install wrk nginx-light), curl, python3. Builds nothing.
# Writes bench/results/openai-<UTC date>.txt (and prints it).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-build}"
[[ "$build" = /* ]] || build="$root/$build"
secs="${2:-10}"
conns=64
gpumod="$build/bin/gpumod"
mock="$build/bin/gpumod-mock-server"
for tool in wrk nginx curl python3; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install wrk nginx-light curl)"; exit 2; }
done
[[ -x "$gpumod" && -x "$mock" ]] || { echo "build $build first (gpumod, gpumod-mock-server)"; exit 2; }

sandbox="$(mktemp -d /tmp/gpumod-openai-bench.XXXXXX)"
export HOME="$sandbox" XDG_STATE_HOME="$sandbox/state" XDG_RUNTIME_DIR="$sandbox/run" XDG_CONFIG_HOME="$sandbox/cfghome"
export GPUMOD_SIM_GPU_DIR="$sandbox/simgpu" GPUMOD_DB_PATH="$sandbox/state/gpumod.db" GPUMOD_USE_MOCK_SERVERS=1
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_STATE_HOME" && chmod 700 "$XDG_RUNTIME_DIR"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(free_port); serve=$(free_port); nginx_port=$(free_port)
cfg="$sandbox/cfg"
mkdir -p "$cfg/presets" "$cfg/modes"
cat > "$cfg/gpumod.yaml" <<YAML
gpu: {simulate: {name: Bench GPU, total_mib: 81920, only_without_gpu: false}}
vram_margin_mib: 0
health_interval_ms: 60000
serve: {listen: "127.0.0.1:$serve", min_residency_s: 0, max_queue: 1024}
YAML
cat > "$cfg/presets/chat.yaml" <<YAML
id: chat
driver: vllm
port: $up
vram_mb: 1000
model_id: bench/chat
restart: "no"
env: {GPUMOD_MOCK_THREADS: "160", GPUMOD_MOCK_REPLY_WORDS: "8"}
YAML
G() { "$gpumod" --config "$cfg" "$@"; }
nginx_pid=""
cleanup() {
  [[ -n "$nginx_pid" ]] && kill "$nginx_pid" 2>/dev/null || true
  G daemon stop --with-services >/dev/null 2>&1 || true
  rm -rf "$sandbox"
}
trap cleanup EXIT

G daemon start >/dev/null
G service start chat >/dev/null
daemon_pid=$(G daemon status | sed -n 's/.*daemon pid \([0-9]*\).*/\1/p')

mkdir -p "$sandbox/nginx"
cat > "$sandbox/nginx/nginx.conf" <<NGINX
worker_processes auto;
pid $sandbox/nginx/nginx.pid;
error_log $sandbox/nginx/error.log;
daemon off;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $sandbox/nginx; proxy_temp_path $sandbox/nginx;
  fastcgi_temp_path $sandbox/nginx; uwsgi_temp_path $sandbox/nginx; scgi_temp_path $sandbox/nginx;
  upstream up { server 127.0.0.1:$up; keepalive 128; }
  server {
    listen 127.0.0.1:$nginx_port;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
NGINX
nginx -c "$sandbox/nginx/nginx.conf" -p "$sandbox/nginx" &
nginx_pid=$!
for p in $serve $nginx_port; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.05; done
done

cat > "$sandbox/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"model":"bench/chat","messages":[{"role":"user","content":"hi"}]}'
wrk.headers["Content-Type"] = "application/json"
LUA

out="$root/bench/results/openai-$(date -u +%Y-%m-%d).txt"
mkdir -p "$(dirname "$out")"
{
  echo "gpumod OpenAI endpoint benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (+ local changes)')"
  echo "machine: nproc $(nproc), CPU $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "wrk -t2 -c$conns -d${secs}s, POST /v1/chat/completions (non-streaming, mock vLLM upstream)"
  echo
} > "$out"

rss_max=0
sample_rss() {  # the daemon's VmRSS in KiB, max over the run
  while kill -0 "$1" 2>/dev/null; do
    local r; r=$(awk '/VmRSS/ {print $2}' "/proc/$daemon_pid/status" 2>/dev/null || echo 0)
    if (( r > rss_max )); then rss_max=$r; echo "$rss_max" > "$sandbox/rss"; fi
    sleep 0.2
  done
}
declare -A rps p50 p99
sampler=""
run_wrk() {  # name port
  local log="$sandbox/wrk-$1.txt"
  wrk -t2 -c$conns -d"${secs}s" --latency -s "$sandbox/post.lua" "http://127.0.0.1:$2/v1/chat/completions" > "$log" &
  local w=$!
  if [[ "$1" == gpumod ]]; then sample_rss "$w" & sampler=$!; fi
  wait "$w"
  rps[$1]=$(awk '/Requests\/sec/ {print $2}' "$log")
  p50[$1]=$(awk '$1=="50%" {print $2}' "$log")
  p99[$1]=$(awk '$1=="99%" {print $2}' "$log")
  echo "== $1 (port $2)"; cat "$log"; echo
}
{
  # Warm-up (connections, pools), then the three measured side by side.
  wrk -t2 -c$conns -d2s -s "$sandbox/post.lua" "http://127.0.0.1:$serve/v1/chat/completions" >/dev/null
  run_wrk direct "$up"
  run_wrk gpumod "$serve"
  # What the endpoint answered (the newest requests it recorded), by status: a non-2xx count
  # above says why here.
  echo "gpumod's answers by status (newest 20000 recorded):"
  G requests --limit 20000 --json | python3 -c 'import json,sys,collections; d=json.load(sys.stdin); r=d.get("requests",d); print(dict(collections.Counter(x.get("status") for x in r))); [print(" ", k, n) for k, n in collections.Counter(x.get("error", "") for x in r if x.get("status") != 200).most_common(3)]' || true
  run_wrk nginx "$nginx_port"
  wait "$sampler" || true  # not a bare wait: nginx runs in the background too
} >> "$out" 2>&1

to_ms() { python3 -c "import sys,re; v=sys.argv[1]; m=re.match(r'([0-9.]+)(us|ms|s)',v); f={'us':0.001,'ms':1,'s':1000}[m.group(2)]; print(float(m.group(1))*f)" "$1"; }
ttfb() {  # port: median time to the first streamed byte over 30 requests (ms)
  local port=$1 vals=()
  for _ in $(seq 30); do
    vals+=("$(curl -s -N -o /dev/null -w '%{time_starttransfer}' -H 'Content-Type: application/json' \
      -d '{"model":"bench/chat","stream":true,"messages":[{"role":"user","content":"hi"}]}' \
      "http://127.0.0.1:$port/v1/chat/completions")")
  done
  printf '%s\n' "${vals[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.3f", a[int((NR+1)/2)]*1000}'
}
set +e  # the measurements are taken: report what can be reported
t_direct=$(ttfb "$up"); t_gpumod=$(ttfb "$serve"); t_nginx=$(ttfb "$nginx_port")
rss_kib=$(cat "$sandbox/rss" 2>/dev/null || echo 0)
python3 - "$out" <<PY
import sys
d = {k: v for k, v in [("direct", (${rps[direct]}, $(to_ms "${p50[direct]}"), $(to_ms "${p99[direct]}"))),
                       ("gpumod", (${rps[gpumod]}, $(to_ms "${p50[gpumod]}"), $(to_ms "${p99[gpumod]}"))),
                       ("nginx", (${rps[nginx]}, $(to_ms "${p50[nginx]}"), $(to_ms "${p99[nginx]}")))]}
rss = $rss_kib / 1024
t = {"direct": $t_direct, "gpumod": $t_gpumod, "nginx": $t_nginx}
lines = ["", "summary (one run; ratios measured side by side)",
         f"{'path':8} {'req/s':>10} {'ratio':>6} {'p50 ms':>8} {'+p50':>7} {'p99 ms':>8} {'+p99':>7} {'1st chunk ms':>13}"]
for k in ("direct", "gpumod", "nginx"):
    r, a, b = d[k]
    lines.append(f"{k:8} {r:10.0f} {r/d['direct'][0]:6.3f} {a:8.3f} {a-d['direct'][1]:7.3f} {b:8.3f} {b-d['direct'][2]:7.3f} {t[k]:13.3f}")
g = d["gpumod"]; base = d["direct"]
def verdict(ok): return "PASS" if ok else "MISS"
lines += ["",
  f"throughput gpumod/direct {g[0]/base[0]:.3f} (target >= 0.98): {verdict(g[0]/base[0] >= 0.98)}",
  f"added p50 {g[1]-base[1]:.3f} ms (target <= 0.3): {verdict(g[1]-base[1] <= 0.3)}",
  f"added p99 {g[2]-base[2]:.3f} ms (target <= 1): {verdict(g[2]-base[2] <= 1.0)}",
  f"first streamed chunk +{t['gpumod']-t['direct']:.3f} ms (target <= 1): {verdict(t['gpumod']-t['direct'] <= 1.0)}",
  f"daemon RSS under load {rss:.1f} MiB (target <= 32): {verdict(rss <= 32)}"]
text = "\n".join(lines) + "\n"
open(sys.argv[1], "a").write(text)
print(text)
PY
echo "full output: $out"
