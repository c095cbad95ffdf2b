// gpumod's OpenAI-compatible endpoint through the official `openai` client. Run by the
// OpenAiNodeE2E GoogleTest cases (tests/e2e/openai_node_test.cpp), which write a configuration,
// start the daemon and pass: OPENAI_BASE_URL, GPUMOD_BIN, GPUMOD_CONFIG, GPUMOD_SCENARIO.
// Exits 0 when the scenario's assertions hold, 1 otherwise (with the reason on stderr).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import OpenAI from 'openai';

const client = new OpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: 'unused', maxRetries: 0, timeout: 60000 });

function gpumod(...args) {
  return execFileSync(process.env.GPUMOD_BIN, ['--config', process.env.GPUMOD_CONFIG, ...args], { encoding: 'utf8' });
}
const stateOf = (id) => JSON.parse(gpumod('status', '--json')).services.find((s) => s.id === id)?.state;
const requests = () => JSON.parse(gpumod('requests', '--json', '-n', '1000')).requests;
const events = () => JSON.parse(gpumod('events', '--json', '--limit', '10000')).events;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(what, cond, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}
const ask = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });

const scenarios = {
  async basic() {
    const list = await client.models.list();
    const ids = list.data.map((m) => m.id);
    for (const id of ['test/chat', 'gpt-local', 'test/embed']) assert.ok(ids.includes(id), `${id} in ${ids}`);
    const alias = list.data.find((m) => m.id === 'gpt-local');
    assert.equal(alias.gpumod.service, 'chat');

    const reply = await client.chat.completions.create(ask('gpt-local'));
    assert.equal(reply.model, 'test/chat', 'the upstream saw its own model id');
    assert.match(reply.choices[0].message.content, /^w0 w1/);
    assert.ok(reply.usage.prompt_tokens > 0, 'usage passed through (the mock counts the prompt words)');

    const stream = await client.chat.completions.create(ask('gpt-local', { stream: true, stream_options: { include_usage: true } }));
    let text = '';
    let chunks = 0;
    for await (const chunk of stream) {
      chunks++;
      text += chunk.choices[0]?.delta?.content ?? '';
    }
    assert.ok(chunks >= 10, `${chunks} chunks`);
    assert.match(text, /w0 w1/);

    const emb = await client.embeddings.create({ model: 'test/embed', input: ['a', 'b'] });
    assert.equal(emb.data.length, 2);

    // A client that goes away mid-stream: the upstream request is cancelled.
    const long = await client.chat.completions.create(ask('chat-long', { stream: true }));
    let seen = 0;
    for await (const _ of long) {
      if (++seen === 3) break; // leaving the loop aborts the request
    }
    await waitFor('the upstream to see the cancel', () => gpumod('service', 'logs', 'long', '-n', '2000').includes('stream cancelled by the client'));

    await waitFor('the requests to be recorded', () =>
      requests().some((r) => r.model === 'gpt-local' && r.status === 200 && r.completion_tokens > 0));
  },

  async switch() {
    gpumod('mode', 'switch', 'ma');
    const reply = await client.chat.completions.create(ask('test/b'));
    assert.match(reply.choices[0].message.content, /test\/b/);
    assert.equal(JSON.parse(gpumod('status', '--json')).current_mode, 'mb');
    assert.equal(stateOf('b'), 'running');
  },

  async queue() {
    const first = client.chat.completions.create(ask('test/slow'));
    await waitFor('the load to start', () => stateOf('slow') === 'starting');
    await assert.rejects(client.chat.completions.create(ask('test/slow')), (e) => {
      assert.equal(e.status, 429);
      assert.ok(e.headers.get('retry-after'));
      return true;
    });
    const done = await first;
    assert.ok(done.choices[0].message.content.length > 0);
  },

  async ttl() {
    await client.chat.completions.create(ask('test/chat'));
    await waitFor('the idle service to sleep', () => stateOf('chat') === 'sleeping');
    const again = await client.chat.completions.create(ask('test/chat'));
    assert.ok(again.choices[0].message.content.length > 0);
    assert.equal(stateOf('chat'), 'running');
  },

  async pinned() {
    gpumod('service', 'start', 'big');
    await assert.rejects(client.chat.completions.create(ask('test/other')), (e) => {
      assert.equal(e.status, 503);
      assert.match(e.message, /pinned: big holds 16,000 MiB/);
      return true;
    });
    assert.equal(stateOf('big'), 'running');
  },

  async router() {
    const all = [];
    for (let i = 0; i < 8; i++) all.push(client.chat.completions.create(ask(i % 2 ? 'alpha' : 'beta')));
    const replies = await Promise.all(all);
    assert.equal(replies.length, 8);
    const swaps = events().filter((e) => (e.kind === 'service.started' || e.kind === 'service.woken') &&
                                         (e.service === 'r-alpha' || e.service === 'r-beta'));
    assert.equal(swaps.length, 2, `swaps: ${JSON.stringify(swaps)}`);
  },

  async dies() {
    gpumod('service', 'start', 'chat');
    const stream = await client.chat.completions.create(ask('test/chat', { stream: true }));
    await assert.rejects(async () => {
      for await (const _ of stream) { /* until the upstream dies */ }
    }, (e) => {
      assert.match(String(e.message), /upstream|502|service 'chat'/);
      return true;
    });
    await waitFor('the 502 to be recorded', () => requests().some((r) => r.status === 502));
  },
};

const name = process.env.GPUMOD_SCENARIO;
try {
  if (!scenarios[name]) throw new Error(`no scenario '${name}'`);
  await scenarios[name]();
  console.log(`scenario ${name}: ok`);
  process.exit(0);
} catch (e) {
  console.error(`scenario ${name}: FAILED: ${e.stack ?? e}`);
  process.exit(1);
}
