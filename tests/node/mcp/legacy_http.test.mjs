// The official TypeScript SDK client (1.x, protocol 2025-11-25) over streamable HTTP against
// `gpumod mcp --listen`, the same checks as over stdio; then the HTTP rules with raw requests:
// Origin (403), MCP-Protocol-Version (400), 202 for notifications, batches and malformed
// messages (400 with the JSON-RPC error), oversized bodies (413), GET (405); and /mcp on the
// daemon's own Unix socket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { cli, startHttpServer, post, postUnix, daemonSocket } from './lib.mjs';
import * as suite from './suite.mjs';

const isProtocolError = (e, code) => e instanceof McpError && e.code === code;
let server, client;

before(async () => {
  const reg = cli(['model', 'register', '--source', 'local', '--id', 'tiny', '--vram-mib', '1234']);
  assert.equal(reg.code, 0, reg.err);
  server = await startHttpServer();
  client = new Client({ name: 'gpumod-e2e-http', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
});
after(async () => { await client?.close(); await server?.stop(); });

let resources;
test('lists tools and resources', async () => { ({ resources } = await suite.listsToolsAndResources(client)); });
test('read tools', async () => { await suite.readTools(client); });
test('requests and bench_results from the state database', async () => { await suite.requestsAndBenchResults(client); });
test('Hugging Face tools against the fake hub', async () => { await suite.hfTools(client); });
test('switch_mode and the service operations', async () => { await suite.switchesAndOperations(client); });
test('reads every resource', async () => { await suite.readsEveryResource(client, resources); });
test('bad input', async () => { await suite.badInput(client, isProtocolError); });

test('HTTP: Origin, protocol version, notifications, batches, malformed, oversized, GET', async () => {
  const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
  let r = await post(server.url, ping, { origin: 'https://evil.example' });
  assert.equal(r.status, 403);
  r = await post(server.url, ping, { origin: 'http://localhost:6274' });
  assert.equal(r.status, 200, 'a loopback origin (the MCP Inspector) is served');
  r = await post(server.url, ping, { 'mcp-protocol-version': '1999-01-01' });
  assert.equal(r.status, 400);
  assert.match(r.body.error.message, /MCP-Protocol-Version/);
  r = await post(server.url, ping, { 'mcp-protocol-version': '2025-11-25' });
  assert.deepEqual(r.body, { jsonrpc: '2.0', id: 1, result: {} });
  r = await post(server.url, { jsonrpc: '2.0', method: 'notifications/initialized' });
  assert.equal(r.status, 202);
  assert.equal(r.text, '');
  r = await post(server.url, [ping, ping]);
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, -32600);
  r = await post(server.url, '{"jsonrpc":');
  assert.equal(r.status, 400);
  assert.equal(r.body.error.code, -32700);
  r = await post(server.url, { jsonrpc: '2.0', id: 2, method: 'nope' });
  assert.equal(r.status, 200);
  assert.equal(r.body.error.code, -32601);
  r = await post(server.url, { ...ping, pad: 'x'.repeat(1100 * 1024) });
  assert.equal(r.status, 413);
  r = await post(server.url, ping, { 'content-type': 'text/plain' });
  assert.equal(r.status, 415);
  const get = await fetch(server.url, { headers: { accept: 'text/event-stream' } });
  assert.equal(get.status, 405);
  r = await post(server.url, ping);
  assert.equal(r.status, 200, 'still serving');
});

test('the daemon serves /mcp on its Unix socket too', async () => {
  const r = await postUnix(daemonSocket(), { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'list_modes', arguments: {} } });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.result.structuredContent.modes.map((m) => m.id), ['a', 'b']);
});
