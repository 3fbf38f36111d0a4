// Every user callback that ssekit calls, failing, on every adapter: a real server on loopback
// per cell, hit over HTTP. Whatever fails, the request is answered (an error status before the
// stream opens, an end once it streams), the error goes to an error path, and nothing reaches
// `unhandledRejection` or `uncaughtException`, which kill a Node process by default. The run
// prints the matrix: callback × adapter → status (and end) → the error path that was told.
import http from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import {
  ChannelRegistry,
  ConnectionLimiter,
  createResponse,
  type SseStream,
  type SseStreamOptions,
} from '@ssekit/core';
import { createStream } from '@ssekit/core/node';
import { channel as expressChannel, sse as expressSse, sseErrors } from '@ssekit/express';
import { channel as honoChannel, sse as honoSse } from '@ssekit/hono';
import { channel as koaChannel, sse as koaSse } from '@ssekit/koa';
import express from 'express';
import express4 from 'express4';
import { Hono } from 'hono';
import Koa from 'koa';
import koa2 from 'koa2';
import { afterAll, describe, expect, it } from 'vitest';
import { listen, until } from '../packages/core/test/helpers.js';

/** Records, under `where`, an error that reached that error path. */
type Report = (where: string) => (error: unknown) => void;

interface RouteOptions extends SseStreamOptions {
  authorize?: () => boolean | Promise<boolean>;
  filter?: () => boolean;
}

/** One row of the matrix: a route with a callback that fails, and how the client uses it. */
interface Case {
  route: 'stream' | 'channel';
  options?: RouteOptions;
  /** The channel's name, or the function that names it. Default `'room'`. */
  name?: string | (() => string);
  /** What the app's handler does with the stream of a `stream` route. */
  handler?: (stream: SseStream) => void;
  headers?: Record<string, string>;
  /** Runs before the request; returns more headers for it. */
  prepare?: (registry: ChannelRegistry) => Promise<Record<string, string>>;
  /** The registry's own `onError` throws too (after it is recorded). */
  registryOnErrorThrows?: true;
  /** Runs once the response head has arrived. */
  opened?: (registry: ChannelRegistry) => Promise<void>;
  /** `send` throws to the handler (as documented), and so to the framework's error path. */
  throwsToHandler?: true;
  /** The client leaves after the first bytes: not a failure, nothing to report. */
  leaves?: boolean;
  /** What the client should get: an error status, or a stream that ends. */
  expect: 'error status' | 'stream ended' | 'client left';
}

const fail = (what: string) => () => {
  throw new Error(`${what} broke`);
};
const cors = { origin: (origin: string) => new URL(origin).hostname.endsWith('.example') };
// Reads a header the request does not have, as a key function written for signed-in users would.
const limiter = () =>
  new ConnectionLimiter<http.IncomingMessage>({ key: (req) => (req.headers['x-user'] as string).toLowerCase() });
const big = 'x'.repeat(20 * 1024);

const cases: Record<string, () => Case> = {
  'channel name': () => ({ route: 'channel', name: fail('name'), expect: 'error status' }),
  'authorize throws': () => ({ route: 'channel', options: { authorize: fail('authorize') }, expect: 'error status' }),
  'authorize rejects': () => ({
    route: 'channel',
    options: { authorize: async () => fail('authorize')() },
    expect: 'error status',
  }),
  'cors.origin': () => ({ route: 'stream', options: { cors }, headers: { origin: 'null' }, expect: 'error status' }),
  'cors.origin, async authorize': () => ({
    route: 'channel',
    options: { cors, authorize: async () => true },
    headers: { origin: 'null' },
    expect: 'error status',
  }),
  'limiter key': () => ({ route: 'stream', options: { limit: limiter() }, expect: 'error status' }),
  'limiter key, async authorize': () => ({
    route: 'channel',
    options: { limit: limiter(), authorize: async () => true },
    expect: 'error status',
  }),
  filter: () => ({
    route: 'channel',
    options: { filter: fail('filter') },
    async opened(registry) {
      await until(() => registry.channel('room').size || undefined, 2_000);
      await registry.channel('room').publish('hello');
    },
    expect: 'stream ended',
  }),
  'registry onError, in a replay': () => ({
    route: 'channel',
    options: { filter: fail('filter') },
    registryOnErrorThrows: true,
    async prepare(registry) {
      const missed = await registry.channel('room').publish('missed 1');
      await registry.channel('room').publish('missed 2');
      return { 'last-event-id': missed };
    },
    expect: 'stream ended',
  }),
  serializer: () => ({
    route: 'stream',
    options: { serializer: fail('serializer') },
    handler: (stream) => stream.send({ n: 1 }),
    throwsToHandler: true,
    expect: 'stream ended',
  }),
  onOverflow: () => ({
    route: 'stream',
    // Past the transport's 16 KiB, the second queued frame overflows.
    options: { onOverflow: fail('onOverflow'), maxBufferedBytes: 0, maxEventBytes: 32 * 1024 },
    handler: (stream) => {
      for (let i = 0; i < 20 && stream.send(big); i++);
    },
    expect: 'stream ended',
  }),
  'onClose listener': () => ({
    route: 'stream',
    handler: (stream) => {
      stream.onClose(fail('onClose'));
      stream.close();
    },
    expect: 'stream ended',
  }),
  'client leaves': () => ({ route: 'stream', handler: () => {}, leaves: true, expect: 'client left' }),
};

