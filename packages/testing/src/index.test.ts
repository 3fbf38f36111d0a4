import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { ChannelRegistry } from '@ssekit/core';
import { createStream } from '@ssekit/core/node';
import { channel, sse as expressSse } from '@ssekit/express';
import { sse as honoSse } from '@ssekit/hono';
import { sse as koaSse } from '@ssekit/koa';
import express from 'express';
import express4 from 'express4';
import { Hono } from 'hono';
import Koa from 'koa';
import koa2 from 'koa2';
import request from 'supertest';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openEvents } from './index.js';

type Events = { tick: { n: number } };

const expressApp = (Express = express) => {
  const app = Express();
  app.get('/events', expressSse(), (_req, res) => {
    for (const n of [1, 2, 3]) res.sse.send({ n }, { event: 'tick', id: String(n) });
  });
  return app;
};

const servers: http.Server[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

describe('openEvents reads each kind of source', () => {
  // The lowest and highest majors supported.
  const expresses = [
    ['Express 4', express4 as unknown as typeof express],
    ['Express 5', express],
  ] as const;
  const koas = [
    ['Koa 2', koa2 as unknown as typeof Koa],
    ['Koa 3', Koa],
  ] as const;

  it.each(expresses)('an %s app through supertest', async (_name, Express) => {
    const events = await openEvents<Events>(request(expressApp(Express)).get('/events'), { json: true });
    expect(events.status).toBe(200);
    expect(events.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(await events.next()).toEqual({ event: 'tick', data: { n: 1 }, id: '1', retry: undefined });
    expect((await events.take(2)).map((event) => event.data.n)).toEqual([2, 3]);
    expect(events.lastEventId).toBe('3');
    events.close();
    expect(await events.waitForEnd()).toBe(true);
  });

  it.each(koas)('a %s app through supertest', async (_name, KoaApp) => {
    const app = new KoaApp();
    app.use(koaSse({ retry: 1500 }));
    app.use((ctx) => {
      ctx.sse.send('hello');
      ctx.sse.close();
    });
    const events = await openEvents(request(app.callback()).get('/events'));
    expect(await events.collect({ ms: 1000 })).toEqual([
      { event: 'message', data: 'hello', id: undefined, retry: 1500 },
    ]);
    expect(events.ended).toBe(true);
  });

  it('a Hono app, at a path', async () => {
    const app = new Hono().get(
      '/events',
      honoSse((stream) => {
        stream.send({ n: 1 }, { event: 'tick' });
        stream.send({ n: 2 }, { event: 'tock' });
      }),
    );
    const events = await openEvents(app, { path: '/events', json: true });
    expect(await events.until((event) => event.event === 'tock')).toMatchObject({ data: { n: 2 } });
  });

  it("a Hono app's app.request(), read once", async () => {
    const app = new Hono().get(
      '/events',
      honoSse((stream) => {
        for (const n of [1, 2, 3]) stream.send(String(n));
      }),
    );
    const events = await openEvents(app.request('/events'));
    expect((await events.collect({ count: 2 })).map((event) => event.data)).toEqual(['1', '2']);
    expect(await events.collect({ until: (event) => event.data === '3' })).toMatchObject([{ data: '3' }]);
  });

  it('a Response', async () => {
    const response = new Response('event: a\ndata: 1\n\n: ping\nretry: 700\n\n', {
      headers: { 'content-type': 'text/event-stream' },
    });
    const events = await openEvents(response);
    expect(await events.next()).toMatchObject({ event: 'a', data: '1' });
    expect(await events.waitForEnd()).toBe(true);
    expect(events.comments).toEqual(['ping']);
    expect(events.retry).toBe(700); // a retry hint with no event after it
    await expect(events.reconnect()).rejects.toThrow(/needs a source it can request again/);
  });

  it('the URL of a node:http server, with headers sent', async () => {
    const server = http.createServer((req, res) => {
      const stream = createStream(req, res, { heartbeat: false });
      stream.send(req.headers['x-user'] ?? 'nobody');
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await using events = await openEvents(`http://127.0.0.1:${port}/`, { headers: { 'x-user': 'ada' } });
    expect((await events.next()).data).toBe('ada');
  });
});

describe('a URL requested with a fetch of its own', () => {
  it('reads an HTTP/2 stream through undici with a test certificate', async () => {
    const fixture = (name: string) => readFileSync(new URL(`../../core/test/fixtures/${name}`, import.meta.url));
    const server = http2.createSecureServer({ key: fixture('localhost-key.pem'), cert: fixture('localhost-cert.pem') });
    server.on('request', (req, res) => createStream(req, res, { heartbeat: false }).send(req.httpVersion));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const agent = new Agent({ allowH2: true, connect: { ca: fixture('localhost-cert.pem') } });
    const events = await openEvents(`https://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
      fetch: (url, init) => undiciFetch(url, { ...init, dispatcher: agent }),
    });
    expect((await events.next()).data).toBe('2.0');
    events.close();
    await agent.close();
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('the end of a stream', () => {
  // One event, then the server ends the response, or cuts the connection.
  const server = (cut: boolean) =>
    http.createServer((req, res) => {
      const stream = createStream(req, res, { heartbeat: false });
      stream.send('last');
      setTimeout(() => (cut ? req.socket.destroy() : stream.close()), 20);
    });
  const listen = async (cut: boolean) => {
    const listening = server(cut);
    servers.push(listening);
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(listening.address() as AddressInfo).port}`;
  };

  it.each([
    ['ended by the server', false],
    ['dropped', true],
  ])('is told apart from a drop: %s, through supertest and fetch', async (_name, cut) => {
    const url = await listen(cut);
    for (const events of [await openEvents(request(url).get('/')), await openEvents(url)]) {
      expect((await events.next()).data).toBe('last');
      expect(await events.waitForEnd()).toBe(true);
      expect(events.dropped).toBe(cut);
    }
  });
});

describe('timeouts', () => {
  it('fail with what was received and what was awaited', async () => {
    const events = await openEvents(request(expressApp()).get('/events'), { timeout: 200 });
    await expect(events.take(5)).rejects.toThrow(
      [
        'Timed out after 200 ms waiting for 5 event(s). Received 3 event(s):',
        '  {"event":"tick","data":"{\\"n\\":1}","id":"1"}',
        '  {"event":"tick","data":"{\\"n\\":2}","id":"2"}',
        '  {"event":"tick","data":"{\\"n\\":3}","id":"3"}',
      ].join('\n'),
    );
  });

  it('bound the wait for the response head too', async () => {
    const never = { fetch: () => new Promise<Response>(() => {}) };
    await expect(openEvents(never, { timeout: 50 })).rejects.toThrow(
      'Timed out after 50 ms waiting for the response head.',
    );
  });

  it('fire under fake timers, which cannot stop them', async () => {
    vi.useFakeTimers();
    try {
      const events = await openEvents(new Response(new ReadableStream()), { timeout: 50 });
      await expect(events.next()).rejects.toThrow(
        'Timed out after 50 ms waiting for the next event. Received no events.',
      );
    } finally {
      vi.useRealTimers();
    }
  });

  it('fail a read of data that is not JSON when json is set', async () => {
    const events = await openEvents(new Response('data: {oops\n\n'), { json: true });
    await expect(events.next()).rejects.toThrow('event data is not JSON: "{oops"');
  });

  it('fail when the stream ends first', async () => {
    const events = await openEvents(new Response('data: x\n\n'));
    await expect(events.take(2)).rejects.toThrow('The stream ended while waiting for 2 event(s). Received 1 event(s):');
  });
});

describe('reconnect', () => {
  const channelApp = () => {
    const registry = new ChannelRegistry();
    const app = express();
    app.get('/room', channel(registry, 'room', { heartbeat: false }));
    return { app, room: registry.channel('room') };
  };

  it('resumes after the last event with Last-Event-ID', async () => {
    const { app, room } = channelApp();
    const first = await openEvents(request(app).get('/room'));
    await room.publish('a');
    await room.publish('b');
    await first.take(2);
    const second = await first.reconnect();
    expect(first.ended).toBe(true);
    await room.publish('c');
    expect((await second.next()).data).toBe('c');
    // From the first event: the channel replays what came after it.
    const replay = await openEvents(request(app).get('/room'), { lastEventId: first.received[0]?.id });
    expect((await replay.take(2)).map((event) => event.data)).toEqual(['b', 'c']);
  });

  it('sends the headers set on the supertest request again, to an authorized, filtered channel', async () => {
    const registry = new ChannelRegistry();
    const app = express();
    app.get(
      '/alerts',
      channel(registry, 'alerts', {
        heartbeat: false,
        authorize: (req) => (req.headers.authorization ? true : 401),
        filter: (message, req) => message.event === req.headers.authorization,
      }),
    );
    const alerts = registry.channel('alerts');
    expect((await openEvents(request(app).get('/alerts'))).status).toBe(401);
    const ada = await openEvents(request(app).get('/alerts').set('Authorization', 'ada'));
    await alerts.publish('for bob', { event: 'bob' });
    await alerts.publish('for ada', { event: 'ada' });
    expect((await ada.next()).data).toBe('for ada');
    const again = await ada.reconnect();
    await alerts.publish('again', { event: 'ada' });
    expect((await again.next()).data).toBe('again');
  });

  it('sends the id as the lastEventId query parameter on request', async () => {
    const { app, room } = channelApp();
    const first = await openEvents(request(app).get('/room'));
    await room.publish('a');
    await first.next();
    await room.publish('b');
    first.close();
    const second = await first.reconnect({ via: 'query' });
    expect((await second.next()).data).toBe('b');
  });
});
