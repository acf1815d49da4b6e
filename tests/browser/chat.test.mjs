// The assistant's stream in Debian's Chromium: a page of the server's origin reads
// POST /api/v1/ai/chat with `fetch` and a stream reader, as a web shop's chat widget would,
// appends each delta to the page as it arrives, and records when. The server runs the
// builtin provider with a pause before each word (run.sh), so the deltas must reach the
// page over time — several reads, spread out — not in one buffered lump.
//
// Environment: STOREFRONT_URL (the running server), CHAT_SCREENSHOT (where the page's PNG
// goes), CHROMIUM (default /usr/bin/chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.STOREFRONT_URL;
const screenshot = process.env.CHAT_SCREENSHOT ?? 'chat-stream.png';
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const args = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

async function accessToken(email, password) {
  const registered = await fetch(`${base}/api/v1/users`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password, name: 'Chat Browser' }),
  });
  assert.equal(registered.status, 201, await registered.text());
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const body = await login.text();
  assert.equal(login.status, 200, body);
  return JSON.parse(body).access_token;
}

test('a page reads the chat stream with fetch and shows the deltas as they arrive', async (t) => {
  assert.ok(base, 'STOREFRONT_URL must name the running server');
  const token = await accessToken(`chat-${Date.now()}@example.com`, 'a browser chatted here 2026');

  const browser = await chromium.launch({ executablePath, args, timeout: 60_000 });
  const page = await browser.newPage({ viewport: { width: 900, height: 500 } });
  page.setDefaultTimeout(30_000);
  t.after(() => browser.close());
  // Any page of the server's origin: the request is then same-origin, as a shop's own
  // front end would make it.
  await page.goto(`${base}/health`);

  const seen = await page.evaluate(async (token) => {
    document.body.innerHTML = '<h1>Assistant</h1><p id="reply"></p>';
    const reply = document.getElementById('reply');
    const started = performance.now();
    const response = await fetch('/api/v1/ai/chat', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'text/event-stream',
        authorization: `Bearer ${token}`,
      },
      body: JSON.stringify({ message: 'Which products do you have?' }),
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const events = [];
    const reads = [];
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      reads.push(performance.now() - started);
      buffer += value;
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.startsWith(':')) continue;
        const name = /^event: (.*)$/m.exec(block)?.[1];
        const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null');
        events.push({ name, data, at: performance.now() - started });
        if (name === 'delta') reply.textContent += data.content;
      }
    }
    return {
      status: response.status,
      contentType: response.headers.get('content-type'),
      events,
      reads,
      shown: reply.textContent,
    };
  }, token);

  mkdirSync(dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot });

  assert.equal(seen.status, 200);
  assert.equal(seen.contentType, 'text/event-stream');
  const names = seen.events.map((e) => e.name);
  assert.equal(names[0], 'meta');
  assert.equal(names.at(-1), 'done');
  const deltas = seen.events.filter((e) => e.name === 'delta');
  assert.ok(deltas.length >= 5, `deltas: ${names}`);
  assert.equal(seen.shown, deltas.map((d) => d.data.content).join(''));
  assert.match(seen.shown, /not a language model/);
  // Streamed, not buffered: the page got the text in several reads, the last delta well
  // after the first (the server pauses before each word).
  assert.ok(seen.reads.length >= 3, `reads at ${seen.reads}`);
  assert.ok(deltas.at(-1).at - deltas[0].at >= 100, `deltas from ${deltas[0].at} to ${deltas.at(-1).at} ms`);
});
