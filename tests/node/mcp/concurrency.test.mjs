// An MCP switch_mode and a CLI `gpumod mode switch` at the same moment: the daemon serializes
// them (one lock for both): both answer, no two switches ever overlap in the event log, and the
// final state is one whole mode on the GPU.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { stdioParams, cliAsync, events, statusJson, text } from './lib.mjs';

let client;
after(async () => { await client?.close(); });

test('MCP switch_mode and CLI mode switch at once are serialized by the daemon', async () => {
  client = new Client({ name: 'gpumod-e2e-concurrency', version: '1.0.0' });
  await client.connect(new StdioClientTransport(stdioParams()));
  await client.listTools();
  for (let round = 0; round < 3; ++round) {
    const [mcp, cliRun] = await Promise.all([
      client.callTool({ name: 'switch_mode', arguments: { mode_id: 'a' } }),
      cliAsync(['mode', 'switch', 'b', '--json']),
    ]);
    assert.equal(mcp.isError, false, text(mcp));
    assert.equal(mcp.structuredContent.success, true, mcp.structuredContent.message);
    assert.equal(cliRun.code, 0, cliRun.err);
    assert.equal(JSON.parse(cliRun.out).success, true);
    // Whichever ran second won: its mode is whole on the GPU, the other's own service is stopped.
    const st = statusJson();
    const state = Object.fromEntries(st.services.map((s) => [s.id, s.state]));
    const mode = st.current_mode;
    assert.ok(mode === 'a' || mode === 'b', mode);
    const mine = mode === 'a' ? 'alpha' : 'beta';
    const other = mode === 'a' ? 'beta' : 'alpha';
    assert.equal(state.shared, 'running');
    assert.equal(state[mine], 'running');
    assert.notEqual(state[other], 'running');
    // The other mode's own service is asleep (vLLM level 1 keeps a little) or stopped: never both whole.
    const used = st.gpu.devices[0].used_mib;
    assert.ok(used >= (mode === 'a' ? 4000 : 5000) && used < 8000, `GPU used ${used} MiB in mode ${mode}`);
  }
  let open = 0;
  let started = 0;
  for (const e of events()) {
    if (e.kind === 'switch.started') { assert.equal(open, 0, 'two switches ran at once'); open++; started++; }
    if (e.kind === 'switch.done' || e.kind === 'switch.failed') open--;
  }
  assert.ok(started >= 3, `switches recorded: ${started}`);
});
