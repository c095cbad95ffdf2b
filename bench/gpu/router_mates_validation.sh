#!/usr/bin/env bash
# Router-mates on a real GPU (issue #11, paths 1-3): one llama-server ROUTER (models_max 1,
# no autoload) serving chat-a and chat-b, and a second llama-server (single model) as the
# embedding service emb. Modes: a = [chat-a, emb], b = [chat-b, emb], emb-only = [emb].
#
#   bench/gpu/router_mates_validation.sh LLAMA_SERVER_BIN MODELS_DIR [OUT_LOG]
#
# MODELS_DIR must hold chat-a.gguf, chat-b.gguf and emb.gguf, e.g. made with this repository's
# gpumod-make-model (random weights):
#   build/bin/gpumod-make-model D/chat-a.gguf --arch llama --layers 16 --embd 2048 --heads 32 \
#       --kv-heads 8 --ff 8192 --vocab 32064 --ctx-train 4096 --type f16 --data random
#   build/bin/gpumod-make-model D/chat-b.gguf --arch llama --layers 28 --embd 3072 --heads 24 \
#       --kv-heads 8 --ff 8192 --vocab 32064 --ctx-train 4096 --type f16 --data random
#   build/bin/gpumod-make-model D/emb.gguf --arch llama --layers 8 --embd 1024 --heads 16 \
#       --kv-heads 8 --ff 4096 --vocab 32064 --ctx-train 4096 --type f16 --data random
#
# Environment: GPUMOD_BIN (default: build/bin/gpumod of this checkout), SIMULATE_GPU_MIB=N (use a
# simulated GPU of N MiB: for a dry run with gpumod-mock-server as LLAMA_SERVER_BIN), KEEP=1 (keep
# the sandbox). Builds nothing; runs everything in a private sandbox (own XDG dirs, config, free
# loopback ports) and stops only what it started (`daemon stop --with-services`).
# Exit status: 0 when every check passed, 1 otherwise; the log says which.
set -u -o pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,24p' "$0" >&2
  exit 2
fi
LLAMA_BIN=$(readlink -f "$1")
MODELS=$(readlink -f "$2")
OUT_LOG=${3:-}
HERE=$(cd "$(dirname "$0")" && pwd)
GPUMOD=${GPUMOD_BIN:-$HERE/../../build/bin/gpumod}
[[ -x $LLAMA_BIN ]] || { echo "not executable: $LLAMA_BIN" >&2; exit 2; }
[[ -x $GPUMOD ]] || { echo "gpumod not found at $GPUMOD (set GPUMOD_BIN)" >&2; exit 2; }
for m in chat-a chat-b emb; do
  [[ -f $MODELS/$m.gguf ]] || { echo "missing $MODELS/$m.gguf (see the header for how to make it)" >&2; exit 2; }
done
command -v python3 >/dev/null || { echo "python3 is needed (JSON)" >&2; exit 2; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 2; }

SANDBOX=$(mktemp -d /tmp/gpumod-router-mates-XXXXXX)
export XDG_RUNTIME_DIR=$SANDBOX/run XDG_STATE_HOME=$SANDBOX/state XDG_CONFIG_HOME=$SANDBOX/xdg
export GPUMOD_SIM_GPU_DIR=$SANDBOX/simgpu
mkdir -p "$XDG_RUNTIME_DIR" "$XDG_STATE_HOME" "$XDG_CONFIG_HOME" "$GPUMOD_SIM_GPU_DIR"
chmod 700 "$XDG_RUNTIME_DIR"
CFG=$SANDBOX/cfg
mkdir -p "$CFG/presets" "$CFG/modes"
[[ -n $OUT_LOG ]] && exec > >(tee "$OUT_LOG") 2>&1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ROUTER_PORT=$(free_port)
EMB_PORT=$(free_port)
while [[ $EMB_PORT == "$ROUTER_PORT" ]]; do EMB_PORT=$(free_port); done
mib_of() { python3 -c "import os; print(int(os.path.getsize('$1') / 1048576 * 1.3) + 700)"; }

