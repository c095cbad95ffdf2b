#!/usr/bin/env bash
# GPU validation of `gpumod bench` (issue 17), for a machine with an NVIDIA GPU and a real
# llama-server. It never builds or contains llama.cpp: it takes the binary.
#
#   bench/gpu/bench_validation.sh LLAMA_SERVER MODEL_DIR [OUT_DIR]
#
# - MODEL_DIR gets two random-weight models made by gpumod-make-model when they are not there:
#   tiny-1b (llama, 16 x 2048, F16) and small-3b (llama, 28 x 3072, F16).
# - Runs, each into OUT_DIR (default ./bench-validation-<UTC time>), with its own gpumod state
#   database, daemon socket and logs:
#   1. the seed's table for both shapes (single-model llama-server): warm TTFT, prompt and
#      generation tok/s with exact prompts, 512/128 and 2048/256 tokens, plus the chat row with
#      the reasoning off;
#   2. cold vs warm load through gpumod for both shapes: `bench --cold` (page cache dropped when
#      run as root, else said) and `bench --cold --keep-page-cache`;
#   3. `bench switch a b` for a router pair (tiny-1b <-> small-3b in one llama-server router) with
#      the router's own swap measured in the same run;
#   4. `bench --history`, and a dry run that shows the expected durations now measured.
#   Writes OUT_DIR/report.md (Markdown tables), OUT_DIR/*.json (the full reports), OUT_DIR/run.log.
#
# Environment: GPUMOD (default: build/bin/gpumod next to this script's repository),
# MAKE_MODEL (build/bin/gpumod-make-model), RUNS (5), ROUNDS (3), PORT_BASE (18600),
# MODEL_DATA (random | zeros), SIMULATE_GPU=1 (tests only: a simulated GPU, for the mock server),
# KEEP_PAGE_CACHE=1 (tests only: the "cold" step keeps the page cache instead of dropping it).
set -Eeuo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
  echo "usage: $0 LLAMA_SERVER MODEL_DIR [OUT_DIR]" >&2
  exit 2
fi
LLAMA_SERVER=$(realpath "$1")
MODEL_DIR=$(realpath -m "$2")
OUT=$(realpath -m "${3:-./bench-validation-$(date -u +%Y%m%dT%H%M%SZ)}")
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
GPUMOD=${GPUMOD:-$REPO/build/bin/gpumod}
MAKE_MODEL=${MAKE_MODEL:-$REPO/build/bin/gpumod-make-model}
RUNS=${RUNS:-5}
ROUNDS=${ROUNDS:-3}
PORT_BASE=${PORT_BASE:-18600}
MODEL_DATA=${MODEL_DATA:-random}

[[ -x $LLAMA_SERVER ]] || { echo "error: $LLAMA_SERVER is not an executable" >&2; exit 2; }
[[ -x $GPUMOD ]] || { echo "error: gpumod not found at $GPUMOD (set GPUMOD)" >&2; exit 2; }
[[ $RUNS =~ ^[0-9]+$ && $ROUNDS =~ ^[0-9]+$ && $PORT_BASE =~ ^[0-9]+$ ]] || { echo "error: RUNS, ROUNDS, PORT_BASE must be numbers" >&2; exit 2; }

mkdir -p "$MODEL_DIR" "$OUT/cfg/presets" "$OUT/cfg/modes" "$OUT/run" "$OUT/state"
chmod 700 "$OUT/run"
LOG=$OUT/run.log
: >"$LOG"
# A failed command says which, with the end of the log (where most output goes), on stderr.
trap 'rc=$?; echo "error: line $LINENO: \`$BASH_COMMAND\` failed (exit $rc); the end of $LOG:" >&2; tail -n 40 "$LOG" >&2' ERR

