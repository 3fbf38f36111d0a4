// Chromium's own EventSource, the spec-compliant baseline the other clients are held to,
// against the same app on Express, Koa and Hono: it dispatches only blocks with data,
// reconnects after any end of a 200 event stream with Last-Event-ID, and gives up for good
// on any other answer (a 503 as much as a 204).
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { messages, type PageWindow, received, receiver, useChromium, waitForData, waitInPage } from './page.js';
import { frameworks, heartbeats, RETRY_MS, sleep, startServer } from './servers.js';

const chromium = useChromium();

async function start(page: Page, path: string) {
  await page.evaluate((path) => {
    const w = window as unknown as PageWindow & { source: EventSource };
    const source = new EventSource(path);
    w.source = source;
    source.addEventListener('message', (event) => {
      w.log.push({ type: 'message', event: event.type, data: event.data, id: event.lastEventId });
    });
    source.addEventListener('error', () => w.log.push({ type: 'error', detail: String(source.readyState) }));
    w.stop = () => source.close();
  }, path);
}

/** Waits until the page's EventSource is closed for good (readyState 2; 0 is connecting, 1 open). */
const closedForGood = (page: Page) =>
  waitInPage(page, () => (window as unknown as { source: EventSource }).source.readyState === 2, undefined);

describe.concurrent.each(frameworks)('Chromium EventSource, %s', (framework) => {
  it('dispatches no heartbeat, opening comment or retry', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const channel = await chromium.open(`${server.url}/`, onTestFinished);
    await start(channel, '/beat/a');
    const plain = await chromium.open(`${server.url}/`, onTestFinished);
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

  it('resumes with Last-Event-ID after a drop, without loss', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/`, onTestFinished);
    await start(page, '/channels/a');
    const second = await server.publishAcrossDrop('a', receiver(page));
    expect(await received(page)).toEqual(['1', '2', '3', '4']);
    expect(server.requestsTo('/channels/a')[1]?.header).toBe(second);
  });
});

// A client's own policies (what it does at an end, at a 503 or a 204) do not depend on the
// framework: every adapter answers with the same bytes and statuses (test/conformance,
// test/channels.test.ts). They run once, each client on another framework.
describe.concurrent('Chromium EventSource, its own policies, on express', () => {
  const framework = 'express';

  it('comes back after a clean end (maxLifetime) with Last-Event-ID, without loss', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/`, onTestFinished);
    await start(page, '/lifetime/a');
    const first = await server.publishAcrossCleanEnd('a', receiver(page));
    expect(await received(page)).toEqual(['1', '2']);
    // Which request resumed depends on when maxLifetime ended the first stream (90–110%).
    expect(server.requestsTo('/lifetime/a').map(({ header }) => header)).toContain(first);
  });

  it('gives up for good when a reconnect is answered 503', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/`, onTestFinished);
    await start(page, '/channels/a');
    await server.subscribers('a', 1);
    server.failNext(503);
    server.drop();
    await closedForGood(page);
    await sleep(RETRY_MS * 4);
    expect(server.requestsTo('/channels/a').map(({ status }) => status)).toEqual([200, 503]);
  });

  it('stops for good at the 204 that answers a reconnect to an ended channel', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/`, onTestFinished);
    await start(page, '/channels/a');
    await server.subscribers('a', 1);
    server.registry.end('a');
    await closedForGood(page);
    await sleep(RETRY_MS * 4);
    expect(server.requestsTo('/channels/a').map(({ status }) => status)).toEqual([200, 204]);
  });
});
