// One app instance of the chaos run, in a process of its own: Express, Koa or Hono on
// @hono/node-server (argv[2]), serving `channel()` routes of a ChannelRegistry over a
// RedisBroker. Every error the app can see is logged and counted: the framework's own error
// paths, the registry's `onError`, uncaught exceptions and rejections, and anything written
// to stderr by anyone (a library's console.error, a Node warning).
//
// Routes, on one port:
//   GET  /events/:channel      the event stream (clients reach it through a fault proxy)
//   POST /_chaos/publish       {channel, items: [{tag, pad}]} → [{id} | {error, code}]
//   GET  /_chaos/stats?gc=1    memory (after a GC when asked), errors, stream metrics
// The control routes are called directly, never through a proxy.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { ChannelRegistry, readMetrics, type SseStreamOptions } from '@ssekit/core';
import { channel as expressChannel, sseErrors } from '@ssekit/express';
import { channel as honoChannel } from '@ssekit/hono';
import { channel as koaChannel } from '@ssekit/koa';
import { RedisBroker } from '@ssekit/redis';
import express from 'express';
import { Hono } from 'hono';
import Koa from 'koa';

export type AppKind = 'express' | 'koa' | 'hono';

/** What the harness passes in `CHAOS_APP` (JSON). */
export interface AppConfig {
  redisUrl: string;
  history: number;
  retry: number;
  heartbeat: number;
  maxBufferedBytes: number;
  /**
   * More RedisBroker options, passed on as they are: the fault probes pass options (such as
   * `commandTimeout`) that the broker's types on this branch may not have yet.
   */
  broker?: Record<string, unknown>;
}

export interface PublishItem {
  /** `<channel>#<seq>`: what the clients check each event against. */
  tag: string;
  /** Bytes of padding after the tag. */
  pad: number;
}
export type PublishResult = { id: string } | { error: string; code?: string };

export interface LoggedError {
  source: string;
  /** Wall-clock time (Date.now()), to line up with the faults the harness injected. */
  at: number;
  /** The error's `code`, if it has one (e.g. `BROKER_UNAVAILABLE`, `ECONNRESET`). */
  code?: string;
  /** The error in full, for the first ones only. */
  text?: string;
}

export interface AppStats {
  kind: AppKind;
  pid: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  errors: number;
  /** Every error (up to 100,000), the first 50 with their text. */
  errorLog: LoggedError[];
  metrics: ReturnType<typeof readMetrics>;
  /** Streams cut for `BUFFER_OVERFLOW` (the `onOverflow` option saw them). */
  overflows: number;
  publishes: { ok: number; failed: number };
}

/** The data of a published event: the tag, the padding length, then the padding. */
export function eventData({ tag, pad }: PublishItem): string {
  return `${tag}:${pad}|${'x'.repeat(pad)}`;
}

const kind = process.argv[2] as AppKind;
const config = JSON.parse(process.env.CHAOS_APP ?? '{}') as AppConfig;
const errorLog: LoggedError[] = [];
let errors = 0;
let overflows = 0;
const publishes = { ok: 0, failed: 0 };

const writeStderr = process.stderr.write.bind(process.stderr) as (text: string) => boolean;
function record(source: string, text: string, code?: string): void {
  errors++;
  if (errorLog.length >= 100_000) return;
  const entry: LoggedError = { source, at: Date.now(), code };
  if (errorLog.length < 50) entry.text = text.slice(0, 2000);
  errorLog.push(entry);
}
function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : '';
    return `${error.stack ?? error.message}${code ? ` [code ${String(code)}]` : ''}${cause}`;
  }
  return String(error);
}
/** Every error path of the app ends here. */
function logError(source: string, error: unknown): void {
  const text = describe(error);
  const code = (error as { code?: unknown } | null)?.code;
  record(source, text, typeof code === 'string' ? code : undefined);
  writeStderr(`[chaos ${kind}] ${source}: ${text}\n`);
}
// Whatever else reaches stderr (a library's console.error, a Node warning) is an error too.
process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
  record('stderr', typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
  return (writeStderr as (...args: unknown[]) => boolean)(chunk, ...rest);
}) as typeof process.stderr.write;
process.on('uncaughtException', (error) => logError('uncaughtException', error));
process.on('unhandledRejection', (error) => logError('unhandledRejection', error));