{
  echo "health_interval_ms: 500"
  echo "vram_margin_mib: 512"
  if [[ -n ${SIMULATE_GPU_MIB:-} ]]; then
    printf 'gpu:\n  simulate:\n    name: "Simulated GPU"\n    total_mib: %s\n    only_without_gpu: false\n' "$SIMULATE_GPU_MIB"
  fi
} > "$CFG/gpumod.yaml"
mate() {  # id model
  cat > "$CFG/presets/$1.yaml" <<EOF
id: $1
name: $1
driver: llamacpp
port: $ROUTER_PORT
vram_mb: $(mib_of "$MODELS/$2.gguf")
context_size: 4096
supports_sleep: true
sleep_mode: router
startup_timeout: 180
stop_timeout: 20
restart: on-failure
unit_vars:
  llamacpp_bin: "$LLAMA_BIN"
  models_dir: "$MODELS"
  models_max: 1
  no_models_autoload: true
  default_model: $2
EOF
}
mate chat-a chat-a
mate chat-b chat-b
cat > "$CFG/presets/emb.yaml" <<EOF
id: emb
name: emb
driver: llamacpp
port: $EMB_PORT
vram_mb: $(mib_of "$MODELS/emb.gguf")
context_size: 4096
model_path: "$MODELS/emb.gguf"
startup_timeout: 180
stop_timeout: 20
unit_vars:
  llamacpp_bin: "$LLAMA_BIN"
EOF
printf 'id: a\nname: a\nservices:\n  - chat-a\n  - emb\n' > "$CFG/modes/a.yaml"
printf 'id: b\nname: b\nservices:\n  - chat-b\n  - emb\n' > "$CFG/modes/b.yaml"
printf 'id: emb-only\nname: emb-only\nservices:\n  - emb\n' > "$CFG/modes/emb-only.yaml"

FAILS=0
g() { "$GPUMOD" --config "$CFG" "$@"; }
check() {  # description, then a command whose success means PASS
  local what=$1
  shift
  if "$@"; then echo "PASS  $what"; else echo "FAIL  $what"; FAILS=$((FAILS + 1)); fi
}
# jget JSON-TEXT PYTHON-EXPR (with j the parsed JSON)
jget() { python3 -c "import json,sys; j=json.loads(sys.argv[1]); print($2)" "$1"; }
state_of() { jget "$(g status --json)" "next(s['state'] for s in j['services'] if s['id']=='$1')"; }
pid_of() { jget "$(g status --json)" "next(s['pid'] for s in j['services'] if s['id']=='$1')"; }
step() { echo; echo "== $* ($(date -u +%H:%M:%S.%3N))"; }
timed() {  # runs gpumod, prints its exit code and elapsed ms, keeps stdout in $OUT
  local t0 t1
  t0=$(date +%s%N)
  OUT=$(g "$@" 2>"$SANDBOX/err")
  RC=$?
  t1=$(date +%s%N)
  echo "gpumod $* -> exit $RC in $(((t1 - t0) / 1000000)) ms"
  [[ -s $SANDBOX/err ]] && sed 's/^/  stderr: /' "$SANDBOX/err"
  return 0
}
cleanup() {
  g daemon stop --with-services >/dev/null 2>&1
  [[ -z ${KEEP:-} ]] && rm -rf "$SANDBOX"
}
trap cleanup EXIT

echo "router-mates validation: $(date -u +%FT%TZ)"
echo "machine: $(uname -srm), $(nproc) CPUs"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
echo "llama-server: $LLAMA_BIN ($("$LLAMA_BIN" --version 2>&1 | head -n 2 | tr '\n' ' '))"
echo "gpumod: $GPUMOD ($("$GPUMOD" --version 2>&1 | head -n 1))"
echo "models: $(ls -l "$MODELS"/*.gguf | awk '{print $NF" "$5}' | tr '\n' ';')"
echo "router port $ROUTER_PORT, emb port $EMB_PORT, sandbox $SANDBOX"

