// @ssekit/testing under the lowest versions its README claims: supertest 7.0.0 for the
// requests it reads and reconnects, vitest 4.0.0 for the matchers, the cleanup after each test
// and the fake-timer recipe. The workspace's own suite covers the newest.
import { createRequire } from 'node:module';
import { ChannelRegistry } from '@ssekit/core';
import { channel, sse } from '@ssekit/express';
import { type EventReader, openEvents } from '@ssekit/testing';
import '@ssekit/testing/vitest';
import express from 'express';
import request from 'supertest';
import { afterAll, expect, it, vi } from 'vitest';

const require = createRequire(import.meta.url);

it('runs on the lowest versions claimed', () => {
  expect(require('vitest/package.json').version).toBe('4.0.0');
  expect(require('supertest/package.json').version).toBe('7.0.0');
});

it('reads a supertest request with the matchers, and resumes with Last-Event-ID', async () => {
  const registry = new ChannelRegistry();
  const app = express();
  app.get('/room', channel(registry, 'room', { heartbeat: false }));
  const room = registry.channel('room');
  const events = await openEvents<{ said: { text: string } }>(request(app).get('/room').set('x-user', 'ada'), {
    json: true,
    timeout: 300,
  });
  expect(events).toHaveSseHeaders();
  await room.publish({ text: 'one' }, { event: 'said' });
  await room.publish({ text: 'two' }, { event: 'said' });
  await expect(events).toEmitInOrder([{ data: { text: 'one' } }, { data: { text: 'two' } }]);
  const resumed = await events.reconnect();
  await room.publish({ text: 'three' }, { event: 'said' });
  await expect(resumed).toEmit({ event: 'said', data: { text: 'three' } });
  await expect(expect(resumed).toEmit({ data: { text: 'never' } })).rejects.toThrow(/Read 0 event\(s\) while waiting/);
});

let left: EventReader | undefined;
it('closes a reader after the test that opened it', async () => {
  const app = express();
  app.get('/events', sse({ heartbeat: false }), () => {});
  left = await openEvents(request(app).get('/events'));
});
it('(the reader of the test before has ended)', async () => {
  expect(left?.ended).toBe(true);
});

it('tests a heartbeat with fake timers', async () => {
  vi.useFakeTimers();
  const app = express();
  app.get('/events', sse({ heartbeat: 15_000 }), () => {});
  const events = await openEvents(request(app).get('/events'));
  await vi.waitFor(() => expect(events.comments).toEqual(['']));
  await vi.advanceTimersByTimeAsync(30_000);
  await vi.waitFor(() => expect(events.comments).toHaveLength(3));
  await expect(events).not.toEndWithin(50);
});

afterAll(() => vi.useRealTimers());