/** Serves a case's route; `undefined` when the adapter has no such route. */
type Adapter = (c: Case, registry: ChannelRegistry, report: Report, streams: SseStream[]) => http.Server | undefined;

const keep = (c: Case, streams: SseStream[]) => (stream: SseStream) => {
  streams.push(stream);
  c.handler?.(stream);
};

function expressAdapter(create: typeof express): Adapter {
  return (c, registry, report, streams) => {
    const app = create();
    const options = { ...c.options, onError: report('onError') };
    if (c.route === 'stream') app.get('/', expressSse(options), (_req, res) => keep(c, streams)(res.sse));
    else app.get('/', expressChannel(registry, c.name ?? 'room', options));
    app.use(sseErrors(report('sseErrors')));
    app.use((error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      report('next(err)')(error);
      res.status(500).end();
    });
    return http.createServer(app);
  };
}

// Koa's streams report to the app's 'error' event unless told otherwise: no `onError` here.
function koaAdapter(Create: typeof Koa): Adapter {
  return (c, registry, report, streams) => {
    const app = new Create();
    app.on('error', report('koa app error'));
    if (c.route === 'stream') {
      app.use(koaSse(c.options));
      app.use((ctx) => keep(c, streams)(ctx.sse));
    } else app.use(koaChannel(registry, c.name ?? 'room', c.options));
    return http.createServer(app.callback());
  };
}

const adapters: Record<string, Adapter> = {
  'node:http': (c, _registry, report, streams) => {
    if (c.route === 'channel') return undefined;
    const options = { ...c.options, onError: report('onError') };
    return http.createServer((req, res) => {
      const stream = createStream(req, res, options);
      // node:http has no error path of its own: an app catches what its handler throws.
      try {
        keep(c, streams)(stream);
      } catch (error) {
        report('app catch')(error);
        stream.close();
      }
    });
  },
  'express 5': expressAdapter(express),
  'express 4': expressAdapter(express4 as unknown as typeof express),
  'koa 3': koaAdapter(Koa),
  'koa 2': koaAdapter(koa2 as unknown as typeof Koa),
  hono: (c, registry, report, streams) => {
    const app = new Hono();
    app.onError((error, ctx) => {
      report('hono onError')(error);
      return ctx.body(null, 500);
    });
    const options = { ...c.options, onError: report('onError') };
    if (c.route === 'stream') app.get('/', honoSse(keep(c, streams), options));
    else app.get('/', honoChannel(registry, c.name ?? 'room', options));
    return createAdaptorServer({ fetch: app.fetch }) as http.Server;
  },
  'web createResponse': (c, _registry, report, streams) => {
    if (c.route === 'channel') return undefined;
    const options = { ...c.options, onError: report('onError') };
    return createAdaptorServer({
      fetch: (request: Request) => createResponse(request, keep(c, streams), options),
    }) as http.Server;
  },
};

interface Answer {
  status: number;
  body: string;
  end: 'ended' | 'cut' | 'left' | 'still open' | 'no answer';
}

/**
 * A GET that gives up after `ms`; `leaves` leaves at the first bytes. Raw rather than
 * @ssekit/testing: what it records is the HTTP outcome (status, error page, a clean end, a cut,
 * no answer at all) of responses that are mostly not event streams, not their events.
 */