# ---- Path 1: a wake that would evict a mate of the current mode -------------------------------
step "path 1: mode a, then service wake chat-b (would evict chat-a)"
timed mode switch a --json
check "switch a succeeds" test "$RC" = 0
ROUTER_PID=$(pid_of chat-a)
echo "router pid $ROUTER_PID"
timed service wake chat-b
check "wake chat-b without --evict is refused (exit 8, conflict)" test "$RC" = 8
check "the refusal names chat-a and mode a" grep -q "evict chat-a of the current mode a" "$SANDBOX/err"
check "chat-a still running" test "$(state_of chat-a)" = running
timed service wake chat-b --evict
check "wake chat-b --evict succeeds" test "$RC" = 0
ST=$(g status --json)
check "chat-b running" test "$(state_of chat-b)" = running
check "chat-a asleep (evicted)" test "$(state_of chat-a)" = sleeping
check "status --json: mode a modified: chat-b woken, chat-a evicted" \
  test "$(jget "$ST" "', '.join(j['mode_modified'])")" = "chat-b woken, chat-a evicted"
g status | sed -n '1,3p'
check "status text says the mode is modified" bash -c "'$GPUMOD' --config '$CFG' status | grep -q 'Mode: a, modified: chat-b woken, chat-a evicted'"
check "one router process throughout" test "$(pid_of chat-b)" = "$ROUTER_PID"

step "path 1b: back to mode a; another client loads chat-b into the router (it evicts chat-a)"
timed mode switch a --json
check "switch a succeeds" test "$RC" = 0
BEFORE=$(g events --json | wc -l)
curl -s -X POST "http://127.0.0.1:$ROUTER_PORT/models/load" -H 'Content-Type: application/json' -d '{"model":"chat-b"}'
echo
VERDICT=""
for _ in $(seq 1 600); do
  VERDICT=$(g events --json | tail -n +"$((BEFORE + 1))" | python3 -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if e["service"] == "chat-a" and e["kind"] in ("health.evicted", "health.unhealthy", "health.restart_scheduled"):
        print(e["kind"]); break')
  [[ -n $VERDICT ]] && break
  sleep 0.1
done
echo "health monitor's verdict on chat-a: ${VERDICT:-none within 60 s}"
check "chat-a is evicted, not crashed" test "$VERDICT" = health.evicted
check "no restart of chat-a" bash -c "! '$GPUMOD' --config '$CFG' events --json | tail -n +$((BEFORE + 1)) | grep -q '\"health.restart'"
check "the router was not restarted" test "$(pid_of chat-a)" = "$ROUTER_PID"

# ---- Path 2: b, a, emb-only ------------------------------------------------------------------
step "path 2: modes b, a, emb-only"
timed mode switch b --json
check "switch b" test "$RC" = 0
timed mode switch a --json
check "switch a" test "$RC" = 0
timed mode switch emb-only --json
check "switch emb-only" test "$RC" = 0
echo "$OUT" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("slept", j["slept"], "stopped", j["stopped"])'
check "chat-a asleep (not failed)" test "$(state_of chat-a)" = sleeping
check "chat-b stopped" test "$(state_of chat-b)" = stopped
check "the router still runs (same pid)" test "$(pid_of chat-a)" = "$ROUTER_PID"
check "emb running" test "$(state_of emb)" = running
nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader 2>/dev/null

# ---- Path 3: a mate whose model is missing; the switch must not kill mode a's router ----------
step "path 3: chat-b's default_model changed to a missing model, daemon restarted, switch b"
timed mode switch a --json
check "switch a" test "$RC" = 0
ROUTER_PID=$(pid_of chat-a)
g daemon stop >/dev/null
sed -i 's/^  default_model: chat-b$/  default_model: chat-ghost/' "$CFG/presets/chat-b.yaml"
timed mode switch b --dry-run --json
check "--dry-run shows a preflight problem" test "$(jget "$OUT" "len(j['preflight'])")" -gt 0
jget "$OUT" "j['preflight']"
timed mode switch b --json
check "switch b fails (or is refused)" test "$RC" != 0
jget "$OUT" "j['message']"
check "mode a's router was not killed" kill -0 "$ROUTER_PID"
check "chat-a still running" test "$(state_of chat-a)" = running
check "emb still running" test "$(state_of emb)" = running
check "current mode still a" test "$(jget "$(g status --json)" "j['current_mode']")" = a

echo
g status
echo
if [[ $FAILS -eq 0 ]]; then echo "ALL CHECKS PASSED"; else echo "$FAILS CHECK(S) FAILED"; fi
[[ $FAILS -eq 0 ]]
