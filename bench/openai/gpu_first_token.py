#!/usr/bin/env python3
"""First token of a sleeping llama-server router model through gpumod vs the router's own load.

Issue 14 target: from a request for a sleeping router model (through gpumod's OpenAI endpoint) to
its first token <= the router's own load time + the first token on the loaded model + 50 ms.

Real GPU (the lead runs this on the GPU box; nothing is built or downloaded here):
  bench/openai/gpu_first_token.py --gpumod build/bin/gpumod --llama-server /path/to/llama-server \\
      --models-dir /models --model-a MODEL_A_STEM --model-b MODEL_B_STEM [--vram-a 8000 --vram-b 8000] [--runs 3]
(MODEL_*_STEM: file names in --models-dir without .gguf.) Without --llama-server it runs against
gpumod-mock-server (GPUMOD_USE_MOCK_SERVERS=1, --mock-load-ms load delay) to test the script.

Each run: r-b loaded (r-a asleep) -> time a streamed request for model A through gpumod to the first
`data:` line with content (gpumod wakes it: unload B, load A); then, for the reference, unload A
and time the router's own POST /models/load A until /models says loaded, then the first token of
a direct request on the loaded model. Prints a table and writes bench/data/openai-first-token-<date>.txt.
"""
import argparse, datetime, http.client, json, os, pathlib, socket, statistics, subprocess, sys, tempfile, time


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def first_token_ms(port, model, path="/v1/chat/completions", timeout=600):
    body = json.dumps({"model": model, "stream": True, "max_tokens": 8,
                       "messages": [{"role": "user", "content": "Say hello."}]})
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("POST", path, body, {"Content-Type": "application/json"})
    r = c.getresponse()
    if r.status != 200:
        raise RuntimeError(f"{model}: HTTP {r.status}: {r.read()[:300]!r}")
    while True:
        line = r.fp.readline()
        if not line:
            raise RuntimeError(f"{model}: stream ended without a token")
        if line.startswith(b"data:") and b"[DONE]" not in line:
            ev = json.loads(line[5:])
            delta = (ev.get("choices") or [{}])[0].get("delta", {})
            if delta.get("content") or delta.get("reasoning_content"):
                ms = (time.monotonic() - t0) * 1000
                c.close()
                return ms


