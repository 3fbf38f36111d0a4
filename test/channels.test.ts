// Channels end to end: the adapters' channel() routes, real clients, connections cut while
// publishing goes on, and a registry shutdown under load.
import http from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { ChannelRegistry, type SseError } from '@ssekit/core';
import { channel as expressChannel } from '@ssekit/express';
import { channel as honoChannel } from '@ssekit/hono';
import { channel as koaChannel } from '@ssekit/koa';
import { EventSource } from 'eventsource';
import { createParser } from 'eventsource-parser';
import express from 'express';
import { Hono } from 'hono';
import Koa from 'koa';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { launchChromium } from '../packages/core/test/chromium.js';
import { afterThisTest, listenForTest, until } from '../packages/core/test/helpers.js';

type Verdict = boolean | 401 | 403;
type RouteOptions = { retry?: number; maxBufferedBytes?: number; allow?: (url: string) => Verdict | Promise<Verdict> };
type Route = (registry: ChannelRegistry, options: RouteOptions) => http.Server;

/** The same route, `GET /rooms/:room/events`, through each adapter's channel() helper. */
const routes: Record<string, Route> = {
  express: (registry, { allow, ...options }) => {
    const app = express();
    app.get(
      '/rooms/:room/events',
      expressChannel(registry, (req) => `room:${req.params.room}`, {
        ...options,
        authorize: allow && ((req) => allow(req.url ?? '')),
      }),
    );
    app.get('/', (_req, res) => {
      res.send('<!doctype html><title>channels</title>');
    });
    return http.createServer(app);
  },
  koa: (registry, { allow, ...options }) => {
    const app = new Koa();
    const events = koaChannel(registry, (ctx) => `room:${ctx.path.split('/')[2]}`, {
      ...options,
      authorize: allow && ((ctx) => allow(ctx.url)),
    });
    app.use((ctx, next) => (ctx.path.endsWith('/events') ? events(ctx, next) : next()));
    return http.createServer(app.callback());
  },
  hono: (registry, { allow, ...options }) => {
    const app = new Hono();
    app.get(
      '/rooms/:room/events',
      honoChannel(registry, (c) => `room:${c.req.param('room')}`, {
        ...options,
        authorize: allow && ((c) => allow(c.req.url)),
      }),
    );
    return createAdaptorServer({ fetch: app.fetch }) as http.Server;
  },
};

