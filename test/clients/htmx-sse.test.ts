// htmx 2 with its SSE extension (htmx-ext-sse) in Chromium, against the same app on Express,
// Koa and Hono: what it swaps, how it resumes, what a proxy's 503 on a reconnect costs, and
// the recipe that makes it resume without loss.
//
// The extension (dist/sse.js, 2.2.4) opens a native EventSource on the `sse-connect` URL.
// While that EventSource reconnects by itself (after a drop or a clean end of a 200 stream),
// it sends Last-Event-ID. Once it is CLOSED (any answer but a 200 event stream: 503, 204…),
// the extension opens a new EventSource from the `sse-connect` attribute as it reads now,
// after 0.5 s, 1 s, 2 s… up to 64 s: a new EventSource has no last id, so unless the
// attribute carries one, the events published in between are lost.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { entries, type PageWindow, useChromium, waitForEntry, waitInPage } from './page.js';
import { eventually, frameworks, type Receiver, sleep, startServer } from './servers.js';

const chromium = useChromium();

type HtmxWindow = PageWindow & { htmx: { process(element: Element): void } };

interface Setup {
  /** Keep the last event id in `sse-connect`, as docs/clients.md recommends. */
  recipe?: boolean;
  /** The `sse-close` attribute: the event after which the extension closes for good. */
  close?: string;
}

/**
 * Adds `<div hx-ext="sse" sse-connect=path><ul sse-swap="message" hx-swap="beforeend">` to
 * the page, and logs the extension's events.
 */
async function start(page: Page, path: string, { recipe = false, close }: Setup = {}) {
  await page.evaluate(
    ({ path, recipe, close }) => {
      const w = window as unknown as HtmxWindow;
      for (const type of ['htmx:sseOpen', 'htmx:sseError', 'htmx:sseClose']) {
        document.body.addEventListener(type, () => w.log.push({ type }));
      }
      document.body.addEventListener('htmx:sseMessage', (event) => {
        const message = (event as CustomEvent<MessageEvent<string>>).detail;
        w.log.push({ type: 'message', event: message.type, data: message.data, id: message.lastEventId });
      });
      if (recipe) {
        // The recipe (docs/clients.md): after each message, put its id in the `sse-connect`
        // URL. The EventSource open now keeps its URL (and sends the newer Last-Event-ID
        // header when it reconnects by itself, which ssekit reads first); a new one made
        // after a 503 starts from this URL, and ssekit reads the `lastEventId` query.
        document.body.addEventListener('htmx:sseMessage', (event) => {
          const id = (event as CustomEvent<MessageEvent>).detail.lastEventId;
          const source = (event.target as Element).closest('[sse-connect]');
          if (!id || !source) return;
          const url = new URL(source.getAttribute('sse-connect') ?? '', location.href);
          url.searchParams.set('lastEventId', id);
          source.setAttribute('sse-connect', `${url.pathname}${url.search}`);
        });
      }
      const root = document.createElement('div');
      root.setAttribute('hx-ext', 'sse');
      root.setAttribute('sse-connect', path);
      if (close) root.setAttribute('sse-close', close);
      const list = document.createElement('ul');
      list.setAttribute('sse-swap', 'message');
      list.setAttribute('hx-swap', 'beforeend');
      root.append(list);
      document.body.append(root);
      w.htmx.process(root);
    },
    { path, recipe, close },
  );
}

/** The text of what htmx swapped into the list, in order. */
function swapped(page: Page): Promise<string[]> {
  return page.evaluate(() => [...document.querySelectorAll('ul li')].map((item) => item.textContent ?? ''));
}

function waitForSwap(page: Page, text: string, ms = 10_000) {
  return waitInPage(
    page,
    (text) => [...document.querySelectorAll('ul li')].some((item) => item.textContent === text),
    text,
    ms,
  );
}

/** The page as the steps in servers.ts see it: each message is an `<li>`, swapped into the list. */
const swaps = (page: Page): Receiver => ({
  has: (text) => waitForSwap(page, text),
  dataFor: (text) => `<li>${text}</li>`,
});

