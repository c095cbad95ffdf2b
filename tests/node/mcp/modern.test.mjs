// Protocol 2026-07-28 (server/discover, the version in each request's _meta, no session): the
// official SDK's newer client (@modelcontextprotocol/client 2.x, pinned to 2026-07-28) over
// streamable HTTP and over stdio, and raw JSON-RPC for discover's answer and the -32022 error.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport, ProtocolError } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { startHttpServer, post, stdioParams, call, PARITY_TOOLS } from './lib.mjs';

const META = 'io.modelcontextprotocol/protocolVersion';
let server;
before(async () => { server = await startHttpServer(); });
after(async () => { await server?.stop(); });

async function exercise(client) {
  assert.equal(client.getProtocolEra(), 'modern');
  assert.equal(client.getNegotiatedProtocolVersion(), '2026-07-28');
  assert.equal(client.getServerVersion()?.name, 'gpumod');
  const { tools } = await client.listTools();
  for (const n of PARITY_TOOLS) assert.ok(tools.some((t) => t.name === n), n);
  const st = await call(client, 'gpu_status');
  assert.equal(st.gpu.simulated, true);
  const plan = await call(client, 'plan_switch', { mode_id: 'a' });
  assert.equal(plan.dry_run, true);
  const help = await client.readResource({ uri: 'gpumod://help' });
  assert.match(help.contents[0].text, /^# gpumod/);
  const r = await client.callTool({ name: 'switch_mode', arguments: { mode_id: 'no-such-mode' } });
  assert.equal(r.isError, true);
  await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }),
    (e) => e instanceof ProtocolError && e.code === -32602);
}

test('SDK 2.x client pinned to 2026-07-28 over streamable HTTP', async () => {
  const client = new Client({ name: 'gpumod-e2e-modern', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.url)));
  try { await exercise(client); } finally { await client.close(); }
});

test('SDK 2.x client pinned to 2026-07-28 over stdio', async () => {
  const client = new Client({ name: 'gpumod-e2e-modern', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } } });
  await client.connect(new StdioClientTransport(stdioParams()));
  try { await exercise(client); } finally { await client.close(); }
});

test('raw server/discover, per-request _meta, -32022 for an unknown revision', async () => {
  const meta = { [META]: '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };
  const headers = { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'server/discover' };
  let r = await post(server.url, { jsonrpc: '2.0', id: 1, method: 'server/discover', params: { _meta: meta } }, headers);
  assert.equal(r.status, 200);
  assert.deepEqual(r.body.result.supportedVersions.slice(0, 2), ['2026-07-28', '2025-11-25']);
  assert.equal(r.body.result.resultType, 'complete');
  assert.equal(r.body.result.capabilities.tools.listChanged, true);
  assert.equal(r.body.result._meta['io.modelcontextprotocol/serverInfo'].name, 'gpumod');
  // No initialize, no session: a tools/call stands alone.
  r = await post(server.url, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'list_modes', arguments: {}, _meta: meta } },
    { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': 'list_modes' });
  assert.equal(r.body.result.resultType, 'complete');
  assert.deepEqual(r.body.result.structuredContent.modes.map((m) => m.id), ['a', 'b']);
  assert.equal(r.body.result.isError, false);
  r = await post(server.url, { jsonrpc: '2.0', id: 3, method: 'tools/list', params: { _meta: meta } });
  assert.equal(r.body.result.ttlMs, 0);
  assert.equal(r.body.result.cacheScope, 'private');
  r = await post(server.url, { jsonrpc: '2.0', id: 4, method: 'tools/list', params: { _meta: { [META]: '2099-01-01' } } });
  assert.equal(r.body.error.code, -32022);
  assert.equal(r.body.error.data.requested, '2099-01-01');
  assert.ok(r.body.error.data.supported.includes('2026-07-28'));
});