/** Publishes `count` events to `room`, a few per macrotask, cutting every connection now and then. */
async function publishWithCuts(registry: ChannelRegistry, room: string, count: number, cut: () => void) {
  const published: string[] = [];
  for (let i = 0; i < count; i++) {
    published.push(await registry.channel(room).publish({ i }));
    if (i % 50 === 49) cut();
    if (i % 5 === 4) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return published;
}

describe.each(Object.keys(routes))('%s channel() before any stream opens', (name) => {
  it('answers a refused request with 401 or 403, an empty body, and opens no stream', async () => {
    const registry = new ChannelRegistry();
    afterThisTest(() => registry.close());
    const allow = async (url: string): Promise<Verdict> =>
      url.includes('token=good') ? true : url.includes('token=') ? 403 : 401;
    const { url } = await listenForTest(routes[name]?.(registry, { allow }) as http.Server);
    const signedOut = await fetch(`${url}/rooms/a/events`);
    expect(signedOut.status).toBe(401);
    expect(await signedOut.text()).toBe('');
    const forbidden = await fetch(`${url}/rooms/a/events?token=bad`);
    expect(forbidden.status).toBe(403);
    expect(await forbidden.text()).toBe('');
    expect(forbidden.headers.get('content-type') ?? '').not.toContain('text/event-stream');
    expect(registry.names()).toEqual([]);
    const admitted = await fetch(`${url}/rooms/a/events?token=good`);
    expect(admitted.status).toBe(200);
    expect(admitted.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    await admitted.body?.cancel();
  });

  it('ends a channel for good: its stream closes and the reconnect gets 204, so the client stops', async () => {
    const registry = new ChannelRegistry();
    afterThisTest(() => registry.close());
    const server = routes[name]?.(registry, { retry: 20 }) as http.Server;
    let requests = 0;
    server.on('request', () => requests++);
    const { url } = await listenForTest(server);
    const source = new EventSource(`${url}/rooms/a/events`);
    afterThisTest(() => source.close());
    await new Promise((resolve) => source.addEventListener('open', resolve));
    registry.end('room:a');
    expect(registry.isEnded('room:a')).toBe(true);
    await until(() => (source.readyState === EventSource.CLOSED ? true : undefined), 5_000);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(requests).toBe(2);
    const ended = await fetch(`${url}/rooms/a/events`);
    expect(ended.status).toBe(204);
    expect(await ended.text()).toBe('');
  });
});

describe.each(Object.keys(routes))('%s channel() with the eventsource client', (name) => {
  it('resumes after every cut with each event exactly once, in order', async () => {
    const registry = new ChannelRegistry();
    afterThisTest(() => registry.close());
    const server = routes[name]?.(registry, { retry: 20 }) as http.Server;
    const { url } = await listenForTest(server);
    const source = new EventSource(`${url}/rooms/a/events`);
    afterThisTest(() => source.close());
    const received: string[] = [];
    let connections = 0;
    source.onopen = () => connections++;
    source.onmessage = (event) => received.push(event.lastEventId);
    await until(() => (connections > 0 ? true : undefined));

    const published = await publishWithCuts(registry, 'room:a', 300, () => server.closeAllConnections());
    await until(() => (received.length >= published.length ? true : undefined), 10_000);
    console.log(`[${name}] eventsource: ${received.length}/${published.length} events over ${connections} connections`);
    expect(received).toEqual(published);
    expect(connections).toBeGreaterThan(1);
  });
});

describe('Chromium EventSource on a channel', () => {
  /** The Express route on a fresh registry, and a Chromium page on its origin. */
  async function expressInChromium(watch?: (server: http.Server) => void) {
    const registry = new ChannelRegistry();
    afterThisTest(() => registry.close());
    const server = routes.express?.(registry, { retry: 20 }) as http.Server;
    watch?.(server);
    const { url } = await listenForTest(server);
    const browser = await launchChromium(chromium);
    afterThisTest(() => browser.close());
    const page = await browser.newPage();
    await page.goto(url);
    return { registry, server, page };
  }

  it('resumes after every cut with each event exactly once, in order', async () => {
    const { registry, server, page } = await expressInChromium();
    await page.evaluate(() => {
      const state = { ids: [] as string[], opens: 0 };
      Object.assign(window, { state });
      const source = new window.EventSource('/rooms/b/events');
      source.onopen = () => state.opens++;
      source.onmessage = (event) => state.ids.push(event.lastEventId);
    });
    const opens = () => page.evaluate(() => (window as unknown as { state: { opens: number } }).state.opens);
    while ((await opens()) === 0) await new Promise((resolve) => setTimeout(resolve, 10));

    const published = await publishWithCuts(registry, 'room:b', 300, () => server.closeAllConnections());
    const read = () => page.evaluate(() => (window as unknown as { state: { ids: string[] } }).state.ids);
    for (let tries = 0; (await read()).length < published.length && tries < 500; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const received = await read();
    console.log(`[chromium] ${received.length}/${published.length} events over ${await opens()} connections`);
    expect(received).toEqual(published);
  });

  it('stops reconnecting once an ended channel answers 204, and not before', async () => {
    const statuses: number[] = [];
    const { registry, page } = await expressInChromium((server) =>
      server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
        if (req.url?.startsWith('/rooms/')) res.on('finish', () => statuses.push(res.statusCode));
      }),
    );
    await page.evaluate(() => {
      const source = new window.EventSource('/rooms/c/events');
      Object.assign(window, { source });
      return new Promise((resolve) => source.addEventListener('open', resolve));
    });
    // A plain end: the browser reconnects (after retry: 20 ms) and is subscribed again.
    registry.get('room:c')?.reconnectAll();
    await until(() => (statuses.length >= 1 && registry.get('room:c')?.size === 1 ? true : undefined), 5_000);
    registry.end('room:c');
    const readyState = () => page.evaluate(() => (window as unknown as { source: EventSource }).source.readyState);
    for (let tries = 0; (await readyState()) !== 2 && tries < 250; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await readyState()).toBe(2); // CLOSED: no more reconnects
    expect(statuses).toEqual([200, 200, 204]);
  });
});

describe('a slow subscriber', () => {
  it('is cut off, resumes, and ends with every event, while a fast one never stalls', async () => {
    const count = 8000;
    const registry = new ChannelRegistry({ history: { size: count } });
    afterThisTest(() => registry.close());
    const { url } = await listenForTest(routes.express?.(registry, { maxBufferedBytes: 16 * 1024 }) as http.Server);

    const fast = new EventSource(`${url}/rooms/c/events`);
    afterThisTest(() => fast.close());
    const fastIds: string[] = [];
    let lastArrival = 0;
    let longestGap = 0;
    fast.onmessage = (event) => {
      const now = performance.now();
      if (lastArrival) longestGap = Math.max(longestGap, now - lastArrival);
      lastArrival = now;
      fastIds.push(event.lastEventId);
    };

    // The slow client reads nothing while the events pile up; then it reads what reached it
    // before the cut, and reconnects from the last whole event, as EventSource would. It stays
    // a raw http.get: the point is a response paused at the socket, which a reader never is.
    const slowIds: string[] = [];
    const connect = (lastEventId?: string) =>
      new Promise<http.IncomingMessage>((resolve) => {
        const headers = lastEventId ? { 'last-event-id': lastEventId } : {};
        http.get(`${url}/rooms/c/events`, { headers, agent: false }, (res) => {
          const parser = createParser({ onEvent: (event) => event.id && slowIds.push(event.id) });
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => parser.feed(chunk));
          res.on('error', () => {});
          resolve(res);
        });
      });
    const slow = await connect();
    afterThisTest(() => slow.destroy());
    slow.pause();
    const slowClosed = new Promise((resolve) => slow.once('close', resolve));
    await until(() => (registry.get('room:c')?.size === 2 ? true : undefined));

    const published: string[] = [];
    const payload = 'x'.repeat(1000);
    for (let i = 0; i < count; i++) {
      published.push(await registry.channel('room:c').publish(payload));
      if (i % 20 === 19) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(registry.get('room:c')?.size).toBe(1); // the slow one was cut off

    slow.resume();
    await slowClosed;
    const beforeCut = slowIds.length;
    const resumed = await connect(slowIds.at(-1));
    afterThisTest(() => resumed.destroy());
    await until(() => (slowIds.length >= count ? true : undefined), 20_000);
    await until(() => (fastIds.length === count ? true : undefined), 20_000);
    console.log(
      `[slow subscriber] ${beforeCut} events before the cut, ${slowIds.length - beforeCut} replayed after it; fast subscriber ${fastIds.length}/${count}, longest gap ${longestGap.toFixed(1)} ms`,
    );
    expect(slowIds).toEqual(published);
    expect(fastIds).toEqual(published);
    expect(longestGap).toBeLessThan(1000);
  });
});

describe('ChannelRegistry.close()', () => {
  it('lets a server with 1,000 open streams close within a second', async () => {
    const registry = new ChannelRegistry();
    const server = routes.express?.(registry, {}) as http.Server;
    const { url } = await listenForTest(server);
    // Raw http.get rather than @ssekit/testing: opening 1,000 streams through fetch made this
    // test twice as slow (4 s rather than 2 s), and its point is the server's close time.
    const ended: Promise<string>[] = [];
    for (let i = 0; i < 1000; i++) {
      ended.push(
        new Promise((resolve) => {
          http.get(`${url}/rooms/r${i % 10}/events`, { agent: false }, (res) => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              body += chunk;
            });
            res.on('end', () => resolve(body));
          });
        }),
      );
    }
    await until(() => {
      const open = registry.names().reduce((sum, room) => sum + (registry.get(room)?.size ?? 0), 0);
      return open === 1000 ? true : undefined;
    }, 20_000);

    const started = performance.now();
    await registry.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const elapsed = performance.now() - started;
    console.log(`[shutdown] 1,000 streams: server closed ${elapsed.toFixed(0)} ms after registry.close()`);
    expect(elapsed).toBeLessThan(1000);
    const bodies = await Promise.all(ended);
    expect(bodies.every((body) => /^:\nretry: \d+\n$/.test(body))).toBe(true);
    await expect(registry.channel('room:r0').publish('late')).rejects.toThrow(
      expect.objectContaining({ code: 'REGISTRY_CLOSED' } satisfies Partial<SseError>),
    );
  });
});
