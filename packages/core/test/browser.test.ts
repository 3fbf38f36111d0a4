import http from 'node:http';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStream } from '../src/node/index.js';
import { launchChromium } from './chromium.js';
import { listen } from './helpers.js';

/**
 * Headless Chromium's own EventSource against a node:http server: the browser, not a
 * library, decides how our bytes are read and when it reconnects.
 */
let browser: Browser;
let page: Page;
let server: Awaited<ReturnType<typeof listen>>;
const seenLastEventIds: (string | undefined)[] = [];

beforeAll(async () => {
  browser = await launchChromium(chromium);
  server = await listen(
    http.createServer((req, res) => {
      if (!req.url?.startsWith('/events')) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><title>sse</title>');
        return;
      }
      const stream = createStream(req, res, { retry: 100 });
      seenLastEventIds.push(stream.lastEventId);
      if (req.url.startsWith('/events/unicode-id')) {
        if (stream.lastEventId === undefined) {
          stream.send('first', { id: 'é-😀-你好' });
          stream.close();
        } else stream.send(`resumed after ${stream.lastEventId}`, { event: 'resumed' });
      } else if (stream.lastEventId === undefined) {
        stream.send('first line\nsecond line\r\nthird\rfourth', { id: '1' });
        stream.send({ greeting: 'grüße', emoji: '👋🏽', cjk: '你好' }, { event: 'json', id: '2' });
        stream.send(' leading space kept', { id: '3' });
        stream.send('', { event: 'empty', id: '4' });
        stream.close(); // the browser reconnects after `retry` ms, sending Last-Event-ID: 4
      } else {
        stream.send(`resumed after ${stream.lastEventId}`, { event: 'resumed', id: '5' });
      }
    }),
  );
  page = await browser.newPage();
  await page.goto(`${server.url}/`);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe('Chromium EventSource', () => {
  it('reads multi-line, unicode and named events, ids and retry, then resumes with Last-Event-ID', async () => {
    const received = await page.evaluate(
      () =>
        new Promise<{ type: string; data: string; lastEventId: string }[]>((resolve, reject) => {
          const events: { type: string; data: string; lastEventId: string }[] = [];
          const source = new EventSource('/events');
          const record = (event: MessageEvent) => {
            events.push({ type: event.type, data: event.data, lastEventId: event.lastEventId });
            if (event.type === 'resumed') {
              source.close();
              resolve(events);
            }
          };
          for (const type of ['message', 'json', 'empty', 'resumed']) source.addEventListener(type, record);
          setTimeout(() => reject(new Error(`timed out with ${JSON.stringify(events)}`)), 10_000);
        }),
    );
    expect(received).toEqual([
      { type: 'message', data: 'first line\nsecond line\nthird\nfourth', lastEventId: '1' },
      { type: 'json', data: '{"greeting":"grüße","emoji":"👋🏽","cjk":"你好"}', lastEventId: '2' },
      { type: 'message', data: ' leading space kept', lastEventId: '3' },
      { type: 'empty', data: '', lastEventId: '4' },
      { type: 'resumed', data: 'resumed after 4', lastEventId: '5' },
    ]);
    expect(seenLastEventIds).toEqual([undefined, '4']);
  });

  it('resumes after a non-ASCII id, which the browser sends back as UTF-8', async () => {
    seenLastEventIds.length = 0;
    expect(await firstResumedEvent('/events/unicode-id')).toBe('resumed after é-😀-你好');
    expect(seenLastEventIds).toEqual([undefined, 'é-😀-你好']);
  });

  it('passes lastEventId as a query parameter on a first connection', async () => {
    seenLastEventIds.length = 0;
    expect(await firstResumedEvent('/events?lastEventId=41')).toBe('resumed after 41');
    expect(seenLastEventIds).toEqual(['41']);
  });
});

/** Opens an EventSource in the page and returns the data of its first `resumed` event. */
function firstResumedEvent(path: string) {
  return page.evaluate(
    (url) =>
      new Promise<string>((resolve) => {
        const source = new EventSource(url);
        source.addEventListener('resumed', (event) => {
          source.close();
          resolve(event.data);
        });
      }),
    path,
  );
}
