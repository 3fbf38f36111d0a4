import http from 'node:http';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { ConnectionLimiter, type SseStream } from '../src/index.js';
import { createStream } from '../src/node/index.js';
import { launchChromium } from './chromium.js';
import { afterThisTest, listenForTest } from './helpers.js';

async function serve(limit: ConnectionLimiter<http.IncomingMessage>) {
  const streams: SseStream[] = [];
  const server = http.createServer((req, res) => {
    if (!req.url?.startsWith('/events')) {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html>');
      return;
    }
    const stream = createStream(req, res, { limit, heartbeat: false });
    if (!stream.closed) {
      streams.push(stream);
      stream.send('admitted');
    }
  });
  return { ...(await listenForTest(server)), streams };
}

/** A Chromium page on `url`'s origin, closed after the test. */
async function chromiumPageOn(url: string) {
  const browser = await launchChromium(chromium);
  afterThisTest(() => browser.close());
  const page = await browser.newPage();
  await page.goto(url);
  return page;
}

const open = (url: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; headers: http.IncomingHttpHeaders; first: string; res: http.IncomingMessage }>(
    (resolve, reject) => {
      http
        .get(url, { headers }, (res) => {
          res.setEncoding('utf8');
          res.once('data', (first: string) =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, first, res }),
          );
          res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, first: '', res }));
        })
        .on('error', reject);
    },
  );

describe('ConnectionLimiter', () => {
  it('answers over the limit with an SSE retry hint and an end, and admits again once a stream ends', async () => {
    const limit = new ConnectionLimiter<http.IncomingMessage>({ total: 2, retry: { min: 100, max: 200 } });
    const { url, streams } = await serve(limit);
    const admitted = [await open(`${url}/events`), await open(`${url}/events`)];
    for (const { first } of admitted) expect(first).toBe(':\n');
    const refused = await open(`${url}/events`);
    expect(refused.status).toBe(200);
    expect(refused.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(Number(/^retry: (\d+)\n$/.exec(refused.first)?.[1])).toBeGreaterThanOrEqual(100);
    expect(streams).toHaveLength(2);
    expect(limit.open).toBe(2);
    streams[0]?.close();
    expect(limit.open).toBe(1);
    expect((await open(`${url}/events`)).first).toBe(':\n');
    for (const { res } of admitted) res.destroy();
  });

  it('answers 429 per key and 503 in all, with Retry-After, when asked to', async () => {
    const limit = new ConnectionLimiter<http.IncomingMessage>({
      total: 3,
      perKey: 2,
      key: (req) => String(req.headers['x-user']),
      refuse: 'status',
      retry: { min: 1500, max: 1500 },
    });
    const { url } = await serve(limit);
    const opened = [await open(`${url}/events`, { 'x-user': 'a' }), await open(`${url}/events`, { 'x-user': 'a' })];
    const perKey = await open(`${url}/events`, { 'x-user': 'a' });
    expect(perKey.status).toBe(429);
    expect(perKey.headers['retry-after']).toBe('2');
    opened.push(await open(`${url}/events`, { 'x-user': 'b' }));
    const total = await open(`${url}/events`, { 'x-user': 'c' });
    expect(total.status).toBe(503);
    for (const { res } of opened) res.destroy();
  });

  it("makes Chromium's EventSource come back by itself, and succeed once load drops", async () => {
    const limit = new ConnectionLimiter<http.IncomingMessage>({ total: 1, retry: { min: 100, max: 300 } });
    const { url, streams } = await serve(limit);
    const page = await chromiumPageOn(url);
    const admittedFirst = await page.evaluate(
      () =>
        new Promise<boolean>((resolve) => {
          const first = new EventSource('/events?first');
          first.onmessage = () => resolve(true);
          Object.assign(window, { first });
        }),
    );
    expect(admittedFirst).toBe(true);
    // The second is sent away with a retry hint again and again, and stays CONNECTING, not CLOSED.
    await page.evaluate(() => {
      const second = new EventSource('/events?second');
      const state = { received: false, errors: 0 };
      second.onmessage = () => {
        state.received = true;
      };
      second.onerror = () => state.errors++;
      Object.assign(window, { second, state });
    });
    await new Promise((resolve) => setTimeout(resolve, 800));
    const waiting = await page.evaluate(() => ({
      readyState: (window as unknown as { second: EventSource }).second.readyState,
      ...(window as unknown as { state: { received: boolean; errors: number } }).state,
    }));
    expect(waiting.received).toBe(false);
    expect(waiting.errors).toBeGreaterThan(1);
    expect(waiting.readyState).not.toBe(2);
    // Load drops: the first page leaves; the second gets in at its next try.
    await page.evaluate(() => (window as unknown as { first: EventSource }).first.close());
    for (let tries = 0; tries < 100; tries++) {
      if (await page.evaluate(() => (window as unknown as { state: { received: boolean } }).state.received)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await page.evaluate(() => (window as unknown as { state: { received: boolean } }).state.received)).toBe(
      true,
    );
    expect(streams.length).toBe(2);
  });

  it("turns Chromium's EventSource away for good with refuse: 'status', which is why it is not the default", async () => {
    const limit = new ConnectionLimiter<http.IncomingMessage>({ total: 0, refuse: 'status' });
    const { url } = await serve(limit);
    const page = await chromiumPageOn(url);
    const readyState = await page.evaluate(
      () =>
        new Promise<number>((resolve) => {
          const source = new EventSource('/events');
          source.onerror = () => setTimeout(() => resolve(source.readyState), 500);
        }),
    );
    expect(readyState).toBe(2); // CLOSED: a 503 is final for the browser
  });
});
