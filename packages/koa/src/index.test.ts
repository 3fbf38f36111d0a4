import { ConnectionLimiter, type SseError, type SseStream } from '@ssekit/core';
import { openEvents } from '@ssekit/testing';
import '@ssekit/testing/vitest';
import Koa from 'koa';
import koa2 from 'koa2';
import request from 'supertest';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { aborted, until } from '../../core/test/helpers.js';
import { sse } from './index.js';

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each([
  ['koa 3', Koa],
  ['koa 2', koa2 as unknown as typeof Koa],
])('%s', (_, Create) => {
  it('lets upstream middleware see status 200 and the event-stream type', async () => {
    const app = new Create();
    const logged: string[] = [];
    app.use(async (ctx, next) => {
      await next();
      logged.push(`${ctx.status} ${ctx.type}`);
    });
    app.use(sse());
    app.use((ctx) => {
      ctx.sse.send('hi');
      ctx.sse.close();
    });
    const events = await openEvents(request(app.callback()).get('/'));
    expect(events).toHaveSseHeaders();
    await expect(events).toEndWithin(1_000);
    expect(events.comments).toEqual(['']); // opened with a comment
    expect(events.received).toEqual([{ event: 'message', data: 'hi', id: undefined, retry: undefined }]);
    expect(logged).toEqual(['200 text/event-stream']);
  });

  it("types ctx.sse by a cast to the app's event map, an interface too", async () => {
    interface Clock {
      tick: { n: number };
    }
    const app = new Create();
    app.use(sse());
    app.use((ctx) => {
      const stream = ctx.sse as SseStream<Clock>;
      // @ts-expect-error the data of a tick is { n: number }
      const misuse = () => stream.send('one', { event: 'tick' });
      stream.send({ n: 1 }, { event: 'tick' });
      stream.close();
      return misuse;
    });
    const events = await openEvents<Clock>(request(app.callback()).get('/events'), { json: true });
    await expect(events).toEmit({ event: 'tick', data: { n: 1 } });
  });

  it('reports no error on the app when the client disconnects', async () => {
    const app = new Create();
    const onError = vi.fn();
    app.on('error', onError);
    const consoleError = vi.spyOn(console, 'error');
    let stream: SseStream | undefined;
    app.use(sse());
    app.use((ctx) => {
      stream = ctx.sse;
    });
    const events = await openEvents(request(app.callback()).get('/'));
    await until(() => (events.comments.length > 0 ? true : undefined)); // the opening comment
    events.close();
    const opened = await until(() => stream);
    await aborted(opened.signal);
    expect((opened.signal.reason as SseError).code).toBe('CLIENT_GONE');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(onError).not.toHaveBeenCalled();
    expect(consoleError).not.toHaveBeenCalled();
  });

  it('answers 500 for a handler that throws before Koa responds, and releases the stream', async () => {
    const app = new Create();
    app.silent = true;
    const onError = vi.fn();
    app.on('error', onError);
    let stream: SseStream | undefined;
    app.use(sse());
    app.use((ctx) => {
      stream = ctx.sse;
      throw new Error('handler broke');
    });
    const events = await openEvents(request(app.callback()).get('/'));
    expect(events.status).toBe(500);
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'handler broke' }), expect.anything());
    const opened = await until(() => stream);
    await aborted(opened.signal);
  });

  it('answers a request over the limit as the limiter says, and the handler sees a closed stream', async () => {
    const seen: (boolean | string)[] = [];
    const app = new Create();
    const limit = new ConnectionLimiter({ total: 0, refuse: 'status', retry: { min: 3000, max: 3000 } });
    app.use(sse({ limit }));
    app.use((ctx) => {
      seen.push(ctx.sse.closed);
      // A timer started here is released at once: onClose runs for a stream already ended.
      const timer = setInterval(() => ctx.sse.send('never'), 10);
      ctx.sse.onClose((reason) => {
        clearInterval(timer);
        seen.push(reason.code);
      });
      seen.push('handler done');
    });
    // Not an event stream: supertest reads the whole refusal.
    const res = await request(app.callback()).get('/events');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('3');
    expect(res.text).toBe('Too many streams.');
    expect(seen).toEqual([true, 'STREAM_CLOSED', 'handler done']);
    const hinted = new Create();
    hinted.use(sse({ limit: new ConnectionLimiter({ total: 0, retry: { min: 700, max: 700 } }) }));
    // The whole body is one retry hint, compared as text.
    const retry = await request(hinted.callback()).get('/events');
    expect(retry.status).toBe(200);
    expect(retry.text).toBe('retry: 700\n');
  });

  it('ends a HEAD request with its head', async () => {
    const app = new Create();
    let stream: SseStream | undefined;
    app.use(sse());
    app.use((ctx) => {
      stream = ctx.sse;
    });
    // openEvents() never resolves for a HEAD request (supertest parses no body): supertest alone.
    const res = await request(app.callback()).head('/');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream?.closed).toBe(true);
  });
});

describe('sse()', () => {
  it('refuses invalid options when the middleware is created', () => {
    expect(() => sse({ heartbeat: -5 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });
});