const broker = new RedisBroker({ ...config.broker, url: config.redisUrl, history: { size: config.history } });
await broker.ready;
const registry = new ChannelRegistry({
  broker,
  closeRetry: { min: config.retry, max: config.retry * 4 },
  onError: (error, name) => logError(`registry onError (channel ${name})`, error),
});
const streamOptions: SseStreamOptions = {
  retry: config.retry,
  heartbeat: config.heartbeat,
  maxBufferedBytes: config.maxBufferedBytes,
  onOverflow: () => {
    overflows++;
    return 'close';
  },
};

async function publish(body: { channel: string; items: PublishItem[] }): Promise<PublishResult[]> {
  const target = registry.channel(body.channel);
  return Promise.all(
    body.items.map(async (item): Promise<PublishResult> => {
      try {
        const id = await target.publish(eventData(item));
        publishes.ok++;
        return { id };
      } catch (error) {
        publishes.failed++;
        return {
          error: error instanceof Error ? error.message : String(error),
          code: (error as { code?: string }).code,
        };
      }
    }),
  );
}

function stats(gc: boolean): AppStats {
  if (gc) {
    const collect = (globalThis as { gc?: () => void }).gc;
    collect?.();
    collect?.();
  }
  const memory = process.memoryUsage();
  return {
    kind,
    pid: process.pid,
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    heapTotal: memory.heapTotal,
    external: memory.external,
    arrayBuffers: memory.arrayBuffers,
    errors,
    errorLog,
    metrics: readMetrics(),
    overflows,
    publishes,
  };
}

function announce(port: number): void {
  process.stdout.write(`CHAOS-LISTENING ${port}\n`);
}

const channelOf = (path: string) => decodeURIComponent(path.slice('/events/'.length));
let close: () => void;

if (kind === 'express') {
  const app = express();
  app.get(
    '/events/:channel',
    expressChannel(registry, (req) => req.params.channel as string, streamOptions),
  );
  app.post('/_chaos/publish', express.json({ limit: '1mb' }), async (req, res) => {
    res.json(await publish(req.body));
  });
  app.get('/_chaos/stats', (req, res) => {
    res.json(stats(req.query.gc === '1'));
  });
  app.use(sseErrors((error) => logError('express sseErrors', error)));
  app.use((error: unknown, _req: IncomingMessage, res: ServerResponse, _next: (error?: unknown) => void) => {
    logError('express error middleware', error);
    if (!res.headersSent) res.writeHead(500).end();
    else res.destroy();
  });
  const server = app.listen(0, '127.0.0.1', () => announce((server.address() as AddressInfo).port));
  close = () => server.close();
} else if (kind === 'koa') {
  const app = new Koa();
  const events = koaChannel(registry, (ctx) => channelOf(ctx.path), streamOptions);
  app.on('error', (error) => logError('koa app error', error));
  app.use(async (ctx, next) => {
    if (ctx.method === 'GET' && ctx.path.startsWith('/events/')) {
      await events(ctx, next);
    } else if (ctx.method === 'POST' && ctx.path === '/_chaos/publish') {
      let text = '';
      for await (const chunk of ctx.req) text += chunk;
      ctx.body = await publish(JSON.parse(text));
    } else if (ctx.method === 'GET' && ctx.path === '/_chaos/stats') {
      ctx.body = stats(ctx.query.gc === '1');
    } else await next();
  });
  const server = app.listen(0, '127.0.0.1', () => announce((server.address() as AddressInfo).port));
  close = () => server.close();
} else if (kind === 'hono') {
  const app = new Hono();
  app.onError((error, c) => {
    logError('hono app.onError', error);
    return c.text('error', 500);
  });
  app.get(
    '/events/:channel',
    honoChannel(registry, (c) => c.req.param('channel') as string, {
      ...streamOptions,
      onError: (error) => logError('hono channel onError', error),
    }),
  );
  app.post('/_chaos/publish', async (c) => c.json(await publish(await c.req.json())));
  app.get('/_chaos/stats', (c) => c.json(stats(c.req.query('gc') === '1')));
  const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, (info) => announce(info.port));
  close = () => server.close();
} else {
  throw new Error(`unknown app kind "${kind}"`);
}

process.once('SIGTERM', async () => {
  await registry.close();
  close();
  process.exit(0);
});
