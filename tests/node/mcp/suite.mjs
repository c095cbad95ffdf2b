// What every client run checks, over any transport: the tools and resources listed, each read
// tool against the sandbox, simulate / plan / switch against the mock servers, the service
// operations, the Hugging Face tools against the fake hub, every resource read, and the bad
// inputs (each a JSON-RPC error or isError with a clear message, the server serving on).
import assert from 'node:assert/strict';
import { ROOT, HF_REPO, PARITY_TOOLS, NEW_TOOLS, call, callError, text, cli } from './lib.mjs';

export async function listsToolsAndResources(client) {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const n of [...PARITY_TOOLS, ...NEW_TOOLS]) assert.ok(names.includes(n), `tool ${n} listed`);
  for (const t of tools) {
    assert.equal(t.inputSchema.type, 'object', `${t.name} inputSchema`);
    assert.equal(t.outputSchema?.type, 'object', `${t.name} outputSchema`);
    assert.equal(typeof t.annotations?.readOnlyHint, 'boolean', `${t.name} readOnlyHint`);
  }
  const by = Object.fromEntries(tools.map((t) => [t.name, t]));
  for (const n of ['gpu_status', 'list_services', 'list_modes', 'simulate_mode', 'plan_switch', 'events', 'requests',
    'bench_results']) {
    assert.equal(by[n].annotations.readOnlyHint, true, `${n} is a read`);
  }
  for (const n of ['switch_mode', 'stop_service', 'sleep_service']) {
    assert.equal(by[n].annotations.destructiveHint, true, `${n} is destructive`);
    assert.equal(by[n].annotations.readOnlyHint, false);
  }
  assert.deepEqual(by.switch_mode.inputSchema.required, ['mode_id']);

  const { resources } = await client.listResources();
  const uris = resources.map((r) => r.uri);
  for (const u of ['help', 'config', 'status', 'events', 'modes', 'services', 'models', 'modes/a', 'modes/b', 'services/alpha']) {
    assert.ok(uris.includes(`gpumod://${u}`), `resource gpumod://${u} listed (got ${uris.join(' ')})`);
  }
  const { resourceTemplates } = await client.listResourceTemplates();
  assert.deepEqual(resourceTemplates.map((t) => t.uriTemplate).sort(),
    ['gpumod://models/{id}', 'gpumod://modes/{id}', 'gpumod://services/{id}']);
  return { tools, resources };
}

