import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openEvents } from '@ssekit/testing';
import { EventSource } from 'eventsource';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '@ssekit/testing/vitest';
import { launchChromium, screenshotPath } from '../../../packages/core/test/chromium.js';
import { RUNTIMES, type RunningServer, type Runtime, startServer } from '../../../test/runtimes/launch.js';
// @ts-expect-error build.mjs is plain JavaScript, without types.
import { buildAll } from '../build.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bundles: Record<Runtime, string> = {
  node20: 'dist/node.js',
  node24: 'dist/node.js',
  bun: 'dist/bun.js',
  deno: 'dist/deno.js',
  workerd: 'dist/worker.js',
};

const names: Record<Runtime, string> = {
  node20: 'Node v20.',
  node24: 'Node v24.',
  bun: 'Bun 1.',
  deno: 'Deno 2.',
  workerd: 'Cloudflare Workers (workerd)',
};

beforeAll(() => buildAll(), 60_000);

/** Chromium, for the runtimes whose page is checked in a browser; launched once, if at all. */
let browser: Promise<Browser> | undefined;
afterAll(async () => (await browser)?.close());

describe.each(RUNTIMES)('the hono-edge example on %s', (runtime) => {
  let server: RunningServer;
  beforeAll(async () => {
    // workerd runs the example's own config, as `pnpm start:workerd` does, on the test's socket.
    server = await startServer(runtime, path.join(root, bundles[runtime]), {
      workerdConfig: path.join(root, 'workerd.capnp'),
    });
  });
  afterAll(() => server?.stop());

  it('serves its page, which names the runtime', async () => {
    const response = await fetch(server.url);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain(`<span id="runtime">${names[runtime]}`);
    expect(html).toContain("new EventSource('/clock')");
  });

  it('ticks every second, and carries the count on after Last-Event-ID', async () => {
    const clock = await openEvents(`${server.url}/clock`, { lastEventId: '41', json: true, timeout: 5_000 });
    await expect(clock).toEmitInOrder([
      { event: 'tick', id: '42', data: expect.objectContaining({ tick: 42 }) },
      { event: 'tick', id: '43' },
    ]);
  });

  it('delivers a posted message to every open page', async () => {
    const pages = [new EventSource(`${server.url}/messages`), new EventSource(`${server.url}/messages`)];
    try {
      await Promise.all(pages.map((page) => new Promise((resolve) => page.addEventListener('open', resolve))));
      const received = pages.map((page) => new Promise<MessageEvent>((resolve) => (page.onmessage = resolve)));
      const text = `hello from a test on ${runtime}`;
      const posted = await fetch(`${server.url}/messages`, { method: 'POST', body: text });
      expect(posted.status).toBe(201);
      const { id } = (await posted.json()) as { id: string };
      for (const event of await Promise.all(received)) {
        expect(event.lastEventId).toBe(id);
        expect(JSON.parse(event.data)).toMatchObject({ text });
      }
      expect((await fetch(`${server.url}/messages`, { method: 'POST', body: ' ' })).status).toBe(400);
    } finally {
      for (const page of pages) page.close();
    }
  });
});

// The page in a real browser, on the edge runtime and on Bun: the clock ticks, and a message
// typed in one tab appears in another.
describe.each(['workerd', 'bun'] as const)('the hono-edge page on %s in Chromium', (runtime) => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer(runtime, path.join(root, bundles[runtime]), {
      workerdConfig: path.join(root, 'workerd.capnp'),
    });
  });
  afterAll(() => server?.stop());

  it('shows the clock and carries messages between tabs', async () => {
    browser ??= launchChromium(chromium);
    const [first, second] = await Promise.all([(await browser).newPage(), (await browser).newPage()]);
    if (!first || !second) throw new Error('no page');
    for (const page of [first, second]) {
      await page.goto(server.url);
      await page.waitForFunction(() => document.getElementById('messages-status')?.textContent === 'open');
    }
    const readTick = () => Number(/tick (\d+)$/.exec(document.getElementById('clock')?.textContent ?? '')?.[1] ?? 0);
    const before = await first.evaluate(readTick);
    await first.waitForFunction(`(${readTick})() > ${before}`);

    await first.fill('#text', `hello from ${runtime}`);
    await first.click('#send button');
    await second.locator('#messages li', { hasText: `hello from ${runtime}` }).waitFor();
    expect(await second.locator('#messages li').first().textContent()).toMatch(
      new RegExp(`^hello from ${runtime} \\(via `),
    );
    await first.screenshot({ path: screenshotPath(`hono-edge-${runtime}`) });
    await Promise.all([first.close(), second.close()]);
  });
});
