import type { SseError, SseStream } from '@ssekit/core';
import { openEvents } from '@ssekit/testing';
import '@ssekit/testing/vitest';
import express, { type ErrorRequestHandler } from 'express';
import express4 from 'express4';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { aborted, until } from '../../core/test/helpers.js';
import { sse, sseErrors } from './index.js';

describe.each([
  ['express 5', express],
  ['express 4', express4 as unknown as typeof express],
])('%s', (_, create) => {
  it('hands a route the stream as res.sse', async () => {
    const app = create();
    app.get('/events', sse({ retry: 100 }), (_req, res) => {
      const stream: SseStream = res.sse;
      stream.send('hi', { event: 'greeting' });
      stream.close();
    });
    const events = await openEvents(request(app).get('/events'));
    expect(events).toHaveSseHeaders();
    await expect(events).toEndWithin(1_000);
    // The retry field opens the stream, so no comment does.
    expect(events.comments).toEqual([]);
    expect(events.received).toEqual([{ event: 'greeting', data: 'hi', id: undefined, retry: 100 }]);
  });

  it("types res.sse by a cast to the app's event map, an interface too", async () => {
    interface Clock {
      tick: { n: number };
    }
    const app = create();
    app.get('/events', sse(), (_req, res) => {
      const stream = res.sse as SseStream<Clock>;
      // @ts-expect-error the data of a tick is { n: number }
      const misuse = () => stream.send('one', { event: 'tick' });
      stream.send({ n: 1 }, { event: 'tick' });
      stream.close();
      return misuse;
    });
    const events = await openEvents<Clock>(request(app).get('/events'), { json: true });
    await expect(events).toEmit({ event: 'tick', data: { n: 1 } });
  });

  it('passes an error thrown after the stream opened to the error handler, and ends the stream', async () => {
    let stream: SseStream | undefined;
    const errors: unknown[] = [];
    const app = create();
    app.get('/events', sse(), (_req, res) => {
      stream = res.sse;
      throw new Error('route broke');
    });
    const onError: ErrorRequestHandler = (error, _req, res, _next) => {
      errors.push(error);
      res.sse?.close(); // the head is sent: end the stream instead of answering 500
    };
    app.use(onError);
    const events = await openEvents(request(app).get('/events'));
    await expect(events).toEndWithin(1_000);
    expect(events.comments).toEqual(['']); // opened with a comment, and nothing else
    expect(events.received).toEqual([]);
    expect(errors).toEqual([expect.objectContaining({ message: 'route broke' })]);
    expect(((await until(() => stream)).signal.reason as SseError).code).toBe('STREAM_CLOSED');
  });

  it("ends the stream through Express's default error handler too", async () => {
    let stream: SseStream | undefined;
    const app = create();
    app.set('env', 'test'); // the default handler logs errors except under test
    app.get('/events', sse(), (_req, res) => {
      stream = res.sse;
      throw new Error('route broke');
    });
    const events = await openEvents(request(app).get('/events'));
    expect(events.status).toBe(200);
    const opened = await until(() => stream);
    await aborted(opened.signal);
    expect(opened.send('x')).toBe(false);
  });
});

describe('express 5', () => {
  it('routes a rejected async handler to the error handler', async () => {
    const errors: unknown[] = [];
    const app = express();
    app.get('/events', sse(), async (_req, res) => {
      res.sse.send('before');
      await Promise.resolve();
      throw new Error('async route broke');
    });
    app.use(((error, _req, res, _next) => {
      errors.push(error);
      res.sse.close();
    }) as ErrorRequestHandler);
    const events = await openEvents(request(app).get('/events'));
    await expect(events).toEndWithin(1_000);
    expect(events.comments).toEqual(['']);
    expect(events.received).toEqual([{ event: 'message', data: 'before', id: undefined, retry: undefined }]);
    expect(errors).toEqual([expect.objectContaining({ message: 'async route broke' })]);
  });
});

describe('sseErrors()', () => {
  it('closes the stream of a failing route cleanly and reports the error; others go on', async () => {
    const reported: unknown[] = [];
    const app = express();
    app.set('env', 'test');
    app.get('/events', sse(), () => {
      throw new Error('route broke');
    });
    app.get('/plain', () => {
      throw new Error('plain broke');
    });
    app.use(sseErrors((error) => reported.push(error)));
    const events = await openEvents(request(app).get('/events'));
    await expect(events).toEndWithin(1_000);
    expect(events.comments).toEqual(['']);
    expect(events.received).toEqual([]);
    expect(events.dropped).toBe(false); // ended by the server, not cut off
    expect(reported).toEqual([expect.objectContaining({ message: 'route broke' })]);
    expect((await request(app).get('/plain')).status).toBe(500);
    expect(reported).toHaveLength(1);
  });
});

describe('sse()', () => {
  it('refuses invalid options when the middleware is created', () => {
    expect(() => sse({ retry: -1 })).toThrow(expect.objectContaining({ code: 'INVALID_RETRY' }));
  });
});
