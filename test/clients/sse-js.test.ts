// sse.js in Chromium (it is built on XMLHttpRequest, which Node lacks), loaded from its own
// ESM file, against the same app on Express, Koa and Hono.
//
// Its parser (lib/sse.js, 2.8.0) splits the text at blank lines and dispatches only blocks
// with a `data` field, so comments and retry-only blocks never reach a listener, with or
// without a blank line after them. It reconnects only with `autoReconnect: true`, then after
// any end (a drop, a clean end, a non-2xx answer) and after `reconnectDelay`, which a
// `retry:` line sets; it sends Last-Event-ID unless `useLastEventId: false`.

import type { Page } from 'playwright-core';
import type { SSEOptions, SSE as SSEType } from 'sse.js';
import { describe, expect, it } from 'vitest';
import { messages, type PageWindow, received, receiver, useChromium, waitForData, waitForEntry } from './page.js';
import { eventually, frameworks, heartbeats, RETRY_MS, sleep, startServer } from './servers.js';

const chromium = useChromium();

/** The page at /sse-js.html imports lib/sse.js and puts its SSE here. */
type SseJsWindow = PageWindow & { SSE: SSEType };

/** Opens `new SSE(path, options)` in the page; `closeOn204` is the recipe's stop at an ended channel. */
async function start(page: Page, path: string, options: SSEOptions = {}, closeOn204 = false) {
  await page.evaluate(
    ({ path, options, closeOn204 }) => {
      const w = window as unknown as SseJsWindow;
      const source = new w.SSE(path, options);
      source.addEventListener('message', (event: MessageEvent & { lastEventId: string }) => {
        w.log.push({ type: 'message', event: event.type, data: event.data, id: event.lastEventId });
      });
      source.addEventListener('open', (event: { responseCode: number }) => {
        w.log.push({ type: 'open', detail: String(event.responseCode) });
        // 204 is a 2xx: sse.js would reconnect forever, and maxRetries does not count it.
        if (closeOn204 && event.responseCode === 204) source.close();
      });
      source.addEventListener('error', (event: { responseCode: number }) => {
        w.log.push({ type: 'error', detail: String(event.responseCode) });
      });
      w.stop = () => source.close();
    },
    { path, options, closeOn204 },
  );
}

const statuses = (requests: { status?: number }[]) => requests.map(({ status }) => status);

describe.concurrent.each(frameworks)('sse.js 2.8.0 in Chromium, %s', (framework) => {
  it('hands no heartbeat, opening comment or retry to its listeners', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const channel = await chromium.open(`${server.url}/sse-js.html`, onTestFinished);
    await start(channel, '/beat/a');
    const plain = await chromium.open(`${server.url}/sse-js.html`, onTestFinished);
    await start(plain, '/plain');
    const id = await server.publishAfterHeartbeats('a', receiver(channel));
    await waitForData(plain, 'bye');
    expect(await messages(channel)).toEqual([{ type: 'message', event: 'message', data: 'one', id }]);
    expect(await messages(plain)).toEqual([
      { type: 'message', event: 'message', data: 'hello', id: 'p1' },
      { type: 'message', event: 'message', data: 'bye', id: 'p2' },
    ]);
    expect(heartbeats(server.requestsTo('/plain')[0]?.body ?? '')).toBeGreaterThanOrEqual(3);
  });
});

// A client's own policies (what it does at an end, at a 503 or a 204) do not depend on the
// framework: every adapter answers with the same bytes and statuses (test/conformance,
// test/channels.test.ts). They run once, each client on another framework.
describe.concurrent('sse.js 2.8.0 in Chromium, its own policies, on koa', () => {
  const framework = 'koa';

  it('stops for good after a drop without autoReconnect (the default)', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/sse-js.html`, onTestFinished);
    await start(page, '/channels/a');
    await server.subscribers('a', 1);
    await server.publish('a', '1');
    await waitForData(page, '1');
    server.drop();
    await waitForEntry(page, 'error');
    await sleep(RETRY_MS * 4);
    expect(server.requestsTo('/channels/a')).toHaveLength(1);
  });

  it('stops for good after a clean end (maxLifetime) without autoReconnect', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/sse-js.html`, onTestFinished);
    await start(page, '/lifetime/a');
    await eventually(() => server.requestsTo('/lifetime/a')[0]?.endedAt);
    await sleep(RETRY_MS * 4);
    expect(server.requestsTo('/lifetime/a')).toHaveLength(1);
  });

  it('with autoReconnect, resumes with Last-Event-ID after a drop, without loss', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/sse-js.html`, onTestFinished);
    await start(page, '/channels/a', { autoReconnect: true });
    const second = await server.publishAcrossDrop('a', receiver(page));
    expect(await received(page)).toEqual(['1', '2', '3', '4']);
    const [dropped, resumed] = server.requestsTo('/channels/a');
    expect(resumed?.header).toBe(second);
    // `retry: 100` replaced its 3 s default (a margin for a loaded machine).
    expect((resumed?.at ?? 0) - (dropped?.endedAt ?? 0)).toBeLessThan(2_000);
  });

  it('with autoReconnect, comes back after a clean end (maxLifetime) with Last-Event-ID', async ({
    onTestFinished,
  }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/sse-js.html`, onTestFinished);
    await start(page, '/lifetime/a', { autoReconnect: true });
    const first = await server.publishAcrossCleanEnd('a', receiver(page));
    expect(await received(page)).toEqual(['1', '2']);
    // Which request resumed depends on when maxLifetime ended the first stream (90–110%).
    expect(server.requestsTo('/lifetime/a').map(({ header }) => header)).toContain(first);
  });

  it('with autoReconnect, retries a 503 with Last-Event-ID, without loss', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/sse-js.html`, onTestFinished);
    await start(page, '/channels/a', { autoReconnect: true });
    const second = await server.publishAcrossDrop('a', receiver(page), { failNext: 503 });
    expect(await received(page)).toEqual(['1', '2', '3', '4']);
    expect(server.requestsTo('/channels/a').map(({ header, status }) => ({ header, status }))).toEqual([
      { header: undefined, status: 200 },
      { header: second, status: 503 },
      { header: second, status: 200 },
    ]);
  });

  it('with autoReconnect, asks again forever for an ended channel: a 204 does not count towards maxRetries', async ({
    onTestFinished,
  }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/sse-js.html`, onTestFinished);
    await start(page, '/channels/a', { autoReconnect: true, maxRetries: 2 });
    await server.subscribers('a', 1);
    server.registry.end('a');
    await eventually(() =>
      statuses(server.requestsTo('/channels/a')).filter((status) => status === 204).length >= 5 ? true : undefined,
    );
  });

  it('with autoReconnect, stops at a 204 when its open listener closes it', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/sse-js.html`, onTestFinished);
    await start(page, '/channels/a', { autoReconnect: true }, true);
    await server.subscribers('a', 1);
    server.registry.end('a');
    await waitForEntry(page, 'open', '204');
    await sleep(RETRY_MS * 4);
    expect(statuses(server.requestsTo('/channels/a'))).toEqual([200, 204]);
  });
});