def router_call(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request(method, path, json.dumps(body) if body is not None else None, {"Content-Type": "application/json"})
    r = c.getresponse(); data = r.read(); c.close()
    return r.status, data


def model_status(port, model):
    _, data = router_call(port, "GET", "/models")
    for m in json.loads(data).get("data", []):
        if m.get("id") == model:
            return m.get("status", {}).get("value")
    return None


def wait_status(port, model, want, timeout=600):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if model_status(port, model) == want:
            return
        time.sleep(0.005)
    raise RuntimeError(f"{model} never became {want}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpumod", default="build/bin/gpumod")
    ap.add_argument("--llama-server", default="")
    ap.add_argument("--models-dir", default="/nonexistent/mock-models")
    ap.add_argument("--model-a", default="alpha")
    ap.add_argument("--model-b", default="beta")
    ap.add_argument("--vram-a", type=int, default=8000)
    ap.add_argument("--vram-b", type=int, default=8000)
    ap.add_argument("--ctx", type=int, default=4096)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mock-load-ms", type=int, default=800)
    a = ap.parse_args()
    gpumod = str(pathlib.Path(a.gpumod).resolve())
    mock = not a.llama_server
    sandbox = pathlib.Path(tempfile.mkdtemp(prefix="gpumod-first-token-"))
    env = dict(os.environ, HOME=str(sandbox), XDG_STATE_HOME=str(sandbox / "state"), XDG_RUNTIME_DIR=str(sandbox / "run"),
               XDG_CONFIG_HOME=str(sandbox / "cfghome"), GPUMOD_DB_PATH=str(sandbox / "state" / "gpumod.db"))
    (sandbox / "run").mkdir(mode=0o700)
    if mock:
        env.update(GPUMOD_USE_MOCK_SERVERS="1", GPUMOD_SIM_GPU_DIR=str(sandbox / "simgpu"))
        env["PATH"] = "/usr/bin:/bin"  # no real llama-server: the mock stands in
    router, serve = free_port(), free_port()
    cfg = sandbox / "cfg"; (cfg / "presets").mkdir(parents=True); (cfg / "modes").mkdir()
    settings = f'serve: {{listen: "127.0.0.1:{serve}", min_residency_s: 0}}\nhealth_interval_ms: 60000\n'
    if mock:
        settings = "gpu: {simulate: {name: Mock GPU, total_mib: 24000, only_without_gpu: false}}\nvram_margin_mib: 0\n" + settings
    (cfg / "gpumod.yaml").write_text(settings)
    for sid, model, vram in (("r-a", a.model_a, a.vram_a), ("r-b", a.model_b, a.vram_b)):
        text = (f"id: {sid}\ndriver: llamacpp\nport: {router}\nvram_mb: {vram}\ncontext_size: {a.ctx}\nsupports_sleep: true\n"
                f"sleep_mode: router\nstartup_timeout: 600\nunit_vars:\n  models_dir: \"{a.models_dir}\"\n  models_max: 1\n"
                f"  no_models_autoload: true\n  default_model: \"{model}\"\n")
        if a.llama_server:
            text += f"  llamacpp_bin: \"{a.llama_server}\"\n"
        if mock:
            text += f"env: {{GPUMOD_MOCK_LOAD_DELAY_MS: \"{a.mock_load_ms}\", GPUMOD_MOCK_UNLOAD_DELAY_MS: \"50\"}}\n"
        (cfg / "presets" / f"{sid}.yaml").write_text(text)

    def g(*args):
        return subprocess.run([gpumod, "--config", str(cfg), *args], env=env, capture_output=True, text=True, timeout=900)

    rows = []
    try:
        r = g("daemon", "start")
        if r.returncode != 0:
            sys.exit(f"daemon start: {r.stdout}{r.stderr}")
        for i in range(a.runs):
            r = g("service", "start", "r-b")  # router up with B; A asleep (unloaded)
            if r.returncode != 0:
                sys.exit(f"start r-b: {r.stdout}{r.stderr}")
            g("service", "wake", "r-b")
            wait_status(router, a.model_b, "loaded")
            through = first_token_ms(serve, a.model_a)
            # The reference, from the same state (B loaded, A not): the router's own load of A (it
            # unloads B itself at models_max 1), then the first token on the loaded model.
            router_call(router, "POST", "/models/unload", {"model": a.model_a})
            wait_status(router, a.model_a, "unloaded")
            router_call(router, "POST", "/models/load", {"model": a.model_b})
            wait_status(router, a.model_b, "loaded")
            t0 = time.monotonic()
            st, data = router_call(router, "POST", "/models/load", {"model": a.model_a})
            if st != 200:
                sys.exit(f"router load: HTTP {st} {data[:200]!r}")
            wait_status(router, a.model_a, "loaded")
            load = (time.monotonic() - t0) * 1000
            direct = first_token_ms(router, a.model_a)
            rows.append((through, load, direct))
            print(f"run {i + 1}: through gpumod {through:.1f} ms; router load {load:.1f} ms + first token {direct:.1f} ms", flush=True)
            g("service", "sleep", "r-a")
    finally:
        g("daemon", "stop", "--with-services")
    med = [statistics.median(c) for c in zip(*rows)]
    over = med[0] - (med[1] + med[2])
    lines = [f"gpumod first token of a sleeping router model, {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')}",
             f"server: {a.llama_server or 'gpumod-mock-server (load delay %d ms)' % a.mock_load_ms}; models {a.model_a} / {a.model_b}; runs {a.runs}",
             f"median through gpumod {med[0]:.1f} ms; router's own load {med[1]:.1f} ms + first token {med[2]:.1f} ms",
             f"gpumod's extra {over:.1f} ms (target <= 50): {'PASS' if over <= 50 else 'MISS'}"]
    print("\n".join(lines))
    if not mock:
        out = pathlib.Path(__file__).resolve().parents[1] / "data" / f"openai-first-token-{datetime.date.today()}.txt"
        out.write_text("\n".join(lines) + "\n")
        print(f"written: {out}")


if __name__ == "__main__":
    main()
