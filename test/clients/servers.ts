// The same app on Express, Koa and Hono (on @hono/node-server), behind a front that plays
// the parts a deployment adds around it: it serves the page and the clients' own files from
// node_modules (no CDN), logs every event-stream request with the id it resumes from, and
// can answer one request the way a proxy would (a 503) or cut every connection at once.
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { getRequestListener } from '@hono/node-server';
import { ChannelRegistry, type SseStream, type SseStreamOptions } from '@ssekit/core';
import { channel as expressChannel, sse as expressSse } from '@ssekit/express';
import { channel as honoChannel, sse as honoSse } from '@ssekit/hono';
import { channel as koaChannel, sse as koaSse } from '@ssekit/koa';
import express from 'express';
import { Hono } from 'hono';
import Koa from 'koa';
import type { OnTestFinishedHandler } from 'vitest';
import { listen, until } from '../../packages/core/test/helpers.js';

/**
 * The test context's `onTestFinished`: tests run concurrently, so each one closes what it
 * opened itself (last opened, first closed).
 */
export type OnFinished = (cleanup: OnTestFinishedHandler) => void;

/** The `retry` of every route: short, so that each reconnect in a test costs 100 ms. */
export const RETRY_MS = 100;
/** The heartbeat of `/beat/:name` and `/plain`: several heartbeats in a few hundred ms. */
const HEARTBEAT_MS = 40;
/** The `maxLifetime` of `/lifetime/:name`: a clean end by policy, 90–110% of it. */
const LIFETIME_MS = 300;

/**
 * The event-stream routes, the same on each framework:
 * - `/channels/:name`: a `channel()` route with `retry`;
 * - `/beat/:name`: the same with a heartbeat every {@link HEARTBEAT_MS};
 * - `/lifetime/:name`: the same with `maxLifetime`, so each stream ends cleanly;
 * - `/plain`: an `sse()` route without `retry` and with heartbeats, which sends `hello`
 *   (id `p1`) and then `bye` (id `p2`), each after {@link PLAIN_GAP_MS} of silence, and stays
 *   open.
 */
const channelRoutes: Record<string, SseStreamOptions> = {
  channels: { retry: RETRY_MS },
  beat: { retry: RETRY_MS, heartbeat: HEARTBEAT_MS },
  lifetime: { retry: RETRY_MS, maxLifetime: LIFETIME_MS },
};
const plainOptions: SseStreamOptions = { heartbeat: HEARTBEAT_MS };
const PLAIN_GAP_MS = 150;

function onPlain(stream: SseStream): void {
  let timer = setTimeout(() => {
    stream.send('hello', { id: 'p1' });
    timer = setTimeout(() => stream.send('bye', { id: 'p2' }), PLAIN_GAP_MS);
  }, PLAIN_GAP_MS);
  stream.onClose(() => clearTimeout(timer));
}

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

const apps: Record<string, (registry: ChannelRegistry) => Listener> = {
  express: (registry) => {
    const app = express();
    for (const [route, options] of Object.entries(channelRoutes)) {
      app.get(
        `/${route}/:name`,
        expressChannel(registry, (req) => req.params.name ?? '', options),
      );
    }
    app.get('/plain', expressSse(plainOptions), (_req, res) => onPlain(res.sse));
    return app;
  },
  koa: (registry) => {
    const app = new Koa();
    const routes = new Map(
      Object.entries(channelRoutes).map(([route, options]) => [
        route,
        koaChannel(registry, (ctx) => ctx.path.split('/')[2] ?? '', options),
      ]),
    );
    const plain = koaSse(plainOptions);
    app.use((ctx, next) => {
      const route = routes.get(ctx.path.split('/')[1] ?? '');
      if (route) return route(ctx, next);
      if (ctx.path === '/plain') return plain(ctx, async () => onPlain(ctx.sse));
      return next();
    });
    return app.callback();
  },
  hono: (registry) => {
    const app = new Hono();
    for (const [route, options] of Object.entries(channelRoutes)) {
      app.get(
        `/${route}/:name`,
        honoChannel(registry, (c) => c.req.param('name') ?? '', options),
      );
    }
    app.get(
      '/plain',
      honoSse((stream) => onPlain(stream), plainOptions),
    );
    return getRequestListener(app.fetch);
  },
};

export const frameworks = Object.keys(apps);

const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url));

