import { openEvents } from '@ssekit/testing';
import { EventSource, type EventSourceInit } from 'eventsource';
import '@ssekit/testing/vitest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { start } from '../src/server.js';

let server: Awaited<ReturnType<typeof start>>;
beforeAll(async () => {
  server = await start({ port: 0, host: '127.0.0.1' });
});
afterAll(() => server?.close());

const sources: EventSource[] = [];
afterEach(() => {
  for (const source of sources.splice(0)) source.close();
});

function connect(init?: EventSourceInit) {
  const source = new EventSource(`${server.url}/events`, init);
  sources.push(source);
  return source;
}

/** Resolves with the next `count` events named `type` that `source` receives. */
function next(source: EventSource, type: string, count = 1) {
  return new Promise<MessageEvent[]>((resolve) => {
    const events: MessageEvent[] = [];
    const onEvent = (event: MessageEvent) => {
      if (events.push(event) < count) return;
      source.removeEventListener(type, onEvent);
      resolve(events);
    };
    source.addEventListener(type, onEvent);
  });
}

describe('quickstart', () => {
  it('serves a page that opens an EventSource', async () => {
    const res = await fetch(server.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(html).toContain("new EventSource('/events')");
    expect(html).not.toMatch(/(src|href)="https?:/); // self-contained: no external assets
  });

  it('greets, then ticks once a second with increasing ids', async () => {
    const events = await openEvents(`${server.url}/events`, { timeout: 5_000 });
    expect(events).toHaveSseHeaders();
    await expect(events).toEmit({ event: 'greeting', data: 'Hello from ssekit!' });
    await expect(events).toEmitInOrder([
      { event: 'tick', id: '1', data: expect.stringContaining('"n":1') },
      { event: 'tick', id: '2', data: expect.stringContaining('"n":2') },
    ]);
  });

  it('carries on after the Last-Event-ID the client sends', async () => {
    const events = await openEvents(`${server.url}/events`, { lastEventId: '41', timeout: 5_000 });
    await expect(events).toEmitInOrder([
      { event: 'greeting', data: 'Welcome back! Carrying on after tick 41.' },
      { event: 'tick', id: '42', data: expect.stringContaining('"n":42') },
    ]);
  });

  // Through a real EventSource: its own reconnect, after the server's `retry`, is the point.
  it('resumes where it left off when the server drops the stream', async () => {
    const source = connect();
    const ids: number[] = [];
    source.addEventListener('tick', (event) => ids.push(Number(event.lastEventId)));
    await next(source, 'tick');
    const reconnected = new Promise((resolve) => source.addEventListener('open', resolve, { once: true }));
    expect((await fetch(`${server.url}/drop`, { method: 'POST' })).status).toBe(204);
    await reconnected;
    const [greeting] = await next(source, 'greeting');
    await next(source, 'tick');
    expect(greeting?.data).toMatch(/^Welcome back! Carrying on after tick \d+\.$/);
    // One connection after the other, yet every tick once and in order.
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    expect(ids.length).toBeGreaterThanOrEqual(2);
  });

  it('answers 404 elsewhere', async () => {
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });
});