make_model() {  # NAME LAYERS EMBD HEADS KV_HEADS FF
  local f=$MODEL_DIR/$1.gguf
  [[ -s $f ]] && return 0
  [[ -x $MAKE_MODEL ]] || { echo "error: $f is missing and gpumod-make-model is not at $MAKE_MODEL" >&2; exit 2; }
  "$MAKE_MODEL" "$f" --arch llama --name "$1" --layers "$2" --embd "$3" --heads "$4" --kv-heads "$5" --ff "$6" \
    --vocab 32000 --ctx-train 8192 --type f16 --data "$MODEL_DATA" >>"$LOG" 2>&1
}
make_model tiny-1b 16 2048 32 8 8192
make_model small-3b 28 3072 24 8 8192

# Isolated gpumod: its own daemon socket, state database and logs.
export XDG_RUNTIME_DIR=$OUT/run XDG_STATE_HOME=$OUT/state GPUMOD_DB_PATH=$OUT/state/gpumod.db
if [[ ${SIMULATE_GPU:-0} == 1 ]]; then
  export GPUMOD_SIM_GPU_DIR=$OUT/ledger
  printf 'gpu:\n  simulate:\n    name: Simulated GPU\n    total_mib: 80000\n    only_without_gpu: false\nvram_margin_mib: 0\n' >"$OUT/cfg/gpumod.yaml"
else
  printf 'vram_margin_mib: 512\n' >"$OUT/cfg/gpumod.yaml"
fi

router_port=$PORT_BASE
preset() {  # ID PORT VRAM KIND MODEL
  local f=$OUT/cfg/presets/$1.yaml
  printf 'id: %s\nname: %s\ndriver: llamacpp\nport: %s\nvram_mb: %s\nstartup_timeout: 300\nstop_timeout: 30\nrestart: "no"\n' \
    "$1" "$1" "$2" "$3" >"$f"
  if [[ $4 == router ]]; then
    printf 'supports_sleep: true\nsleep_mode: router\nunit_vars:\n  llamacpp_bin: %s\n  models_dir: %s\n  models_max: "1"\n  no_models_autoload: "true"\n  default_model: %s\n  ctx_size: "4096"\n' \
      "$LLAMA_SERVER" "$MODEL_DIR" "$5" >>"$f"
  else
    printf 'model_path: %s/%s.gguf\nunit_vars:\n  llamacpp_bin: %s\n  ctx_size: "4096"\n' "$MODEL_DIR" "$5" "$LLAMA_SERVER" >>"$f"
  fi
}
preset llm-a "$router_port" 3000 router tiny-1b
preset llm-b "$router_port" 7000 router small-3b
preset single-tiny $((PORT_BASE + 1)) 3000 single tiny-1b
preset single-small $((PORT_BASE + 2)) 7000 single small-3b
printf 'id: a\nname: a\nservices:\n  - llm-a\n' >"$OUT/cfg/modes/a.yaml"
printf 'id: b\nname: b\nservices:\n  - llm-b\n' >"$OUT/cfg/modes/b.yaml"
printf 'id: tiny\nname: tiny\nservices:\n  - single-tiny\n' >"$OUT/cfg/modes/tiny.yaml"
printf 'id: small\nname: small\nservices:\n  - single-small\n' >"$OUT/cfg/modes/small.yaml"

g() { "$GPUMOD" --config "$OUT/cfg" "$@"; }
step() {  # TITLE NAME ARGS... : `gpumod ARGS --markdown` into the report; the stored run as NAME.json
  local title=$1 name=$2
  shift 2
  echo "== $title: gpumod $*" | tee -a "$LOG"
  local t0=$SECONDS
  { echo "### $title"; echo; echo "\`gpumod $*\`"; echo; } >>"$OUT/report.md"
  g "$@" --markdown >>"$OUT/report.md" 2>>"$LOG"
  echo >>"$OUT/report.md"
  g bench --history --limit 1 --json | python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["runs"][0]["report"], indent=1))' >"$OUT/$name.json"
  echo "   done in $((SECONDS - t0)) s" | tee -a "$LOG"
}
cleanup() { g daemon stop --with-services >>"$LOG" 2>&1 || true; }
trap cleanup EXIT

