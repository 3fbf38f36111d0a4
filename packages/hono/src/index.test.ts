import type { SseStream } from '@ssekit/core';
import { openEvents } from '@ssekit/testing';
import '@ssekit/testing/vitest';
import { Hono } from 'hono';
import { describe, expect, it, vi } from 'vitest';
import { aborted, until } from '../../core/test/helpers.js';
import { sse } from './index.js';

describe('sse(handler)', () => {
  it('hands the handler the stream and the context, with typed events', async () => {
    const app = new Hono();
    app.get(
      '/rooms/:room/events',
      sse((stream: SseStream<{ joined: { room: string } }>, c) => {
        stream.send({ room: c.req.param('room') ?? '' }, { event: 'joined' });
        const typeCheckOnly = (): void => {
          // @ts-expect-error the data of `joined` has a room
          stream.send({ user: 'x' }, { event: 'joined' });
        };
        expect(typeCheckOnly).toBeTypeOf('function');
        stream.close();
      }),
    );
    const events = await openEvents<{ joined: { room: string } }>(app, { path: '/rooms/lobby/events', json: true });
    expect(events).toHaveSseHeaders();
    await expect(events).toEndWithin(1_000);
    expect(events.comments).toEqual(['']); // opened with a comment
    expect(events.received).toEqual([{ event: 'joined', data: { room: 'lobby' }, id: undefined, retry: undefined }]);
  });

  it('keeps streaming while an async handler loops, and stops the loop when the client leaves', async () => {
    let stream: SseStream | undefined;
    let iterations = 0;
    const app = new Hono();
    app.get(
      '/ticks',
      sse(async (s) => {
        stream = s;
        while (!s.closed) {
          s.send({ n: ++iterations });
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }),
    );
    const events = await openEvents(app, { path: '/ticks', json: true });
    await expect(events).toEmitInOrder([{ data: { n: 1 } }, { data: { n: 2 } }, { data: { n: 3 } }]);
    events.close();
    const opened = await until(() => stream);
    await aborted(opened.signal);
    const stoppedAt = iterations;
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(iterations).toBeLessThanOrEqual(stoppedAt + 1);
  });

  it('closes the stream and reports a failing handler to onError', async () => {
    const onError = vi.fn();
    const app = new Hono();
    app.get(
      '/events',
      sse(
        async (stream) => {
          stream.send('before');
          throw new Error('handler broke');
        },
        { onError },
      ),
    );
    const events = await openEvents(app, { path: '/events' });
    await expect(events).toEndWithin(1_000);
    expect(events.comments).toEqual(['']);
    expect(events.received).toEqual([{ event: 'message', data: 'before', id: undefined, retry: undefined }]);
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'handler broke' }));
  });

  it("keeps the handler running on Workers with the execution context's waitUntil", async () => {
    const app = new Hono();
    app.get(
      '/events',
      sse(async (stream) => {
        stream.send('working');
        stream.close();
      }),
    );
    const kept: Promise<unknown>[] = [];
    const executionContext = {
      waitUntil: (p: Promise<unknown>) => kept.push(p),
      passThroughOnException() {},
      props: {},
    };
    const working = { event: 'message', data: 'working', id: undefined, retry: undefined };
    const events = await openEvents(await app.fetch(new Request('http://x/events'), {}, executionContext));
    await expect(events).toEndWithin(1_000);
    expect(events.comments).toEqual(['']);
    expect(events.received).toEqual([working]);
    expect(kept).toHaveLength(1);
    await expect(kept[0]).resolves.toBeUndefined();
    // Elsewhere there is no execution context, and nothing to keep.
    const elsewhere = await openEvents(app.request('/events'));
    await expect(elsewhere).toEndWithin(1_000);
    expect(elsewhere.comments).toEqual(['']);
    expect(elsewhere.received).toEqual([working]);
  });

  it('refuses invalid options when the handler is created', () => {
    expect(() => sse(() => {}, { retry: Number.NaN })).toThrow(expect.objectContaining({ code: 'INVALID_RETRY' }));
    expect(() => sse(() => {}, { highWaterMark: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });
});
