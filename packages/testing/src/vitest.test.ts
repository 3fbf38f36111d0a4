import { stripVTControlCharacters } from 'node:util';
import { sse } from '@ssekit/express';
import express from 'express';
import request from 'supertest';
import { describe, expect, it, vi } from 'vitest';
import { type EventReader, openEvents } from './index.js';
import './vitest.js';

/** Sends ticks 1..count, then ends the stream if `end`. */
const ticks = (count: number, { end = false } = {}) => {
  const app = express();
  app.get('/events', sse({ heartbeat: false }), (_req, res) => {
    for (let n = 1; n <= count; n++) res.sse.send({ n }, { event: 'tick', id: String(n) });
    if (end) res.sse.close();
  });
  // Short, for the failures that wait it out; long enough for the head on a loaded machine
  // (200 ms was not, once, in CI).
  return openEvents(request(app).get('/events'), { json: true, timeout: 1_000 });
};

describe('matchers', () => {
  it('toEmit passes on a matching event and fails with what it read', async () => {
    const events = await ticks(3);
    await expect(events).toEmit({ event: 'tick', data: { n: 2 } });
    const failure = await expect(events)
      .toEmit({ data: { n: 9 } })
      .catch((error: Error) => stripVTControlCharacters(error.message));
    expect(failure).toMatch(/^expected the stream to emit Object \{\s+"data": Object \{\s+"n": 9,/);
    expect(failure).toMatch(/Read 1 event\(s\) while waiting: Array \[\s+Object \{\s+"data": Object \{\s+"n": 3,/);
  });

  it('toEmitInOrder compares the next events and shows the diff', async () => {
    const events = await ticks(3);
    await expect(events).toEmitInOrder([{ id: '1' }, { id: '2' }]);
    const failure = await expect(events)
      .toEmitInOrder([{ id: '4' }])
      .catch((error: Error) => stripVTControlCharacters(error.message));
    expect(failure).toMatch(/expected the stream to emit these events in order/);
    expect(failure).toMatch(/-\s+"id": "4"/);
    expect(failure).toMatch(/\+\s+"id": "3"/);
  });

  it('toEndWithin waits for the server to end the stream', async () => {
    await expect(await ticks(1, { end: true })).toEndWithin(500);
    await expect(expect(await ticks(2)).toEndWithin(100)).rejects.toThrow(
      'expected the stream to end within 100 ms. Received 2 event(s):',
    );
  });

  it('toHaveSseHeaders checks the invariant headers', async () => {
    expect(await ticks(0)).toHaveSseHeaders();
    const plain = new Response('data: x\n\n', {
      headers: { 'content-type': 'text/event-stream', 'content-length': '9' },
    });
    expect(() => expect(plain).toHaveSseHeaders()).toThrow(/"content-length": "9"/);
  });
});

describe('cleanup', () => {
  let leftOpen: EventReader | undefined;
  it('opens a reader and leaves it open', async () => {
    leftOpen = await ticks(1);
    expect(leftOpen.ended).toBe(false);
  });

  it('finds it closed after that test', async () => {
    await expect(leftOpen).toEndWithin(1000);
  });
});

describe('fake timers', () => {
  it('heartbeats can be advanced with vi.advanceTimersByTimeAsync', async () => {
    // Only the timers the stream uses: Node's sockets keep real time.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    try {
      const app = express();
      app.get('/events', sse({ heartbeat: 15_000 }), () => {});
      const events = await openEvents(request(app).get('/events'));
      // The stream opens with an empty comment, which sends the head through proxies.
      await vi.waitFor(() => expect(events.comments).toEqual(['']));
      await vi.advanceTimersByTimeAsync(30_000);
      // vi.waitFor polls on real timers; the reader's own timeouts are real too.
      await vi.waitFor(() => expect(events.comments.length).toBe(3));
    } finally {
      vi.useRealTimers();
    }
  });
});
