#!/usr/bin/env python3
"""Measures real llama-server memory for the estimator (issue 18), on a machine with an NVIDIA GPU.

Usage: measure_gpu.py LLAMA_SERVER MAKE_MODEL OUT_DIR [--budget-s S] [--only ID,ID] [--second]

Makes synthetic models with gpumod-make-model (--data random), then runs a matrix of llama-server
cases, one server at a time. For each fixed case (`--fit off`): the server's buffer lines, the
process's GPU memory (nvidia-smi per process, and the GPU-wide used delta) after /health answers
and again after one long prompt (3000 token ids, > 2 ubatches, n_predict 1). For each fit case
(`--fit on`, no -c/-ngl): the free memory before start, the margin passed as --fit-target so that
the GPU looks as if N MiB were free (margin = free - N + 1024), the context and layers llama.cpp
chose, and the same memory readings. Rows are appended to OUT_DIR/cases.csv as they finish; the
server logs go to OUT_DIR/logs.tar.gz (rewritten every few cases) so a timeout still returns data.
Standard library only.
"""
import csv
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import tarfile
import time
import urllib.request

MODELS = {
    # id: (gpumod-make-model options, arch, layer count, KV MiB at 131072 f16 for the fit targets)
    "L": ("--arch llama --layers 16 --embd 2048 --heads 32 --kv-heads 8 --ff 8192", "llama", 16),
    "Q": ("--arch qwen3moe --layers 16 --embd 2048 --heads 16 --kv-heads 4 --ff 6144 "
          "--experts 32 --experts-used 4 --ff-exp 768", "qwen3moe", 16),
    "G": ("--arch gemma2 --layers 16 --embd 2048 --heads 8 --kv-heads 4 --ff 8192 --swa-window 1024",
          "gemma2", 16),
    "N": ("--arch nemotron_h_moe --layers 24 --embd 1536 --heads 12 --kv-heads 2 "
          "--experts 32 --experts-used 4 --ff-exp 768 --ssm-d-state 64 --ssm-groups 4",
          "nemotron_h_moe", 24),
}
COMMON = "--vocab 32064 --type q8_0 --ctx-train 131072"


def cases(second=False):
    """Fixed cases, in rounds so that a partial run still covers every architecture. The second
    set: --fit on with no -c (llama.cpp may shrink the context), and 4096-context runs with one
    slot (with 4 slots a slot holds 1024 tokens, too few for the long prompt)."""
    if second:
        out = []
        for t in ("hi", "mid", "lo"):
            out += [(m, dict(kind="fit", target=t, no_ctx=True)) for m in MODELS]
        out += [(m, dict(kind="fixed", ctx=4096, ctk="f16", fa="on", ngl="all", ncm=0, np=1,
                         swa_full=False)) for m in MODELS]
        return out
    rounds = []
    def fixed(ctx, ctk="f16", fa="on", ngl="all", ncm=0, np_=4, swa_full=False):
        return dict(kind="fixed", ctx=ctx, ctk=ctk, fa=fa, ngl=ngl, ncm=ncm, np=np_,
                    swa_full=swa_full)
    for m, (_, arch, nl) in MODELS.items():
        half = nl // 2
        r = [
            fixed(4096),
            fixed(32768, ngl=str(half)),
            dict(kind="fit", target="hi"),
            fixed(131072),
            fixed(32768, ctk="q8_0"),
            dict(kind="fit", target="lo"),
            fixed(32768, fa="off"),
            fixed(4096, ngl=str(half)),
            fixed(32768, np_=1),
            fixed(32768, ngl="0"),
            fixed(131072, ctk="q8_0", ngl=str(half)),
            fixed(32768),
        ]
        if arch in ("qwen3moe", "nemotron_h_moe"):
            r.insert(2, fixed(32768, ncm=half))
            r.insert(6, fixed(32768, ncm=nl))
        if arch == "gemma2":
            r.insert(2, fixed(32768, swa_full=True))
            r.insert(6, fixed(131072, swa_full=True))
            r.insert(9, fixed(4096, fa="off", swa_full=True))
        rounds.append([(m, c) for c in r])
    out = []
    for i in range(max(len(r) for r in rounds)):
        for r in rounds:
            if i < len(r):
                out.append(r[i])
    return out


