// Shared pieces of the MCP e2e tests. The C++ driver (tests/e2e/mcp_node_test.cpp) prepares a
// sandbox -- a configuration whose services run gpumod-mock-server on a simulated GPU, private
// XDG directories, a loopback fake Hugging Face Hub -- and runs `node --test FILE` with:
//   GPUMOD_BIN     the gpumod binary
//   GPUMOD_ROOT    the configuration directory (modes a = shared+alpha, b = shared+beta)
//   GPUMOD_HF_REPO a GGUF repo the fake hub serves
// The state database holds three requests of the endpoint (test/alpha, test/beta, test/alpha, the
// last 30 ms long) and two serve bench runs (alpha at 50 then 60 gen tok/s, beta at 80).
// plus the sandbox's HOME/XDG_*/GPUMOD_*/HF_* variables, which every gpumod started here inherits.
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import http from 'node:http';
import path from 'node:path';
import assert from 'node:assert/strict';

export const BIN = process.env.GPUMOD_BIN;
export const ROOT = process.env.GPUMOD_ROOT;
export const HF_REPO = process.env.GPUMOD_HF_REPO;
assert.ok(BIN && ROOT, 'GPUMOD_BIN and GPUMOD_ROOT must be set (run through ctest: McpNode.*)');

export const stdioParams = () => ({ command: BIN, args: ['--config', ROOT, 'mcp'], env: { ...process.env }, stderr: 'pipe' });

// Runs the gpumod CLI; returns {code, out, err}.
export function cli(args) {
  const r = spawnSync(BIN, ['--config', ROOT, ...args], { env: process.env, encoding: 'utf8', timeout: 60000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// Runs the gpumod CLI without waiting; resolves to {code, out, err}.
export function cliAsync(args) {
  return new Promise((resolve) => {
    const child = spawn(BIN, ['--config', ROOT, ...args], { env: process.env });
    let out = '', err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, out, err }));
  });
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

// Starts `gpumod mcp --listen 127.0.0.1:PORT`; resolves once it says it serves.
export async function startHttpServer() {
  const port = await freePort();
  const child = spawn(BIN, ['--config', ROOT, 'mcp', '--listen', `127.0.0.1:${port}`], { env: process.env });
  let err = '';
  await new Promise((resolve, reject) => {
    child.stderr.on('data', (d) => {
      err += d;
      if (err.includes('serving MCP at')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`gpumod mcp --listen exited ${code}: ${err}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    stop: () => new Promise((resolve) => { child.once('exit', resolve); child.kill('SIGTERM'); }),
  };
}

// One raw POST; resolves to {status, body (parsed JSON or null), text}.
export async function post(url, body, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed = null;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed, text };
}

// One raw POST over the daemon's Unix socket (its /mcp).
export function postUnix(socketPath, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = http.request({ socketPath, path: '/mcp', method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'content-length': Buffer.byteLength(data) } },
    (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

export const daemonSocket = () => path.join(process.env.XDG_RUNTIME_DIR, 'gpumod', 'daemon.sock');

// The gpumod tools: the predecessor's twelve, then gpumod's own.
export const PARITY_TOOLS = ['gpu_status', 'list_services', 'list_modes', 'service_info', 'model_info', 'simulate_mode',
  'switch_mode', 'start_service', 'stop_service', 'search_hf_models', 'list_gguf_files', 'generate_preset'];
export const NEW_TOOLS = ['plan_switch', 'estimate_model', 'service_logs', 'events', 'sleep_service', 'wake_service', 'model_quants',
  'requests', 'bench_results'];

export const text = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('\n');

// The structured result of a tool that must succeed.
export async function call(client, name, args = {}) {
  const r = await client.callTool({ name, arguments: args });
  assert.equal(r.isError, false, `${name} failed: ${text(r)}`);
  assert.ok(r.structuredContent && typeof r.structuredContent === 'object', `${name}: no structuredContent`);
  assert.ok(text(r).length > 0, `${name}: no text rendering`);
  return r.structuredContent;
}

// The message of a tool call that must fail with isError.
export async function callError(client, name, args) {
  const r = await client.callTool({ name, arguments: args });
  assert.equal(r.isError, true, `${name} ${JSON.stringify(args)} should fail, got ${text(r)}`);
  return text(r);
}

// Events of the daemon (`events --json` is one document: {"events": [...]}).
export function events() {
  const r = cli(['events', '--json', '--limit', '10000']);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out).events;
}

export function statusJson() {
  const r = cli(['status', '--json']);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out);
}
