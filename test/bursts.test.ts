// A burst is not a slow client. Every sink on Node gets bursts of 10 kB to 8 MB, produced in
// one turn of the event loop, in events of 100 B to 2 MiB, sent to a client that reads at full
// speed: every event `send` accepted must arrive, in order, once, and every one it refused is
// a suffix of the burst (the stream then ended, so that the client resumes). Meanwhile a
// client that reads nothing is still cut off at its bound.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import {
  DEFAULT_MAX_BUFFERED_BYTES,
  DEFAULT_MAX_EVENT_BYTES,
  type SseError,
  type SseStream,
  type SseStreamOptions,
} from '@ssekit/core';
import { createStream } from '@ssekit/core/node';
import { sse as expressSse } from '@ssekit/express';
import { sse as honoSse } from '@ssekit/hono';
import { sse as koaSse } from '@ssekit/koa';
import { type OpenOptions, openEvents } from '@ssekit/testing';
import compression from 'compression';
import express from 'express';
import { Hono } from 'hono';
import Koa from 'koa';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aborted, listen, until } from '../packages/core/test/helpers.js';
import { tls } from './conformance/servers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Bursts (bytes of data in one turn) and event sizes (bytes of data per event). */
const BURSTS = [10_000, 100_000, 330_000, 1_000_000, 8_000_000];
const SIZES = [100, 1000, 64 * KiB, 2 * MiB];
const cases = BURSTS.flatMap((burst) => SIZES.filter((size) => size <= burst).map((size) => ({ burst, size })));

/** Per route: the defaults, larger events (as the app that sends 2 MiB events sets), a small bound for the stalled client. */
const ROUTE_OPTIONS: Record<string, SseStreamOptions> = {
  '/burst': { heartbeat: false },
  '/burst-large': { heartbeat: false, maxEventBytes: 4 * MiB },
  '/stalled': { maxBufferedBytes: 64 * KiB },
};
const STALLED_BOUND = 64 * KiB;

/** What the server saw of one stream. */
interface Seen {
  accepted: number[];
  refused: number[];
  /** Peak of `bufferedBytes` during the burst. */
  peak: number;
  stream: SseStream;
}

/** Runs the burst or the stalled producer that the request asks for. */
function handle(stream: SseStream, url: string, seen: Map<string, Seen>) {
  const { pathname, searchParams } = new URL(url, 'http://x');
  const record: Seen = { accepted: [], refused: [], peak: 0, stream };
  seen.set(searchParams.get('token') ?? pathname, record);
  if (pathname === '/stalled') {
    // A producer that never waits, one small burst per turn, bounded in bytes and time.
    const payload = 'x'.repeat(1000);
    const started = Date.now();
    let sent = 0;
    const produce = () => {
      for (let i = 0; i < 20 && stream.send(payload); i++) {
        sent++;
        record.peak = Math.max(record.peak, stream.bufferedBytes);
      }
      if (!stream.closed && sent < 50_000 && Date.now() - started < 15_000) setImmediate(produce);
    };
    produce();
    return;
  }
  const size = Number(searchParams.get('size'));
  const count = Number(searchParams.get('count'));
  const data = 'x'.repeat(size);
  // One turn of the event loop: the client has had no chance to read any of it.
  for (let id = 0; id < count; id++) {
    (stream.send(data, { id }) ? record.accepted : record.refused).push(id);
    record.peak = Math.max(record.peak, stream.bufferedBytes);
  }
  stream.close();
}

interface SinkKind {
  name: string;
  http2?: boolean;
  create(onStream: (stream: SseStream, url: string) => void): http.Server | http2.Http2SecureServer;
}

const optionsFor = (url: string | undefined) => ROUTE_OPTIONS[new URL(url ?? '/', 'http://x').pathname] ?? {};

const kinds: SinkKind[] = [
  {
    name: 'node:http, frames straight to the socket',
    create: (onStream) =>
      http.createServer((req, res) => onStream(createStream(req, res, optionsFor(req.url)), req.url ?? '')),
  },
  {
    name: 'express, res.write behind compression',
    create: (onStream) => {
      const app = express();
      app.use(compression());
      for (const [path, options] of Object.entries(ROUTE_OPTIONS)) {
        app.get(path, expressSse(options), (req, res) => onStream(res.sse, req.url));
      }
      return http.createServer(app);
    },
  },
  {
    name: 'node:http2',
    http2: true,
    create: (onStream) =>
      http2.createSecureServer(tls, (req, res) => onStream(createStream(req, res, optionsFor(req.url)), req.url)),
  },
  {
    name: 'koa, createStreamBody',
    create: (onStream) => {
      const app = new Koa();
      const routes = Object.fromEntries(
        Object.entries(ROUTE_OPTIONS).map(([path, options]) => [path, koaSse(options)]),
      );
      app.use((ctx, next) => (routes[ctx.path] ?? next)(ctx, next));
      app.use((ctx) => onStream(ctx.sse, ctx.url));
      return http.createServer(app.callback());
    },
  },
  {
    name: 'hono on @hono/node-server, createResponse',
    create: (onStream) => {
      const app = new Hono();
      for (const [path, options] of Object.entries(ROUTE_OPTIONS)) {
        app.get(
          path,
          honoSse((stream, c) => onStream(stream, c.req.url), options),
        );
      }
      return createAdaptorServer({ fetch: app.fetch }) as http.Server;
    },
  },
];

