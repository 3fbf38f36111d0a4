import http from 'node:http';
import { Writable } from 'node:stream';
import compress from '@fastify/compress';
import { ChannelRegistry, CursorKey, type SseError, type SseStream, STREAM_EVENT } from '@ssekit/core';
import { openEvents } from '@ssekit/testing';
import '@ssekit/testing/vitest';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { aborted, until } from '../../core/test/helpers.js';
import { channel, channels, type SsekitOptions, sse, ssekit } from './index.js';

const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
});

/** Fastify with a logger that keeps its entries, and the ssekit plugin. */
async function create(options: FastifyServerOptions = {}, plugin: SsekitOptions = {}) {
  const logs: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(line, _, done) {
      logs.push(JSON.parse(String(line)));
      done();
    },
  });
  const app = Fastify({ logger: { level: 'info', stream }, ...options });
  await app.register(ssekit, plugin);
  apps.push(app);
  return { app, logs };
}

async function listen(app: FastifyInstance) {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as { port: number };
  return `http://127.0.0.1:${port}`;
}

/** The raw response, as text, once it ends. */
function getText(url: string) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      })
      .on('error', reject);
  });
}

describe('sse()', () => {
  it('sends the event-stream headers and exact bytes, and onResponse sees 200 text/event-stream', async () => {
    const { app, logs } = await create();
    const seen: string[] = [];
    app.addHook('onResponse', async (_, reply) => {
      seen.push(`${reply.statusCode} ${reply.getHeader('content-type')}`);
    });
    app.get(
      '/events',
      sse(
        (stream, _request, reply) => {
          reply.header('x-route', 'events');
          stream.send('hello\nworld', { event: 'greeting', id: 1 });
          stream.send({ n: 2 }, { id: '2' });
          stream.comment('note');
          stream.close();
        },
        { retry: 1000 },
      ),
    );
    const url = await listen(app);
    const res = await getText(`${url}/events`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['cache-control']).toContain('no-transform');
    expect(res.headers['x-route']).toBe('events');
    expect(res.text).toBe(
      'retry: 1000\nevent: greeting\nid: 1\ndata: hello\ndata: world\n\nid: 2\ndata: {"n":2}\n\n: note\n',
    );
    await until(() => (seen.length > 0 ? true : undefined));
    expect(seen).toEqual(['200 text/event-stream; charset=utf-8']);
    expect(logs.find((entry) => entry.msg === 'request completed')).toMatchObject({ level: 30 });
  });

  it('aborts the signal when the client leaves, and logs nothing at warn or above', async () => {
    // A fetch aborted mid-body makes undici (Node 20's) open a spare connection that sends no
    // request; close() would wait the shutdown deadline (default 5 s) for it.
    const { app, logs } = await create({}, { deadline: 100 });
    let stream: SseStream | undefined;
    app.get(
      '/events',
      sse((s, _, reply) => {
        stream = s;
        expect(reply.sse).toBe(s);
      }),
    );
    const url = await listen(app);
    const events = await openEvents(`${url}/events`);
    expect(events).toHaveSseHeaders();
    await until(() => (events.comments.length > 0 ? true : undefined));
    const opened = await until(() => stream);
    const started = performance.now();
    events.close();
    await aborted(opened.signal, 1_000);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect((opened.signal.reason as SseError).code).toBe('CLIENT_GONE');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(logs.filter((entry) => entry.level >= 40)).toEqual([]);
  });

  it('lets close() end open streams with a retry hint, within a second', async () => {
    const { app } = await create();
    app.get(
      '/events',
      sse(() => {}),
    );
    const url = await listen(app);
    const events = await openEvents(`${url}/events`);
    await until(() => (events.comments.length > 0 ? true : undefined));
    const started = performance.now();
    await app.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await events.waitForEnd()).toBe(true);
    expect(events.retry).toBeGreaterThanOrEqual(1000);
  });

  it('answers 500 for a handler that throws, and reports a later rejection after closing the stream', async () => {
    const { app, logs } = await create();
    let late: SseStream | undefined;
    app.get(
      '/throws',
      sse(() => {
        throw new Error('handler broke');
      }),
    );
    app.get(
      '/rejects',
      sse(async (stream) => {
        late = stream;
        await new Promise((resolve) => setTimeout(resolve, 10));
        throw new Error('later');
      }),
    );
    const url = await listen(app);
    const thrown = await getText(`${url}/throws`);
    expect(thrown.status).toBe(500);
    expect(thrown.headers['content-type']).toContain('application/json');
    const res = await getText(`${url}/rejects`);
    expect(res.status).toBe(200);
    expect(late?.closed).toBe(true);
    expect(logs.find((entry) => entry.level === 50 && entry.msg.startsWith('ssekit:'))).toBeDefined();
  });

  it('keeps the answer of a handler that refuses, and survives an onError that throws', async () => {
    const { app, logs } = await create();
    let refused: SseStream | undefined;
    app.get(
      '/refuses',
      sse((stream, _request, reply) => {
        refused = stream;
        reply.code(401).send();
      }),
    );
    app.get(
      '/rejects',
      sse(
        async () => {
          await new Promise((resolve) => setTimeout(resolve, 10));
          throw new Error('later');
        },
        {
          onError: () => {
            throw new Error('onError broke too');
          },
        },
      ),
    );
    const url = await listen(app);
    const res = await getText(`${url}/refuses`);
    expect(res.status).toBe(401);
    expect(refused?.closed).toBe(true);
    expect(logs.filter((entry) => entry.level >= 40)).toEqual([]);
    expect((await getText(`${url}/rejects`)).status).toBe(200);
    await until(() => logs.find((entry) => entry.msg === 'ssekit: onError threw'), 1000);
  });

  it('checks the plugin options when it is registered', async () => {
    const app = Fastify();
    apps.push(app);
    await expect(app.register(ssekit, { deadline: -1 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });

  it('streams through inject with payloadAsStream, and the abort signal closes the stream', async () => {
    const { app } = await create();
    let stream: SseStream | undefined;
    app.get(
      '/events',
      sse((s) => {
        stream = s;
        s.send('first');
      }),
    );
    const controller = new AbortController();
    const res = await app.inject({ method: 'GET', url: '/events', payloadAsStream: true, signal: controller.signal });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    const body = res.stream();
    let text = '';
    body.setEncoding('utf8');
    body.on('data', (chunk: string) => {
      text += chunk;
    });
    body.on('error', () => {});
    await until(() => (text.includes('data: first\n\n') ? true : undefined));
    const opened = await until(() => stream);
    controller.abort();
    await aborted(opened.signal, 1_000);
  });

  it('is not held back by @fastify/compress registered for the whole app', async () => {
    const { app } = await create();
    await app.register(compress, { global: true, threshold: 0 });
    let stream: SseStream | undefined;
    app.get(
      '/events',
      sse((s) => {
        stream = s;
      }),
    );
    const url = await listen(app);
    const events = await openEvents(`${url}/events`, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(events.headers.get('content-encoding')).toBeNull();
    const opened = await until(() => stream);
    for (let n = 1; n <= 3; n++) {
      opened.send(`event ${n}`);
      await expect(events).toEmit({ event: 'message', data: `event ${n}` });
    }
  });

  it('ends a HEAD request with its head', async () => {
    const { app } = await create();
    let stream: SseStream | undefined;
    app.get(
      '/events',
      sse((s) => {
        stream = s;
      }),
    );
    const url = await listen(app);
    const res = await fetch(`${url}/events`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(stream?.closed).toBe(true);
  });

  it('works without the plugin', async () => {
    const app = Fastify();
    apps.push(app);
    app.get(
      '/events',
      sse((stream) => {
        stream.send('hi');
        stream.close();
      }),
    );
    const url = await listen(app);
    expect((await getText(`${url}/events`)).text).toBe(':\ndata: hi\n\n');
  });
});

describe('channel()', () => {
  it('fans out to every client, resumes after Last-Event-ID, and answers a refusal with its status', async () => {
    const { app } = await create();
    const registry = new ChannelRegistry();
    app.get<{ Params: { room: string } }>(
      '/rooms/:room/events',
      channel(registry, (request) => `room:${(request.params as { room: string }).room}`, {
        heartbeat: false,
        authorize: (request) => request.headers['x-user'] !== undefined,
      }),
    );
    const url = await listen(app);
    const headers = { 'x-user': 'ada' };
    const a = await openEvents(`${url}/rooms/1/events`, { headers });
    const b = await openEvents(`${url}/rooms/1/events`, { headers });
    const room = registry.channel('room:1');
    await until(() => (room.size === 2 ? true : undefined));
    const first = await room.publish('one');
    await room.publish('two');
    for (const events of [a, b]) {
      await expect(events).toEmitInOrder([{ data: 'one', id: first }, { data: 'two' }]);
    }
    const resumed = await openEvents(`${url}/rooms/1/events`, { headers, lastEventId: first });
    await expect(resumed).toEmit({ data: 'two' });
    const refused = await getText(`${url}/rooms/1/events`);
    expect(refused.status).toBe(403);
    expect(refused.text).toBe('');
  });
});

describe('channels()', () => {
  it('opens one stream for many channels, changed by a subscribe call', async () => {
    const { app } = await create();
    const registry = new ChannelRegistry();
    const feed = channels(registry, {
      key: new CursorKey('the fastify test secret, 32 bytes or more'),
      heartbeat: false,
    });
    app.get('/events', feed.events);
    app.post('/events/subscriptions', feed.subscriptions);
    const url = await listen(app);
    const events = await openEvents(`${url}/events?channels=lobby`);
    const opening = await events.next();
    expect(opening.event).toBe(STREAM_EVENT);
    const { stream } = JSON.parse(String(opening.data)) as { stream: string };
    const response = await fetch(`${url}/events/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ stream, subscribe: ['news'] }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ subscribed: ['news'] });
    await registry.channel('news').publish('extra');
    await expect(events).toEmit({ data: 'news\nextra' });
    // A fetch with no content-type sends text/plain, which Fastify parses as a string.
    const asText = await fetch(`${url}/events/subscriptions`, {
      method: 'POST',
      body: JSON.stringify({ stream, subscribe: ['sports'] }),
    });
    expect(asText.status).toBe(200);
    expect(await asText.json()).toMatchObject({ subscribed: ['sports'] });
  });
});