def smi(query):
    try:
        return subprocess.run(["nvidia-smi", query, "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as e:  # noqa: BLE001
        return "ERR " + str(e)


def gpu_used_free():
    txt = smi("--query-gpu=memory.used,memory.free")
    try:
        used, free = [float(x) for x in txt.splitlines()[0].split(",")]
        return used, free
    except Exception:  # noqa: BLE001
        return float("nan"), float("nan")


def proc_mib(pid):
    txt = smi("--query-compute-apps=pid,used_memory")
    total = None
    for line in txt.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0] == str(pid):
            try:
                total = (total or 0) + float(parts[1])
            except ValueError:
                pass
    return total


def http(port, path, body=None, timeout=120):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


BUF_RE = re.compile(r"(\S+) (model|KV|RS|compute) buffer size =\s*([0-9.]+) MiB")


def parse_log(text):
    """Buffer lines after the last fit probe (the real load), summed per device and kind."""
    start = 0
    for m in re.finditer(r"llama_params_fit", text):
        start = m.end()
    body = text[start:]
    sums = {}
    for dev, kind, mib in BUF_RE.findall(body):
        sums[(dev, kind)] = sums.get((dev, kind), 0.0) + float(mib)
    n_ctx = re.findall(r"n_ctx\s*=\s*(\d+)", body)
    offl = re.findall(r"offloaded (\d+)/(\d+) layers to GPU", body)
    fit = [l.strip() for l in text.splitlines() if "params_fit" in l or "fit_params" in l]
    return sums, (int(n_ctx[0]) if n_ctx else None), (offl[-1] if offl else None), fit


FIELDS = ["id", "model", "spec", "arch", "file_mib", "kind", "ctx", "ctk", "ctv", "fa", "ngl",
          "n_cpu_moe", "parallel", "swa_full", "fit_free_target_mib", "fit_margin_mib",
          "free_before_mib", "status", "n_ctx", "offloaded", "cuda_model_mib", "cuda_kv_mib",
          "cuda_rs_mib", "cuda_compute_mib", "host_compute_mib", "smi_load_mib",
          "gpu_delta_load_mib", "smi_prompt_mib", "gpu_delta_prompt_mib", "prompt_tokens",
          "load_s", "fit_lines"]


def main():
    server, make_model, out = sys.argv[1], sys.argv[2], sys.argv[3]
    budget_s = 1e9
    only = None
    second = False
    args = sys.argv[4:]
    while args:
        if args[0] == "--budget-s":
            budget_s = float(args[1]); args = args[2:]
        elif args[0] == "--second":
            second = True; args = args[1:]
        elif args[0] == "--only":
            only = set(args[1].split(",")); args = args[2:]
        else:
            sys.exit("unknown option " + args[0])
    t0 = time.time()
    os.makedirs(out, exist_ok=True)
    work = "/tmp/gpumod-measure"
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(out, "env.txt"), "w") as f:
        f.write(subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout)
        f.write(smi("--query-gpu=name,driver_version,memory.total,memory.used,memory.free") + "\n")
        for a in (["--version"], ["--help"]):
            r = subprocess.run([server] + a, capture_output=True, text=True)
            f.write("\n".join(l for l in (r.stdout + r.stderr).splitlines()
                              if a == ["--version"] or "fit" in l or "swa" in l or "cpu-moe" in l)
                    + "\n")
    # models, in parallel
    procs = {}
    for m, (opts, _, _) in MODELS.items():
        path = os.path.join(work, m + ".gguf")
        if not os.path.exists(path):
            cmd = [make_model, path] + (opts + " " + COMMON).split() + ["--data", "random"]
            procs[m] = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for m, p in procs.items():
        o, _ = p.communicate()
        if p.returncode != 0:
            print("make-model failed", m, o[-2000:], flush=True)
    print(f"models ready in {time.time() - t0:.1f}s", flush=True)
    csv_path = os.path.join(out, "cases.csv")
    new = not os.path.exists(csv_path)
    fcsv = open(csv_path, "a", newline="")
    w = csv.DictWriter(fcsv, fieldnames=FIELDS)
    if new:
        w.writeheader()
    logs = {}
    rng = random.Random(18)
    prompt = [rng.randrange(300, 32000) for _ in range(3000)]
    port = 18180
    for i, (m, c) in enumerate(cases(second)):
        cid = f"{m}{i + (100 if second else 0):02d}"
        if only and cid not in only:
            continue
        if time.time() - t0 > budget_s:
            print("budget reached", flush=True)
            break
        opts, arch, nl = MODELS[m]
        path = os.path.join(work, m + ".gguf")
        if not os.path.exists(path):
            continue
        port += 1
        cmd = [server, "-m", path, "--host", "127.0.0.1", "--port", str(port), "-t", "8"]
        row = dict(id=cid, model=m, spec=opts + " " + COMMON, arch=arch,
                   file_mib=round(os.path.getsize(path) / 1048576, 2), kind=c["kind"])
        used0, free0 = gpu_used_free()
        row["free_before_mib"] = free0
        if c["kind"] == "fixed":
            cmd += ["--fit", "off", "-c", str(c["ctx"]), "-ctk", c["ctk"], "-ctv", c["ctk"],
                    "-fa", c["fa"], "-np", str(c["np"])]
            cmd += ["-ngl", "999" if c["ngl"] == "all" else c["ngl"]]
            if c["ncm"]:
                cmd += ["--n-cpu-moe", str(c["ncm"])]
            if c["swa_full"]:
                cmd += ["--swa-full"]
            row.update(ctx=c["ctx"], ctk=c["ctk"], ctv=c["ctk"], fa=c["fa"], ngl=c["ngl"],
                       n_cpu_moe=c["ncm"], parallel=c["np"], swa_full=int(c["swa_full"]))
        else:
            # targets: "hi" leaves room for about half the 131072 context, "lo" needs offload
            fsz = row["file_mib"]
            kv_full = {"L": 4096, "Q": 4096, "G": 4096 + 144, "N": 384}[m]
            target = {"hi": fsz + kv_full * 0.5 + 1024 + 800, "mid": fsz + kv_full * 0.15 + 1024 + 700,
                      "lo": fsz * 0.6 + 1024 + 700}[c["target"]]
            target = round(target)
            margin = int(free0 - target + 1024)
            cmd += ["--fit", "on", "--fit-target", str(margin)]
            if not c.get("no_ctx"):
                cmd += ["-c", "0"]  # 0 is a context set by the user: fit keeps it
            row.update(ctx="" if c.get("no_ctx") else 0, ctk="f16", ctv="f16", fa="auto", ngl="fit", n_cpu_moe=0, parallel=4,
                       swa_full=0, fit_free_target_mib=target, fit_margin_mib=margin)
        log_path = os.path.join(work, cid + ".log")
        logf = open(log_path, "w")
        logf.write(" ".join(cmd) + "\n"); logf.flush()
        ts = time.time()
        p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
        status = "timeout"
        try:
            while time.time() - ts < 90:
                if p.poll() is not None:
                    status = f"exit {p.returncode}"
                    break
                try:
                    st, _ = http(port, "/health", timeout=2)
                    if st == 200:
                        status = "ok"
                        break
                except Exception:  # noqa: BLE001
                    pass
                time.sleep(0.15)
            row["load_s"] = round(time.time() - ts, 2)
            if status == "ok":
                time.sleep(0.5)
                row["smi_load_mib"] = proc_mib(p.pid)
                row["gpu_delta_load_mib"] = gpu_used_free()[0] - used0
                for n in (3000, 1100):  # 1100 (> 2 ubatches) if a slot holds less than 3000
                    try:
                        st, body = http(port, "/completion", {"prompt": prompt[:n], "n_predict": 1,
                                                             "cache_prompt": False}, timeout=120)
                        j = json.loads(body)
                        row["prompt_tokens"] = (j.get("tokens_evaluated")
                                                or j.get("timings", {}).get("prompt_n"))
                        status = "ok" if n == 3000 else "ok, 1100-token prompt"
                        break
                    except Exception as e:  # noqa: BLE001
                        status = "prompt failed: " + str(e)[:80]
                time.sleep(0.5)
                row["smi_prompt_mib"] = proc_mib(p.pid)
                row["gpu_delta_prompt_mib"] = gpu_used_free()[0] - used0
        finally:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=10)
            except Exception:  # noqa: BLE001
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            logf.close()
        text = open(log_path, errors="replace").read()
        logs[cid] = text
        sums, n_ctx, offl, fit = parse_log(text)
        row["status"] = status
        row["n_ctx"] = n_ctx
        row["offloaded"] = "/".join(offl) if offl else ""
        row["cuda_model_mib"] = sums.get(("CUDA0", "model"))
        row["cuda_kv_mib"] = sums.get(("CUDA0", "KV"))
        row["cuda_rs_mib"] = sums.get(("CUDA0", "RS"))
        row["cuda_compute_mib"] = sums.get(("CUDA0", "compute"))
        row["host_compute_mib"] = sums.get(("CUDA_Host", "compute"))
        row["fit_lines"] = " | ".join(fit)[-1500:] if c["kind"] == "fit" else ""
        w.writerow(row)
        fcsv.flush()
        print(cid, status, row.get("smi_load_mib"), row.get("smi_prompt_mib"),
              f"{time.time() - t0:.0f}s", flush=True)
        if i % 6 == 5:
            write_logs(out, logs)
        # wait for the GPU memory to come back before the next case
        for _ in range(20):
            if gpu_used_free()[0] - used0 < 50:
                break
            time.sleep(0.2)
    write_logs(out, logs)


def write_logs(out, logs):
    tmp = os.path.join(out, "logs.tar.gz.tmp")
    with tarfile.open(tmp, "w:gz") as t:
        for cid, text in logs.items():
            data = text.encode()
            info = tarfile.TarInfo(cid + ".log"); info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    os.replace(tmp, os.path.join(out, "logs.tar.gz"))


if __name__ == "__main__":
    main()
