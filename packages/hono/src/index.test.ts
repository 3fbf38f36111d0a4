import type http from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import type { SseStream } from '@ssekit/core';
import { Hono } from 'hono';
import { describe, expect, it, vi } from 'vitest';
import { aborted, get, listenForTest, until } from '../../core/test/helpers.js';
import { sse } from './index.js';

const start = (app: Hono) => listenForTest(createAdaptorServer({ fetch: app.fetch }) as http.Server);

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
    const { url } = await start(app);
    const { res, body } = await get(`${url}/rooms/lobby/events`);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(body).toBe(':\nevent: joined\ndata: {"room":"lobby"}\n\n');
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
    const { url } = await start(app);
    const { body } = await get(`${url}/ticks`, {}, (text) => text.includes('data: {"n":3}'));
    expect(body).toContain('data: {"n":1}\n\ndata: {"n":2}\n\n');
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
    const { url } = await start(app);
    const { body } = await get(`${url}/events`);
    expect(body).toBe(':\ndata: before\n\n');
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
    const response = await app.fetch(new Request('http://x/events'), {}, executionContext);
    expect(await response.text()).toBe(':\ndata: working\n\n');
    expect(kept).toHaveLength(1);
    await expect(kept[0]).resolves.toBeUndefined();
    // Elsewhere there is no execution context, and nothing to keep.
    expect(await (await app.request('/events')).text()).toBe(':\ndata: working\n\n');
  });

  it('refuses invalid options when the handler is created', () => {
    expect(() => sse(() => {}, { retry: Number.NaN })).toThrow(expect.objectContaining({ code: 'INVALID_RETRY' }));
    expect(() => sse(() => {}, { highWaterMark: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });
});