function hit(
  url: string,
  c: Case,
  headers: Record<string, string>,
  registry: ChannelRegistry,
  ms = 1_500,
): Promise<Answer> {
  return new Promise((resolve) => {
    let status = 0;
    let body = '';
    const done = (end: Answer['end']) => {
      clearTimeout(timer);
      resolve({ status, body, end });
    };
    const req = http.get(url, { headers, agent: false }, (res) => {
      status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (c.leaves) {
          req.destroy();
          done('left');
        }
      });
      res.on('error', () => {}); // a cut shows as 'close' without 'end'
      res.on('close', () => done(res.complete ? 'ended' : 'cut'));
      c.opened?.(registry).catch(() => {});
    });
    req.on('error', () => done(status ? 'cut' : 'no answer'));
    const timer = setTimeout(() => {
      req.destroy();
      done(status ? 'still open' : 'no answer');
    }, ms);
  });
}

/** What reached the process-wide handlers whose default is to end the process, in order. */
const crashes: string[] = [];
const onRejection = (error: unknown) => crashes.push(`unhandledRejection: ${messageOf(error)}`);
const onException = (error: unknown) => crashes.push(`uncaughtException: ${messageOf(error)}`);
process.on('unhandledRejection', onRejection);
process.on('uncaughtException', onException);

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface Cell {
  answer: Answer;
  reported: string[];
  crashes: string[];
  streams: SseStream[];
}

async function run(c: Case, adapter: Adapter): Promise<Cell | undefined> {
  const reported: string[] = [];
  const report: Report = (where) => () => reported.push(where);
  const registry = new ChannelRegistry({
    onError: (error) => {
      report('registry onError')(error);
      if (c.registryOnErrorThrows) throw new Error('registry onError broke');
    },
  });
  const streams: SseStream[] = [];
  const server = adapter(c, registry, report, streams);
  if (!server) return undefined;
  const crashesBefore = crashes.length;
  const { url, close } = await listen(server);
  try {
    const answer = await hit(url, c, { ...c.headers, ...(await c.prepare?.(registry)) }, registry);
    // However the request went, no stream is left open on the server.
    await until(() => (streams.every((stream) => stream.closed) ? true : undefined), 2_000).catch(() => {});
    // Reports and rejections that follow the answer arrive within a few turns.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return { answer, reported, crashes: crashes.slice(crashesBefore), streams };
  } finally {
    await close();
    await registry.close();
  }
}

function show(cell: Cell | undefined): string {
  if (!cell) return 'n/a';
  const { status, body, end } = cell.answer;
  let text = end === 'no answer' ? 'no answer' : `${status}`;
  if (status === 200) text += ` ${end}`;
  else if (body) text += ` "${body.slice(0, 24)}"`;
  if (cell.reported.length) text += ` → ${[...new Set(cell.reported)].join(', ')}`;
  if (cell.crashes.length) text += ` CRASH(${cell.crashes.map((crash) => crash.split(':')[0]).join(', ')})`;
  return text;
}

const matrix = new Map<string, Map<string, string>>();

afterAll(() => {
  process.off('unhandledRejection', onRejection);
  process.off('uncaughtException', onException);
  const columns = Object.keys(adapters);
  const lines = [`| callback | ${columns.join(' | ')} |`, `|---|${columns.map(() => '---').join('|')}|`];
  for (const [row, cells] of matrix) lines.push(`| ${row} | ${columns.map((col) => cells.get(col)).join(' | ')} |`);
  console.log(lines.join('\n'));
});

describe.each(Object.keys(cases))('%s', (row) => {
  it.each(Object.keys(adapters))('on %s', async (column) => {
    const c = (cases[row] as () => Case)();
    const cell = await run(c, adapters[column] as Adapter);
    const cells = matrix.get(row) ?? new Map<string, string>();
    matrix.set(row, cells.set(column, show(cell)));
    if (!cell) return;
    expect(cell.crashes).toEqual([]);
    const { status, body, end } = cell.answer;
    if (c.expect === 'error status') {
      expect(status).toBe(500);
      // ssekit's own answer has no body; a framework's error path may write its page.
      if (cell.reported.includes('onError')) expect(body).toBe('');
    } else if (c.expect === 'stream ended') {
      expect(end).toBe('ended');
      // Koa sends nothing before its middleware chain returns: a handler that throws gets
      // Koa's 500 instead of a stream.
      expect(status).toBe(c.throwsToHandler && column.startsWith('koa') ? 500 : 200);
    } else {
      expect(end).toBe('left');
    }
    expect(cell.streams.filter((stream) => !stream.closed)).toHaveLength(0);
    // Each failure is told to exactly one error path; a client leaving, to none.
    expect(cell.reported).toHaveLength(c.expect === 'client left' ? 0 : 1);
  });
});

// Last: a crash that came late, between two cells, counts too.
it('left nothing unhandled in the process', () => {
  expect(crashes).toEqual([]);
});
