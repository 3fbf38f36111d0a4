import http from 'node:http';
import { openEvents } from '@ssekit/testing';
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

describe('ConnectionLimiter', () => {
  it('answers over the limit with an SSE retry hint and an end, and admits again once a stream ends', async () => {
    const limit = new ConnectionLimiter<http.IncomingMessage>({ total: 2, retry: { min: 100, max: 200 } });
    const { url, streams } = await serve(limit);
    const admitted = [await openEvents(`${url}/events`), await openEvents(`${url}/events`)];
    for (const events of admitted) {
      expect(await events.next()).toMatchObject({ data: 'admitted' });
      expect(events.comments).toEqual(['']);
    }
    // Refused: a stream with nothing but a retry hint, then its end.
    const refused = await openEvents(`${url}/events`);
    expect(refused.status).toBe(200);
    expect(refused.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(await refused.waitForEnd()).toBe(true);
    expect(refused.received).toEqual([]);
    expect(refused.comments).toEqual([]);
    expect(refused.retry).toBeGreaterThanOrEqual(100);
    expect(streams).toHaveLength(2);
    expect(limit.open).toBe(2);
    streams[0]?.close();
    expect(limit.open).toBe(1);
    const again = await openEvents(`${url}/events`);
    expect(await again.next()).toMatchObject({ data: 'admitted' });
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
    const open = (user: string) => openEvents(`${url}/events`, { headers: { 'x-user': user } });
    await open('a');
    await open('a');
    const perKey = await open('a');
    expect(perKey.status).toBe(429);
    expect(perKey.headers.get('retry-after')).toBe('2');
    await open('b');
    const total = await open('c');
    expect(total.status).toBe(503);
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