export async function readsEveryResource(client, resources) {
  for (const r of resources) {
    const { contents } = await client.readResource({ uri: r.uri });
    assert.equal(contents.length, 1, r.uri);
    assert.equal(contents[0].mimeType, 'text/markdown', r.uri);
    assert.match(contents[0].text, /^# /, `${r.uri} is Markdown`);
    assert.ok(!contents[0].text.includes(ROOT), `${r.uri} shows no configuration path`);
    assert.ok(!/\/(tmp|home|root)\//.test(contents[0].text), `${r.uri} shows no filesystem path: ${contents[0].text}`);
  }
  const status = await client.readResource({ uri: 'gpumod://status' });
  assert.match(status.contents[0].text, /Test GPU \(simulated\)/);
  const mode = await client.readResource({ uri: 'gpumod://modes/a' });
  assert.match(mode.contents[0].text, /`alpha`/);
  assert.match(mode.contents[0].text, /`shared`/);
}

export async function readTools(client) {
  const st = await call(client, 'gpu_status');
  assert.equal(st.gpu.simulated, true);
  assert.equal(st.gpu.devices[0].total_mib, 24000);
  assert.deepEqual(st.services.map((s) => s.id).sort(), ['alpha', 'beta', 'shared']);

  const services = await call(client, 'list_services');
  assert.deepEqual(services.services.map((s) => s.id), ['alpha', 'beta', 'shared']);
  const alpha = services.services.find((s) => s.id === 'alpha');
  assert.equal(alpha.vram_mib, 3000);
  assert.deepEqual(alpha.modes, ['a']);

  const modes = await call(client, 'list_modes');
  assert.deepEqual(modes.modes.map((m) => [m.id, m.total_vram_mib]), [['a', 4000], ['b', 5000]]);

  const info = await call(client, 'service_info', { service_id: 'beta' });
  assert.equal(info.config.vram_mib, 4000);
  assert.equal(info.runtime.id, 'beta');

  const model = await call(client, 'model_info', { model_id: 'tiny' });
  assert.equal(model.source, 'local');
  assert.equal(model.base_vram_mib, 1234);

  const sim = await call(client, 'simulate_mode', { mode_id: 'a', add: ['beta'] });
  assert.equal(sim.fits, true);
  const cli_sim = cli(['simulate', 'mode', 'a', '--add', 'beta', '--json']);
  assert.deepEqual(sim, JSON.parse(cli_sim.out), 'simulate_mode answers what `gpumod simulate mode --json` prints');

  const plan = await call(client, 'plan_switch', { mode_id: 'b' });
  assert.equal(plan.dry_run, true);
  assert.equal(plan.to_mode, 'b');
  assert.ok(plan.steps.length > 0 && plan.steps.every((s) => s.outcome === 'planned'));
  assert.ok(plan.steps.every((s) => typeof s.predicted_free_mib === 'number'), 'per-step VRAM');

  const ev = await call(client, 'events', { after: 0 });
  assert.ok(Array.isArray(ev.events));
}

// The request ring and the bench history the C++ driver stored (lib.mjs says what).
export async function requestsAndBenchResults(client) {
  const all = await call(client, 'requests');
  assert.deepEqual(all.requests.map((r) => r.model), ['test/alpha', 'test/beta', 'test/alpha'], 'oldest first');
  assert.deepEqual(all.requests.map((r) => r.service), ['alpha', 'beta', 'alpha']);
  const newestAlpha = await call(client, 'requests', { service_id: 'alpha', limit: 1 });
  assert.equal(newestAlpha.requests.length, 1);
  assert.equal(newestAlpha.requests[0].duration_ms, 30, 'the newest of alpha');
  const beta = await call(client, 'requests', { model: 'test/beta' });
  assert.deepEqual(beta.requests.map((r) => [r.service, r.status, r.action]), [['beta', 200, 'wake']]);
  assert.equal((await call(client, 'requests', { model: 'nobody' })).requests.length, 0);
  const table = await client.callTool({ name: 'requests', arguments: {} });
  assert.match(text(table), /TTFB ms/);
  assert.match(text(table), /test\/beta/);

  const runs = await call(client, 'bench_results');
  assert.deepEqual(runs.runs.map((r) => [r.subject, r.gen_tps]), [['beta', 80], ['alpha', 60], ['alpha', 50]], 'newest first');
  const alpha = await call(client, 'bench_results', { service_id: 'alpha', limit: 1 });
  assert.deepEqual(alpha.runs.map((r) => r.gen_tps), [60]);
  assert.equal(alpha.runs[0].settings, 'prompt=512 gen=128 runs=3 concurrency=1');
  const history = await client.callTool({ name: 'bench_results', arguments: { service_id: 'beta' } });
  assert.match(text(history), /GEN tok\/s/);
  assert.match(text(history), /80\.0/);

  assert.match(await callError(client, 'requests', { limit: 0 }), /limit.*minimum/);
  assert.match(await callError(client, 'requests', { service_id: '../etc' }), /service id/);
  assert.match(await callError(client, 'requests', { service_id: 'alpah' }), /no service 'alpah'.*alpha/);
  assert.match(await callError(client, 'requests', { model: 7 }), /model.*expected a string/);
  assert.match(await callError(client, 'bench_results', { limit: 'ten' }), /limit.*expected an integer/);
  assert.match(await callError(client, 'bench_results', { service_id: 'gamma' }), /no service 'gamma'/);
  assert.match(await callError(client, 'bench_results', { subject: 'alpha' }), /unknown argument/);
}

export async function hfTools(client) {
  const found = await call(client, 'search_hf_models', { query: 'Nemotron', limit: 5 });
  assert.ok(found.results.some((r) => r.repo === HF_REPO), JSON.stringify(found));

  const files = await call(client, 'list_gguf_files', { repo_id: HF_REPO });
  assert.equal(files.files.length, 5);
  assert.ok(files.files.every((f) => f.file.endsWith('.gguf') && f.file_bytes > 0));

  const quants = await call(client, 'model_quants', { repo_id: HF_REPO, ctx: 8192, vram_mib: 24564 });
  const q4 = quants.quants.find((q) => q.quant === 'UD-Q4_K_XL');
  assert.equal(q4.fits, true);
  assert.ok(q4.vram_mib > 0);

  const est = await call(client, 'estimate_model', { repo_id: HF_REPO, quant: 'UD-Q4_K_XL', ctx: 8192 });
  assert.equal(est.quant.quant, 'UD-Q4_K_XL');
  assert.equal(est.quant.vram_mib, q4.vram_mib, 'the same estimate as model_quants at the same context');

  const preset = await call(client, 'generate_preset', { repo_id: HF_REPO, gguf_file: 'UD-Q4_K_XL', vram_mib: 24000 });
  assert.match(preset.yaml, /driver: llamacpp/);
  assert.equal(preset.written_to, null, 'returned, not written');

  assert.match(await callError(client, 'list_gguf_files', { repo_id: '../../etc' }), /repo/);
  assert.match(await callError(client, 'search_hf_models', { query: '--help' }), /must not start with '-'/);
}

export async function switchesAndOperations(client) {
  const sw = await call(client, 'switch_mode', { mode_id: 'a' });
  assert.equal(sw.success, true, sw.message);
  assert.deepEqual([...sw.started].sort(), ['alpha', 'shared']);
  let st = await call(client, 'gpu_status');
  const state = (id) => st.services.find((s) => s.id === id).state;
  assert.equal(st.current_mode, 'a');
  assert.equal(state('alpha'), 'running');
  assert.equal(state('beta'), 'stopped');
  assert.equal(st.gpu.devices[0].used_mib, 4000, 'the mock servers hold the memory of mode a');

  const logs = await call(client, 'service_logs', { service_id: 'alpha', lines: 5 });
  assert.ok(logs.lines.length > 0 && logs.lines.length <= 5);
  assert.equal(logs.path, undefined, 'no log path');

  const slept = await call(client, 'sleep_service', { service_id: 'alpha', level: 1 });
  assert.equal(slept.state, 'sleeping');
  assert.equal(slept.changed, true);
  const woken = await call(client, 'wake_service', { service_id: 'alpha' });
  assert.equal(woken.state, 'running');
  const stopped = await call(client, 'stop_service', { service_id: 'alpha' });
  assert.equal(stopped.state, 'stopped');
  const started = await call(client, 'start_service', { service_id: 'alpha' });
  assert.equal(started.state, 'running');
  const again = await call(client, 'start_service', { service_id: 'alpha' });
  assert.equal(again.changed, false, 'starting a running service changes nothing');

  const sw2 = await call(client, 'switch_mode', { mode_id: 'b' });
  assert.equal(sw2.success, true, sw2.message);
  st = await call(client, 'gpu_status');
  assert.equal(st.current_mode, 'b');
  assert.equal(state('beta'), 'running');
  assert.notEqual(state('alpha'), 'running');
  const kinds = (await call(client, 'events', {})).events.map((e) => e.kind);
  assert.ok(kinds.filter((k) => k === 'switch.done').length >= 2, kinds.join(' '));
}

export async function badInput(client, isProtocolError) {
  // Unknown tool: a JSON-RPC error (-32602), with a suggestion.
  await assert.rejects(client.callTool({ name: 'swtich_mode', arguments: { mode_id: 'a' } }), (e) => {
    assert.ok(isProtocolError(e, -32602), `${e}`);
    assert.match(e.message, /unknown tool 'swtich_mode'.*switch_mode/);
    return true;
  });
  // Wrong argument types, ids that fail validation, unknown ids, out of range: isError.
  assert.match(await callError(client, 'switch_mode', { mode_id: 42 }), /mode_id.*expected a string, got an integer/);
  assert.match(await callError(client, 'switch_mode', {}), /mode_id.*required/);
  assert.match(await callError(client, 'switch_mode', { mode_id: '../etc' }), /mode id/);
  assert.match(await callError(client, 'switch_mode', { mode_id: 'nope' }), /no mode 'nope'/);
  assert.match(await callError(client, 'sleep_service', { service_id: 'alpha', level: 3 }), /level.*maximum/);
  assert.match(await callError(client, 'start_service', { service_id: 'alpah' }), /alpha/);
  assert.match(await callError(client, 'gpu_status', { verbose: true }), /unknown argument/);
  assert.match(await callError(client, 'simulate_mode', { mode_id: 'a', add: 'beta' }), /add.*expected an array/);
  // Resources: unknown -> -32002; a bad id -> -32602.
  await assert.rejects(client.readResource({ uri: 'gpumod://nope' }), (e) => isProtocolError(e, -32002));
  await assert.rejects(client.readResource({ uri: 'gpumod://services/..%2Fetc' }), (e) => isProtocolError(e, -32602));
  await assert.rejects(client.readResource({ uri: 'gpumod://modes/zzz' }), (e) => isProtocolError(e, -32002));
  // Still serving.
  const st = await call(client, 'gpu_status');
  assert.equal(st.services.length, 3);
}

export { text };
