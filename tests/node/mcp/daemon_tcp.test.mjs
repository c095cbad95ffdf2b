// /mcp on the daemon's own loopback TCP listener (`gpumod daemon run --listen`, bearer token):
// the SDK 1.x client with the token, a request without it refused (401), and a switch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { BIN, ROOT, cli, freePort, post, call } from './lib.mjs';

const token = 'mcp-e2e-token-0123456789';
let daemon, url;

before(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}/mcp`;
  daemon = spawn(BIN, ['--config', ROOT, 'daemon', 'run', '--listen', `127.0.0.1:${port}`],
    { env: { ...process.env, GPUMOD_DAEMON_TOKEN: token } });
  let err = '';
  await new Promise((resolve, reject) => {
    daemon.stderr.on('data', (d) => { err += d; if (err.includes('listening on')) resolve(); });
    daemon.on('exit', (code) => reject(new Error(`daemon exited ${code}: ${err}`)));
  });
});
after(async () => {
  // Through the CLI, so the services the daemon started stop with it.
  const r = cli(['daemon', 'stop', '--with-services']);
  assert.equal(r.code, 0, r.err);
});

test('the daemon serves /mcp on its TCP listener, behind its bearer token', async () => {
  const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
  assert.equal((await post(url, ping)).status, 401);
  assert.equal((await post(url, ping, { authorization: 'Bearer wrong-token-000000000' })).status, 401);
  const client = new Client({ name: 'gpumod-e2e-daemon-tcp', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  try {
    const sw = await call(client, 'switch_mode', { mode_id: 'b' });
    assert.equal(sw.success, true, sw.message);
    const st = await call(client, 'gpu_status');
    assert.equal(st.current_mode, 'b');
    assert.equal(st.services.find((s) => s.id === 'beta').state, 'running');
  } finally {
    await client.close();
  }
});
