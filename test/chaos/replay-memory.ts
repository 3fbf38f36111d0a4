// What stalled replays cost a server (issue 16 §2): a channel with a long history of large
// events in Redis, raw sockets that resume from its oldest id and never read, and the app's
// memory (in a process of its own, so that the figures are the server's alone) before, while
// and after they stall. A replay must hold about what a live stream holds — its buffer bound,
// one page and one event — however long the history.
import net from 'node:net';
import { startRedis } from '../../packages/redis/test/redis-server.js';
import type { AppStats, PublishResult } from './app.js';
import { type RunningApp, startApp, statsOf, stopApp } from './harness.js';

export interface ReplayMemoryOptions {
  /** Events in the channel's history (and its history size). */
  events: number;
  /** Bytes of each event's data. */
  eventBytes: number;
  /** The numbers of stalled replays to measure, one after another. */
  stalled: number[];
  /** How long the stalled clients are held before the memory is read, ms. */
  holdMs: number;
  log?: (line: string) => void;
}

export interface ReplayMemoryFigure {
  stalled: number;
  /** Replays that started (the client got a 200 and its first bytes). */
  started: number;
  /** The largest RSS seen while they were held, less the baseline, bytes. */
  peakRssGrowth: number;
  /** After two GCs at the end of the hold, less the baseline, bytes. */
  rssGrowth: number;
  heapGrowth: number;
  externalGrowth: number;
}

export interface ReplayMemoryReport {
  historyBytes: number;
  baseline: { rss: number; heapUsed: number; external: number };
  figures: ReplayMemoryFigure[];
}

const CHANNEL = 'replay';
const MAX_BUFFERED_BYTES = 256 * 1024;

/** Publishes `events` events of `eventBytes` through the app; returns the first id. */
async function fill(app: RunningApp, events: number, eventBytes: number): Promise<string> {
  let first: string | undefined;
  for (let seq = 0; seq < events; seq += 10) {
    const items = Array.from({ length: Math.min(10, events - seq) }, (_, i) => ({
      tag: `${CHANNEL}#${seq + i}`,
      pad: eventBytes,
    }));
    const response = await fetch(`http://127.0.0.1:${app.port}/_chaos/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel: CHANNEL, items }),
    });
    const results = (await response.json()) as PublishResult[];
    for (const result of results) {
      if (!('id' in result)) throw new Error(`publish failed: ${result.error}`);
      first ??= result.id;
    }
  }
  if (!first) throw new Error('nothing published');
  return first;
}

/** A client that resumes from `lastEventId`, takes its first bytes, then reads nothing. */
function stalledClient(port: number, lastEventId: string): { socket: net.Socket; started: Promise<boolean> } {
  const socket = net.connect(port, '127.0.0.1');
  socket.write(
    `GET /events/${CHANNEL} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\nLast-Event-ID: ${lastEventId}\r\n\r\n`,
  );
  const started = new Promise<boolean>((resolve) => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause(); // from here on, only the kernel's buffers take anything
      resolve(chunk.toString('latin1').startsWith('HTTP/1.1 200'));
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
  return { socket, started };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function settledStats(app: RunningApp): Promise<AppStats> {
  const stats = await statsOf(app, true);
  if (!stats) throw new Error('the app did not answer for its stats');
  return stats;
}

export async function measureReplayMemory(options: ReplayMemoryOptions): Promise<ReplayMemoryReport> {
  const log = options.log ?? (() => {});
  const redis = await startRedis({ persist: false });
  let app: RunningApp | undefined;
  try {
    // Heartbeats far apart, so that no stalled client is cut while it is measured.
    app = await startApp(
      'express',
      {
        redisUrl: redis.url,
        history: options.events,
        retry: 1000,
        heartbeat: 60_000,
        maxBufferedBytes: MAX_BUFFERED_BYTES,
      },
      log,
    );
    const first = await fill(app, options.events, options.eventBytes);
    const historyBytes = options.events * options.eventBytes;
    log(`history: ${options.events} events of ${options.eventBytes} bytes (${(historyBytes / 1e6).toFixed(0)} MB)`);
    const base = await settledStats(app);
    const figures: ReplayMemoryFigure[] = [];
    for (const count of options.stalled) {
      const clients = Array.from({ length: count }, () => stalledClient((app as RunningApp).port, first));
      const started = (await Promise.all(clients.map((c) => c.started))).filter(Boolean).length;
      let peakRss = 0;
      for (const end = Date.now() + options.holdMs; Date.now() < end; ) {
        peakRss = Math.max(peakRss, (await statsOf(app, false))?.rss ?? 0);
        await sleep(200);
      }
      const held = await settledStats(app);
      const figure: ReplayMemoryFigure = {
        stalled: count,
        started,
        peakRssGrowth: Math.max(peakRss, held.rss) - base.rss,
        rssGrowth: held.rss - base.rss,
        heapGrowth: held.heapUsed - base.heapUsed,
        externalGrowth: held.external - base.external,
      };
      figures.push(figure);
      log(formatFigure(figure));
      for (const client of clients) client.socket.destroy();
      await sleep(500);
    }
    const baseline = { rss: base.rss, heapUsed: base.heapUsed, external: base.external };
    return { historyBytes, baseline, figures };
  } finally {
    if (app) await stopApp(app);
    await redis.stop();
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

export function formatFigure(f: ReplayMemoryFigure): string {
  return `${f.stalled} stalled replays (${f.started} started): RSS +${mb(f.rssGrowth)} (peak +${mb(f.peakRssGrowth)}), heap +${mb(f.heapGrowth)}, external +${mb(f.externalGrowth)}`;
}
