// A client that leaves, however it leaves, is how an event stream ends: never an error in the
// app's log. Each adapter streams events without pause while real sockets leave mid-stream:
// with a reset (RST), by closing with bytes unread (which the kernel turns into a reset), by
// half-closing (FIN), and as the eventsource and fetch clients do.
import http from 'node:http';
import net from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import type { SseError, SseStream } from '@ssekit/core';
import { createStream } from '@ssekit/core/node';
import { sse as expressSse, sseErrors } from '@ssekit/express';
import { sse as honoSse } from '@ssekit/hono';
import { sse as koaSse } from '@ssekit/koa';
import { openEvents } from '@ssekit/testing';
import compression from 'compression';
import { EventSource } from 'eventsource';
import express from 'express';
import { Hono } from 'hono';
import Koa from 'koa';
import koa2 from 'koa2';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { aborted, afterThisTest, listen, until } from '../packages/core/test/helpers.js';

/** Every error an app would log: its framework's error paths, and the console. */
interface Logged {
  errors: unknown[];
}

/** Streams 1 kB events every 2 ms until the client leaves, so bytes are always in flight. */
function flood(stream: SseStream, streams: SseStream[]) {
  streams.push(stream);
  const payload = 'x'.repeat(1000);
  const timer = setInterval(() => {
    for (let i = 0; i < 4; i++) stream.send(payload);
  }, 2);
  stream.onClose(() => clearInterval(timer));
}

type App = (streams: SseStream[], logged: Logged) => http.Server;

const apps: Record<string, App> = {
  'node:http': (streams) => http.createServer((req, res) => flood(createStream(req, res), streams)),
  'express 5 behind compression': (streams, logged) => {
    const app = express();
    app.use(compression());
    app.get('/events', expressSse(), (_req, res) => flood(res.sse, streams));
    app.use(sseErrors((error) => logged.errors.push(error)));
    app.use((error: unknown, _req: express.Request, _res: express.Response, _next: express.NextFunction) => {
      logged.errors.push(error);
    });
    return http.createServer(app);
  },
  ...Object.fromEntries(
    (
      [
        ['koa 3', Koa],
        ['koa 2', koa2 as unknown as typeof Koa],
      ] as const
    ).map(([name, Create]) => [
      name,
      ((streams, logged) => {
        const app = new Create();
        app.on('error', (error) => logged.errors.push(error));
        app.use(koaSse());
        app.use((ctx) => flood(ctx.sse, streams));
        return http.createServer(app.callback());
      }) satisfies App,
    ]),
  ),
  'hono (node-server)': (streams, logged) => {
    const app = new Hono();
    app.onError((error, c) => {
      logged.errors.push(error);
      return c.text('failed', 500);
    });
    app.get(
      '/events',
      honoSse((stream) => flood(stream, streams), { onError: (error) => logged.errors.push(error) }),
    );
    return createAdaptorServer({ fetch: app.fetch }) as http.Server;
  },
};

/** A raw client: sends the request, reads the head and a first event, then `leave`s. */
async function rawClient(port: number, leave: (socket: net.Socket) => void) {
  const socket = net.connect(port, '127.0.0.1');
  afterThisTest(() => socket.destroy());
  socket.on('error', () => {});
  let received = '';
  socket.on('data', (chunk: Buffer) => {
    received += chunk.toString('latin1');
  });
  socket.write('GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await until(() => (received.includes('data: x') ? true : undefined));
  leave(socket);
}

const clients: Record<string, (url: string, port: number) => Promise<void>> = {
  'resets the connection (RST)': (_, port) => rawClient(port, (socket) => socket.resetAndDestroy()),
  'closes with bytes unread': (_, port) =>
    rawClient(port, (socket) => {
      // Unread bytes in its receive buffer make the kernel answer the close with a reset.
      socket.pause();
      setTimeout(() => socket.destroy(), 50);
    }),
  'half-closes (FIN) and reads on': (_, port) => rawClient(port, (socket) => socket.end()),
  'is the eventsource client, closed': async (url) => {
    const source = new EventSource(`${url}/events`);
    afterThisTest(() => source.close());
    await new Promise((resolve) => source.addEventListener('message', resolve, { once: true }));
    source.close();
  },
  // @ssekit/testing's reader is eventsource-parser over fetch; close() aborts the fetch.
  'is eventsource-parser over fetch, aborted': async (url) => {
    const events = await openEvents(`${url}/events`);
    await events.next();
    events.close();
  },
};

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(Object.entries(apps))('%s', (_, createApp) => {
  it.each(Object.entries(clients))('logs no error when a client %s mid-stream', async (__, leave) => {
    const logged: Logged = { errors: [] };
    const consoleError = vi.spyOn(console, 'error');
    const streams: SseStream[] = [];
    const served = await listen(createApp(streams, logged));
    afterThisTest(served.close);

    await leave(served.url, served.port);
    const stream = await until(() => streams[0]);
    await aborted(stream.signal, 3_000);
    expect((stream.signal.reason as SseError).code).toBe('CLIENT_GONE');
    // Errors the connection reports come a moment later, if at all.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(logged.errors).toEqual([]);
    expect(consoleError).not.toHaveBeenCalled();
  });
});

describe('an app error on an open Koa stream', () => {
  it('still reaches app.on("error")', async () => {
    const app = new Koa();
    app.silent = true;
    const errors: unknown[] = [];
    app.on('error', (error) => errors.push(error));
    app.use(koaSse());
    app.use(() => {
      throw new Error('the app failed');
    });
    const served = await listen(http.createServer(app.callback()));
    afterThisTest(served.close);
    const response = await fetch(`${served.url}/events`);
    expect(response.status).toBe(500);
    await until(() => (errors.length > 0 ? true : undefined));
    expect(errors).toEqual([expect.objectContaining({ message: 'the app failed' })]);
  });
});