/** What the front serves besides the app: each client's own build, as a page would load it. */
const files: Record<string, string> = {
  '/vendor/sse.js': 'sse.js/lib/sse.js',
  '/vendor/htmx.js': 'htmx.org/dist/htmx.js',
  '/vendor/htmx-ext-sse.js': 'htmx-ext-sse/dist/sse.js',
};

async function serveFile(path: string, res: http.ServerResponse): Promise<boolean> {
  let file = files[path];
  // fetch-event-source's ESM build imports './fetch' and './parse' without an extension,
  // which a browser resolves to exactly that URL: answer it with the .js file.
  const fes = /^\/vendor\/fetch-event-source\/(\w+)(?:\.js)?$/.exec(path);
  if (fes) file = `@microsoft/fetch-event-source/lib/esm/${fes[1]}.js`;
  if (!file) return false;
  const body = await readFile(`${modules}${file}`);
  res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(body);
  return true;
}

const PAGE = '<!doctype html><meta charset="utf-8"><title>clients</title>';

/** The pages: each loads one client from `/vendor/` as an app would, and puts it on `window`. */
const pages: Record<string, string> = {
  '/': PAGE,
  '/fetch-event-source.html': `${PAGE}<script type="module">
    import * as fetchEventSource from '/vendor/fetch-event-source/index.js';
    window.fetchEventSourceModule = fetchEventSource;
  </script>`,
  '/sse-js.html': `${PAGE}<script type="module">
    import { SSE } from '/vendor/sse.js';
    window.SSE = SSE;
  </script>`,
  '/htmx.html': `${PAGE}<script src="/vendor/htmx.js"></script><script src="/vendor/htmx-ext-sse.js"></script>`,
};

/** One event-stream request as the front saw it. */
export interface LoggedRequest {
  path: string;
  /** The `lastEventId` query parameter, if any. */
  query: string | undefined;
  /** The `Last-Event-ID` header, if any. */
  header: string | undefined;
  /** The status it was answered with; undefined until the head is sent. */
  status?: number;
  /** When it came, and when its response ended (ms since the epoch). */
  at: number;
  endedAt?: number;
  /** The body as written so far, before any chunked framing. */
  body: string;
}

/** Heartbeat lines in `body`: lone `:` lines, which ssekit writes when a stream is silent. */
export const heartbeats = (body: string) => body.split('\n').filter((line) => line === ':').length;

/** The client under test, as the steps of {@link ClientServer} see it. */
export interface Receiver {
  /** Waits until the client has `text`: handed it to the app, or shown it. */
  has(text: string): Promise<unknown>;
  /** The data to publish for `text`; default: `text` itself. */
  dataFor?(text: string): string;
}

export interface ClientServer {
  url: string;
  registry: ChannelRegistry;
  /** Every request to an event-stream route, in order. */
  requests: LoggedRequest[];
  /** Requests to `path` (the path without the query). */
  requestsTo(path: string): LoggedRequest[];
  /** Answers the next event-stream request with `status` and a text body, as a proxy would. */
  failNext(status: number): void;
  /** Cuts every connection (no clean end: an unfinished chunked body, as when a network drops). */
  drop(): void;
  /** Publishes to channel `name` and returns the id. */
  publish(name: string, data: string, event?: string): Promise<string>;
  /** Waits until channel `name` has `count` subscribers on this process. */
  subscribers(name: string, count: number, ms?: number): Promise<void>;
  /** Waits until the response to the first request to `path` holds `count` heartbeats. */
  heartbeats(path: string, count: number): Promise<void>;
  /**
   * Waits until `/beat/:name` has sent three heartbeats, publishes `one` to channel `name` and
   * waits until `client` has it: by then it has read the heartbeats. Returns its id.
   */
  publishAfterHeartbeats(name: string, client: Receiver): Promise<string>;
  /**
   * Publishes `1` and `2` to channel `name` and waits until `client` has `2`; cuts every
   * connection (and answers the reconnect with `failNext`, if given, as a proxy would);
   * publishes `3` while the client is away and `4` once it is back, and waits until it has `4`.
   * Returns the id of `2`, the one to resume from.
   */
  publishAcrossDrop(name: string, client: Receiver, options?: { failNext?: number }): Promise<string>;
  /**
   * On `/lifetime/:name`: publishes `1` to channel `name` and waits until `client` has it;
   * once maxLifetime has ended the stream (no subscriber left), publishes `2` and waits until
   * the client has it. Returns the id of `1`, the one to resume from.
   */
  publishAcrossCleanEnd(name: string, client: Receiver): Promise<string>;
}

