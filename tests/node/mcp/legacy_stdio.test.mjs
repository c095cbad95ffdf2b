// The official TypeScript SDK client (1.x, protocol 2025-11-25) against `gpumod mcp` over stdio;
// plus raw newline-delimited JSON-RPC for what the SDK never sends (bad JSON, a batch, an
// oversized line) and the list_changed notifications after a configuration edit.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpError, ToolListChangedNotificationSchema, ResourceListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { BIN, ROOT, cli, stdioParams, call } from './lib.mjs';
import * as suite from './suite.mjs';

const isProtocolError = (e, code) => e instanceof McpError && e.code === code;
let client;
const changed = { tools: 0, resources: 0 };

before(async () => {
  const reg = cli(['model', 'register', '--source', 'local', '--id', 'tiny', '--vram-mib', '1234']);
  assert.equal(reg.code, 0, reg.err);
  client = new Client({ name: 'gpumod-e2e', version: '1.0.0' });
  client.setNotificationHandler(ToolListChangedNotificationSchema, () => { changed.tools++; });
  client.setNotificationHandler(ResourceListChangedNotificationSchema, () => { changed.resources++; });
  await client.connect(new StdioClientTransport(stdioParams()));
});
after(async () => { await client?.close(); });

test('initialize negotiates 2025-11-25 and names the server', () => {
  assert.equal(client.getServerVersion().name, 'gpumod');
  assert.equal(client.getServerCapabilities().tools.listChanged, true);
  assert.ok(client.getInstructions().includes('gpumod://help'));
});

let resources;
test('lists tools and resources', async () => { ({ resources } = await suite.listsToolsAndResources(client)); });
test('read tools against the bundled-style sandbox', async () => { await suite.readTools(client); });
test('requests and bench_results from the state database', async () => { await suite.requestsAndBenchResults(client); });
test('Hugging Face tools against the fake hub', async () => { await suite.hfTools(client); });
test('switch_mode and the service operations against the mock servers', async () => { await suite.switchesAndOperations(client); });
test('reads every resource as Markdown without paths', async () => { await suite.readsEveryResource(client, resources); });
test('bad input gets clear errors and the server keeps serving', async () => { await suite.badInput(client, isProtocolError); });

test('a configuration edit sends tools and resources list_changed', async () => {
  fs.writeFileSync(path.join(ROOT, 'modes', 'c.yaml'), 'id: c\nname: c\nservices:\n  - shared\n');
  try {
    const { resources: now } = await client.listResources();  // the next message sees the edit
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(changed.tools, 1);
    assert.equal(changed.resources, 1);
    assert.ok(now.some((r) => r.uri === 'gpumod://modes/c'), 'the new mode is listed');
  } finally {
    fs.rmSync(path.join(ROOT, 'modes', 'c.yaml'));
  }
  await call(client, 'list_modes');
});

// Raw lines: one request per line, answers matched by id.
function rawSession() {
  const child = spawn(BIN, ['--config', ROOT, 'mcp'], { env: process.env, stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = '';
  const waiting = [];
  const lines = [];
  child.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, nl)));
      buf = buf.slice(nl + 1);
      while (waiting.length && lines.length) waiting.shift()(lines.shift());
    }
  });
  const next = () => new Promise((resolve) => (lines.length ? resolve(lines.shift()) : waiting.push(resolve)));
  return {
    send: async (text) => { child.stdin.write(text + '\n'); return next(); },
    close: () => new Promise((resolve) => { child.on('exit', resolve); child.stdin.end(); }),
  };
}

test('stdio: malformed JSON-RPC, a batch, an oversized line, an unknown method', async () => {
  const s = rawSession();
  let r = await s.send('{"jsonrpc": "2.0", "id": 1, "method": "ping"');
  assert.equal(r.error.code, -32700);
  assert.equal(r.id, null);
  r = await s.send(JSON.stringify([{ jsonrpc: '2.0', id: 2, method: 'ping' }]));
  assert.equal(r.error.code, -32600);
  assert.match(r.error.message, /batch/);
  r = await s.send(JSON.stringify({ jsonrpc: '1.0', id: 3, method: 'ping' }));
  assert.equal(r.error.code, -32600);
  r = await s.send(JSON.stringify({ jsonrpc: '2.0', id: { no: 1 }, method: 'ping' }));
  assert.equal(r.error.code, -32600);
  r = await s.send(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/explode' }));
  assert.equal(r.error.code, -32601);
  assert.equal(r.id, 4);
  r = await s.send(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { arguments: {} } }));
  assert.equal(r.error.code, -32602);
  r = await s.send(JSON.stringify({ jsonrpc: '2.0', id: 6, method: 'ping', pad: 'x'.repeat(1100 * 1024) }));
  assert.equal(r.error.code, -32600);
  assert.match(r.error.message, /larger than/);
  // A notification gets no answer: the next line answered is the ping after it.
  r = await s.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) + '\n' +
                   JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'ping' }));
  assert.deepEqual(r, { jsonrpc: '2.0', id: 7, result: {} });
  await s.close();
});