{
  echo "# gpumod bench validation ($(date -u +%Y-%m-%dT%H:%MZ))"
  echo
  echo "Machine: $(uname -n), $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1 || echo 'no nvidia-smi')"
  echo "llama-server: $LLAMA_SERVER ($("$LLAMA_SERVER" --version 2>&1 | head -2 | tr '\n' ' ' || true))"
  echo "gpumod: $("$GPUMOD" --version 2>&1)"
  echo "Models: $(cd "$MODEL_DIR" && ls -l tiny-1b.gguf small-3b.gguf | awk '{print $9 " " $5 " bytes"}' | tr '\n' ';')"
  echo "Command: $0 $*"
  echo
} >"$OUT/report.md"

for shape in tiny small; do
  svc=single-$shape
  g mode switch "$shape" >>"$LOG" 2>&1
  echo "## $svc: the seed's table" >>"$OUT/report.md"
  step "$svc 512/128" "$svc-512" bench "$svc" --prompt-tokens 512 --gen-tokens 128 --runs "$RUNS" --no-thinking
  step "$svc 2048/256" "$svc-2048" bench "$svc" --prompt-tokens 2048 --gen-tokens 256 --runs "$RUNS"
  step "$svc concurrency 4" "$svc-c4" bench "$svc" --prompt-tokens 512 --gen-tokens 128 --runs "$RUNS" --concurrency 4
  echo "## $svc: load through gpumod, cold (page cache dropped when root) and warm" >>"$OUT/report.md"
  cold_flags=(--cold)
  [[ ${KEEP_PAGE_CACHE:-0} == 1 ]] && cold_flags+=(--keep-page-cache)
  step "$svc cold load" "$svc-cold" bench "$svc" "${cold_flags[@]}" --prompt-tokens 128 --gen-tokens 16 --runs "$RUNS"
  step "$svc warm load" "$svc-warm" bench "$svc" --cold --keep-page-cache --prompt-tokens 128 --gen-tokens 16 --runs "$RUNS"
  g bench --history "$svc" --limit 5 --markdown >>"$OUT/report.md" 2>>"$LOG"
  echo >>"$OUT/report.md"
done

echo "## Router pair: bench switch a b (tiny-1b <-> small-3b in one router)" >>"$OUT/report.md"
step "bench switch" switch bench switch a b --rounds "$ROUNDS"
python3 - "$OUT" >>"$OUT/report.md" <<'PY' || true
import json, sys
out = sys.argv[1]
r = json.load(open(out + "/switch.json"))
print("| direction | through gpumod (median) | router's own swap (median) | ratio |")
print("|---|---:|---:|---:|")
for d in r["directions"]:
    sw = d.get("router_swap_ms") or {}
    print(f"| {d['direction']} | {d['total_ms']['median']:.0f} ms | {sw.get('median', float('nan')):.0f} ms | {d.get('ratio', float('nan')):.2f}x |")
for name in ("single-tiny", "single-small"):
    for kind in ("cold", "warm"):
        try:
            j = json.load(open(f"{out}/{name}-{kind}.json"))
            print(f"\n{name} load ({kind}): median {j['load_ms']['median']:.0f} ms (min {j['load_ms']['min']:.0f}, max {j['load_ms']['max']:.0f}); {j.get('cold_note', '')}")
        except Exception as e:  # a step failed: said in run.log
            print(f"\n{name} load ({kind}): not measured ({e})")
PY
echo >>"$OUT/report.md"
echo "## What a dry run now expects (from the measured durations)" >>"$OUT/report.md"
{ echo '```'; g mode switch b --dry-run 2>>"$LOG"; echo '```'; } >>"$OUT/report.md"
echo "## All runs" >>"$OUT/report.md"
g bench --history --markdown >>"$OUT/report.md" 2>>"$LOG"
echo "report: $OUT/report.md" | tee -a "$LOG"