/**
 * Starts the app on `framework` behind the front, on 127.0.0.1 and a port the OS picks;
 * the server, its connections and its registry are closed when the test finishes.
 */
export async function startServer(framework: string, onFinished: OnFinished): Promise<ClientServer> {
  const app = apps[framework];
  if (!app) throw new Error(`no app for ${framework}`);
  // Hints short enough for a test, spread as in production.
  const registry = new ChannelRegistry({ closeRetry: { min: RETRY_MS, max: RETRY_MS + 50 } });
  const listener = app(registry);
  const requests: LoggedRequest[] = [];
  let failure: number | undefined;
  const sockets = new Set<Socket>();

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://front');
    const page = pages[url.pathname];
    if (page !== undefined) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
      return;
    }
    if (url.pathname.startsWith('/vendor/')) {
      serveFile(url.pathname, res).then(
        (served) => served || res.writeHead(404).end(),
        () => res.writeHead(500).end(),
      );
      return;
    }
    const header = req.headers['last-event-id'];
    const logged: LoggedRequest = {
      path: url.pathname,
      query: url.searchParams.get('lastEventId') ?? undefined,
      header: typeof header === 'string' ? header : undefined,
      at: Date.now(),
      body: '',
    };
    requests.push(logged);
    const writeHead = res.writeHead;
    res.writeHead = function (this: http.ServerResponse, ...args: Parameters<typeof writeHead>) {
      logged.status = args[0];
      return writeHead.apply(this, args);
    } as typeof writeHead;
    const decoder = new TextDecoder();
    const write = res.write;
    res.write = function (this: http.ServerResponse, chunk: unknown, ...rest: unknown[]) {
      if (chunk instanceof Uint8Array) logged.body += decoder.decode(chunk, { stream: true });
      else if (typeof chunk === 'string') logged.body += chunk;
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof write;
    res.on('close', () => {
      logged.status ??= res.statusCode;
      logged.endedAt = Date.now();
    });
    if (failure !== undefined) {
      const status = failure;
      failure = undefined;
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' }).end('Service Unavailable');
      return;
    }
    listener(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const listening = await listen(server);
  onFinished(async () => {
    await registry.close();
    await listening.close();
  });

  /** Publishes to channel `name` what `client` will have as `text`, and returns the id. */
  const publisher = (name: string, client: Receiver) => (text: string) =>
    front.publish(name, client.dataFor?.(text) ?? text);

  const front: ClientServer = {
    url: listening.url,
    registry,
    requests,
    requestsTo: (path) => requests.filter((request) => request.path === path),
    failNext: (status) => {
      failure = status;
    },
    drop: () => {
      for (const socket of sockets) socket.destroy();
    },
    publish: (name, data, event) =>
      event === undefined ? registry.channel(name).publish(data) : registry.channel(name).publish(data, { event }),
    heartbeats: async (path, count) => {
      await eventually(() => {
        const [first] = requests.filter((request) => request.path === path);
        return first && heartbeats(first.body) >= count ? true : undefined;
      });
    },
    subscribers: async (name, count, ms = 10_000) => {
      await until(() => (registry.channel(name).size === count ? true : undefined), ms);
    },
    publishAfterHeartbeats: async (name, client) => {
      await front.heartbeats(`/beat/${name}`, 3);
      const id = await publisher(name, client)('one');
      await client.has('one');
      return id;
    },
    publishAcrossDrop: async (name, client, { failNext } = {}) => {
      const publish = publisher(name, client);
      await front.subscribers(name, 1);
      await publish('1');
      const second = await publish('2');
      await client.has('2');
      if (failNext !== undefined) front.failNext(failNext);
      front.drop();
      await front.subscribers(name, 0);
      await publish('3');
      await front.subscribers(name, 1);
      await publish('4');
      await client.has('4');
      return second;
    },
    publishAcrossCleanEnd: async (name, client) => {
      const publish = publisher(name, client);
      await front.subscribers(name, 1);
      const first = await publish('1');
      await client.has('1');
      await front.subscribers(name, 0);
      await publish('2');
      await client.has('2');
      return first;
    },
  };
  return front;
}

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits until `check` resolves to something other than undefined, polling every 10 ms. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await sleep(10);
  }
}