describe.concurrent.each(frameworks)('htmx 2.0.11 + htmx-ext-sse 2.2.4 in Chromium, %s', (framework) => {
  it('swaps no heartbeat, and resumes with Last-Event-ID after a drop, without loss', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/htmx.html`, onTestFinished);
    await start(page, '/beat/a');
    await server.heartbeats('/beat/a', 3);
    const second = await server.publishAcrossDrop('a', swaps(page));
    expect(await swapped(page)).toEqual(['1', '2', '3', '4']);
    expect((await entries(page)).filter(({ type }) => type === 'message')).toHaveLength(4);
    expect(server.requestsTo('/beat/a').map(({ header, status }) => ({ header, status }))).toEqual([
      { header: undefined, status: 200 },
      { header: second, status: 200 },
    ]);
  });
});

// A client's own policies (what it does at an end, at a 503 or a 204) do not depend on the
// framework: every adapter answers with the same bytes and statuses (test/conformance,
// test/channels.test.ts). They run once, each client on another framework.
describe.concurrent('htmx 2.0.11 + htmx-ext-sse 2.2.4 in Chromium, its own policies, on express', () => {
  const framework = 'express';

  it('comes back after a clean end (maxLifetime) with Last-Event-ID, without loss', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/htmx.html`, onTestFinished);
    await start(page, '/lifetime/a');
    const first = await server.publishAcrossCleanEnd('a', swaps(page));
    expect(await swapped(page)).toEqual(['1', '2']);
    // Which request resumed depends on when maxLifetime ended the first stream (90–110%).
    expect(server.requestsTo('/lifetime/a').map(({ header }) => header)).toContain(first);
  });

  it('after a reconnect answered 503, starts again from the bare URL and loses what was published meanwhile', async ({
    onTestFinished,
  }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/htmx.html`, onTestFinished);
    await start(page, '/channels/a');
    const second = await server.publishAcrossDrop('a', swaps(page), { failNext: 503 });
    expect(await swapped(page)).toEqual(['1', '2', '4']); // 3 was published while it was away
    expect(server.requestsTo('/channels/a').map(({ header, query, status }) => ({ header, query, status }))).toEqual([
      { header: undefined, query: undefined, status: 200 },
      { header: second, query: undefined, status: 503 },
      { header: undefined, query: undefined, status: 200 },
    ]);
  });

  it('with the last id kept in sse-connect, resumes after the 503 without loss', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/htmx.html`, onTestFinished);
    await start(page, '/channels/a', { recipe: true });
    const second = await server.publishAcrossDrop('a', swaps(page), { failNext: 503 });
    expect(await swapped(page)).toEqual(['1', '2', '3', '4']);
    expect(server.requestsTo('/channels/a').map(({ header, query, status }) => ({ header, query, status }))).toEqual([
      { header: undefined, query: undefined, status: 200 },
      { header: second, query: undefined, status: 503 },
      { header: undefined, query: second, status: 200 },
    ]);
  });

  it('keeps asking for an ended channel after its 204, backing off (0.5 s, 1 s…)', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/htmx.html`, onTestFinished);
    await start(page, '/channels/a');
    await server.subscribers('a', 1);
    server.registry.end('a');
    const ended = await eventually(() => {
      const answered = server.requestsTo('/channels/a').filter(({ status }) => status === 204);
      return answered.length >= 3 ? answered : undefined;
    });
    const [first, second, third] = ended.map(({ at }) => at);
    // The browser's own EventSource stops at the first 204; the extension opens a new one.
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(450);
    expect((third ?? 0) - (second ?? 0)).toBeGreaterThanOrEqual(950);
  });

  it('stops for good with sse-close, given a last event before the end', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/htmx.html`, onTestFinished);
    await start(page, '/channels/a', { close: 'done' });
    await server.subscribers('a', 1);
    await server.publish('a', '', 'done');
    server.registry.end('a');
    await waitForEntry(page, 'htmx:sseClose');
    await sleep(700);
    expect(server.requestsTo('/channels/a').map(({ status }) => status)).toEqual([200]);
  });
});
