/**
 * The ssekit quick start: one `node:http` server, one page, one event stream.
 *
 *   GET  /        the page (page.html): it opens `new EventSource('/events')` and shows what arrives
 *   GET  /events  the stream: a `greeting`, then a `tick` every second with id 1, 2, 3…
 *   POST /drop    ends every open stream, to watch the browser reconnect and carry on
 *
 * Run it with `pnpm --filter @ssekit/example-quickstart start` at the repository root.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import type { SseStream } from '@ssekit/core';
import { createStream } from '@ssekit/core/node';

/** Event names and the type of their data: `stream.send` checks both. */
type Events = {
  greeting: string;
  tick: { n: number; time: string };
};

const page = readFileSync(new URL('./page.html', import.meta.url));

function openEvents(req: http.IncomingMessage, res: http.ServerResponse): SseStream<Events> {
  // `retry`: how long the browser waits before it reconnects, in ms (its own default is ~3 s).
  const stream = createStream<Events>(req, res, { retry: 1000 });

  // On reconnect the browser sends the last id it saw (the Last-Event-ID header): the count
  // goes on from there, so the state lives in the client and survives even a server restart.
  let n = Number.parseInt(stream.lastEventId ?? '', 10) || 0;
  stream.send(n ? `Welcome back! Carrying on after tick ${n}.` : 'Hello from ssekit!', { event: 'greeting' });

  const timer = setInterval(() => {
    n += 1;
    stream.send({ n, time: new Date().toISOString() }, { event: 'tick', id: n });
  }, 1000);
  // Runs once when the stream ends, whichever side ends it (at once if it already has).
  stream.onClose(() => clearInterval(timer));
  return stream;
}

export interface StartOptions {
  /** Default 3000; 0 lets the OS pick a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

/** Starts the demo server; `close` ends open streams too. */
export async function start({ port = 3000, host = '127.0.0.1' }: StartOptions = {}) {
  const streams = new Set<SseStream<Events>>();

  const server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url ?? '/', 'http://localhost');
    if (req.method === 'GET' && pathname === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
    } else if (req.method === 'GET' && pathname === '/events') {
      const stream = openEvents(req, res);
      streams.add(stream);
      stream.onClose(() => streams.delete(stream));
    } else if (req.method === 'POST' && pathname === '/drop') {
      for (const stream of streams) stream.close();
      res.writeHead(204).end();
    } else {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found\n');
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject).listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostname = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${hostname}:${address.port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Event streams never end by themselves: cut them so `close` does not wait forever.
        server.closeAllConnections();
      }),
  };
}

// `tsx src/server.ts` (what `pnpm start` runs) starts the server; importing this file does not.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000);
  try {
    const { url } = await start({ port, host: process.env.HOST ?? '127.0.0.1' });
    console.log(`ssekit demo: ${url}\nOpen it in a browser; Ctrl+C stops the server.`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    console.error(`Port ${port} is in use. Try another one: PORT=${port + 1} pnpm start`);
    process.exitCode = 1;
  }
}