/**
 * Reads `path` at full speed to the end; resolves with the ids of the events, in order. Asks
 * for no compression, so that the compressing sink passes the frames through as they are written.
 */
async function readAll(url: string, path: string, fetch: OpenOptions['fetch']): Promise<number[]> {
  const events = await openEvents(`${url}${path}`, {
    fetch,
    headers: { 'accept-encoding': 'identity' },
    timeout: 20_000,
  });
  // The server ends a burst's stream once it has sent what it accepted.
  expect(await events.waitForEnd(20_000)).toBe(true);
  return events.received.map(({ id }) => Number(id));
}

/** A client that sends its request, then reads nothing. */
function stall(kind: SinkKind, url: string) {
  if (kind.http2) {
    const session = http2.connect(url, { ca: tls.cert });
    session.on('error', () => {});
    const req = session.request({ ':path': '/stalled' });
    req.pause();
    return () => session.destroy();
  }
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  socket.on('error', () => {});
  socket.pause();
  socket.write('GET /stalled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  return () => socket.destroy();
}

const rows: string[] = [];
afterAll(() => {
  console.log(`[bursts] delivered/accepted of events per sink and burst:\n${rows.join('\n')}`);
});

describe.each(kinds)('$name', (kind) => {
  const seen = new Map<string, Seen>();
  let served: Awaited<ReturnType<typeof listen>>;
  let stopStalled: () => void;
  // HTTP/2 is read with undici's fetch and an agent that speaks it and takes the test certificate.
  let agent: Agent | undefined;
  let fetch: OpenOptions['fetch'];

  beforeAll(async () => {
    if (kind.http2) {
      const dispatcher = new Agent({ allowH2: true, connect: { ca: tls.cert } });
      agent = dispatcher;
      fetch = (url, init) => undiciFetch(url, { ...init, dispatcher });
    }
    served = await listen(
      kind.create((stream, url) => handle(stream, url, seen)),
      kind.http2 ? 'https' : 'http',
    );
    stopStalled = stall(kind, served.url);
  });
  afterAll(async () => {
    stopStalled?.();
    await agent?.close();
    await served?.close();
  });

  it.each(cases)('delivers what it accepted of $burst bytes in events of $size bytes', async ({ burst, size }) => {
    const count = Math.max(1, Math.round(burst / size));
    const route = size > DEFAULT_MAX_EVENT_BYTES / 2 ? '/burst-large' : '/burst';
    const token = `${burst}-${size}`;
    const received = await readAll(served.url, `${route}?token=${token}&size=${size}&count=${count}`, fetch);
    const server = seen.get(token);
    if (!server) throw new Error('the server saw no request');
    // Every accepted event arrived, in order, once; what was refused is the tail of the burst.
    expect(received).toEqual(server.accepted);
    expect(server.refused).toEqual(Array.from({ length: server.refused.length }, (_, i) => server.accepted.length + i));
    // The stream held no more than the documented bound for a burst.
    const maxEventBytes = ROUTE_OPTIONS[route]?.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
    expect(server.peak).toBeLessThanOrEqual(DEFAULT_MAX_BUFFERED_BYTES + maxEventBytes);
    // A burst within the bound of one turn is taken whole.
    if (burst <= DEFAULT_MAX_BUFFERED_BYTES + maxEventBytes - size) expect(server.refused).toEqual([]);
    rows.push(`  ${kind.name} | ${burst} B in ${size} B events | ${received.length}/${server.accepted.length}`);
  });

  it('still cuts a client that reads nothing at its bound', async () => {
    const stalled = await until(() => seen.get('/stalled'), 5_000);
    await aborted(stalled.stream.signal, 20_000);
    expect((stalled.stream.signal.reason as SseError).code).toBe('BUFFER_OVERFLOW');
    expect(stalled.peak).toBeLessThanOrEqual(STALLED_BOUND);
  });
});
