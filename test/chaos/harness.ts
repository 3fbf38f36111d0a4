// The chaos run: three app instances (Express, Koa, Hono on @hono/node-server), each in a
// process of its own, on one real redis-server through fault proxies; `eventsource` clients
// through more fault proxies; publishers on a few channels for a bounded time. At the end,
// every client must hold exactly the events of its channel that Redis stored (every
// acknowledged one among them), in order, once; no app may have logged an error; and the
// server may cut only clients that took nothing (DESIGN §4.9).
//
// `runChaos` returns the figures and the failures; `formatReport` prints them as tables.
// test/chaos/chaos.test.ts runs a short version, test/chaos/run.ts (`pnpm chaos`) a long one.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrokerMessage } from '@ssekit/core';
import { RedisBroker } from '@ssekit/redis';
import { startRedis } from '../../packages/redis/test/redis-server.js';
import type { AppConfig, AppKind, AppStats, LoggedError, PublishItem, PublishResult } from './app.js';
import { ChaosClient, type ConnectionLog } from './client.js';
import {
  CLIENT_FAULTS,
  type ClientConnectionRecord,
  type ClientFault,
  createClientProxy,
  createRedisProxy,
  type FaultEntry,
  type FaultProxy,
  REDIS_FAULTS,
} from './proxy.js';
import { createRandom } from './random.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const APPS: readonly AppKind[] = ['express', 'koa', 'hono'];
type RedisProxy = FaultProxy & { log: FaultEntry[] };
export const BULK_CHANNEL = 'bulk';

export interface ChaosOptions {
  seed: number;
  /** Clients in all, spread over the three instances. */
  clients: number;
  /** Of which on the bulk channel (large events, bursts of megabytes: the ones a stall or a slow read overflows). */
  bulkClients: number;
  /** Ordinary channels (small events). */
  channels: number;
  /** How long the publishers publish, in ms. */
  publishMs: number;
  /** Events per second on each ordinary channel, and the padding of each. */
  rate: number;
  eventBytes: number;
  /** Mean ms between bursts on an ordinary channel, and events per burst. */
  burstEveryMs: number;
  burstSize: number;
  /** Events per second on the bulk channel, their padding, and its bursts. */
  bulkRate: number;
  bulkBytes: number;
  bulkBurstEveryMs: number;
  bulkBurstSize: number;
  /** Most ms the clients get to catch up once publishing stopped. */
  catchUpMs: number;
  /** Mean ms between faults on one client connection, and on one Redis connection. */
  clientGapMs: number;
  redisGapMs: number;
  /** Clients opened per second at the start. */
  connectPerSecond: number;
  /** Events of history per channel in Redis: enough for the whole run. */
  history: number;
  /** Stream options of the apps. */
  retry: number;
  heartbeat: number;
  maxBufferedBytes: number;
  /** Progress lines; default none. */
  log?: (line: string) => void;
  /** Where the full report goes as JSON; default none. */
  reportFile?: string;
}

/** The short run of the test suite: a few seconds, 60 clients, every fault kind. */
export const SHORT: Omit<ChaosOptions, 'seed'> = {
  clients: 60,
  bulkClients: 6,
  channels: 3,
  publishMs: 5_000,
  rate: 20,
  eventBytes: 64,
  burstEveryMs: 1_500,
  burstSize: 30,
  bulkRate: 40,
  bulkBytes: 16_384,
  bulkBurstEveryMs: 2_000,
  bulkBurstSize: 300,
  catchUpMs: 15_000,
  clientGapMs: 1_200,
  redisGapMs: 1_500,
  connectPerSecond: 600,
  history: 20_000,
  retry: 250,
  heartbeat: 1_000,
  maxBufferedBytes: 64 * 1024,
};

/** The long run of `pnpm chaos`: 1,000 clients, 90 s of publishing. */
export const LONG: Omit<ChaosOptions, 'seed'> = {
  ...SHORT,
  clients: 1_000,
  // The bulk channel is what it takes for a server to see a stalled or slow client at all
  // (a loopback socket buffers about 4 MB), and the heaviest load on this process: a few.
  bulkClients: 6,
  channels: 4,
  publishMs: 90_000,
  rate: 10,
  burstEveryMs: 5_000,
  burstSize: 50,
  bulkRate: 10,
  bulkBurstEveryMs: 10_000,
  catchUpMs: 90_000,
  clientGapMs: 4_000,
  redisGapMs: 4_000,
  connectPerSecond: 200,
  history: 20_000,
};

// ---------------------------------------------------------------------------------------
// Figures

export interface PublishFigures {
  channel: string;
  attempted: number;
  acknowledged: number;
  rejected: number;
  /** Rejected, yet Redis stored the event: the reply was lost to a cut. */
  rejectedButStored: number;
  /** The request itself failed or timed out: Redis may or may not have the event. */
  unanswered: number;
  /** Acknowledged ids that Redis does not have (must be 0). */
  acknowledgedButMissing: number;
  /** Events of the run in Redis: what every client of the channel must end with. */
  stored: number;
}

export interface ClientResult {
  index: number;
  app: AppKind;
  channel: string;
  expected: number;
  received: number;
  exact: boolean;
  missing: string[];
  duplicates: string[];
  unexpected: string[];
  outOfOrder: number;
  /** Events whose data did not match the stored event of their id. */
  corrupt: number;
  gaps: number;
  reconnects: number;
  lastId: string | undefined;
  failed?: string;
}

export type Ending =
  | 'client left at the end'
  | 'proxy cut (fin)'
  | 'proxy cut (rst)'
  | 'server ended the stream cleanly'
  | 'server cut a stalled client'
  | 'server cut a client that read nothing for a while'
  | 'server cut a slow reader it saw take nothing'
  | 'server cut a reading client'
  | 'no answer: proxy cut first'
  | 'no answer: server closed'
  | 'no answer: other'
  | 'cut short: cause unknown';

/** A connection of a client that kept reading, which the server cut: DESIGN §4.9 says no. */
export interface ReadingClientCut {
  connection: string;
  app: AppKind;
  channel: string;
  /** What the proxy was doing: forwarding normally, with a delay, or slowly. */
  mode: string;
  serverEnd: string;
  idleMs: number;
  /** The longest time in the last 6 s that the proxy took nothing from the server. */
  quietMs: number;
  eventsOnConnection: number;
  lastIdOnConnection: string | undefined;
  at: number;
  faults: string;
  /** How the client saw it end, and the last bytes it got. */
  clientEnd: string;
  tail: string;
}

export interface AppFigures {
  kind: AppKind;
  before: AppStats | undefined;
  peak: { rss: number; heapUsed: number };
  after: AppStats | undefined;
  /** Errors logged, but for the Redis outage reports (must be 0). */
  errors: number;
  errorLog: AppStats['errorLog'];
  /** `BROKER_UNAVAILABLE` reports of the registry right after an injected Redis fault. */
  redisOutageReports: number;
  /** Client connections of this app that the proxy reset, to hold against `ECONNRESET` errors. */
  proxyResets: number;
  /** Raw stderr the harness saw from the process (also counted by the app itself). */
  stderrLines: number;
  exit?: string;
}

export interface ChaosReport {
  seed: number;
  options: Omit<ChaosOptions, 'log'>;
  wallMs: number;
  publish: PublishFigures[];
  clients: ClientResult[];
  endings: Record<string, Record<Ending, number>>;
  readingClientCuts: ReadingClientCut[];
  faults: { client: Record<string, number>; redis: Record<string, number> };
  apps: AppFigures[];
  openStreamsAfter: Record<string, number>;
  caughtUpMs: number | undefined;
  /** Times this process (clients and proxies) was late by 250 ms or more, the longest, and in all. */
  harnessLoop: { blocks: number; longestMs: number; blockedMs: number };
  failures: string[];
}

// ---------------------------------------------------------------------------------------
// Processes

export interface RunningApp {
  kind: AppKind;
  child: ChildProcess;
  port: number;
  stderr: string[];
  exit?: string;
}

export function startApp(kind: AppKind, config: AppConfig, log: (line: string) => void): Promise<RunningApp> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', path.join(root, 'test/chaos/app.ts'), kind],
    {
      cwd: root,
      env: { ...process.env, CHAOS_APP: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const app: RunningApp = { kind, child, port: 0, stderr: [] };
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    for (const line of text.split('\n')) {
      if (line === '') continue;
      app.stderr.push(line);
      if (app.stderr.length <= 20) log(`  [${kind} stderr] ${line.slice(0, 300)}`);
    }
  });
  // However this process ends (a test runner's timeout included), the app goes with it.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', (code, signal) => {
    app.exit = signal ? `signal ${signal}` : `code ${code}`;
    process.off('exit', killOnExit);
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const match = /CHAOS-LISTENING (\d+)/.exec(out);
      if (match && app.port === 0) {
        app.port = Number(match[1]);
        resolve(app);
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`${kind} exited (${code}) before listening: ${app.stderr.join('\n')}`)),
    );
  });
}

export async function stopApp(app: RunningApp): Promise<void> {
  if (app.child.exitCode !== null || app.child.signalCode !== null) return;
  app.child.kill('SIGTERM');
  const timer = setTimeout(() => app.child.kill('SIGKILL'), 5_000);
  await once(app.child, 'exit');
  clearTimeout(timer);
}

export async function statsOf(app: RunningApp, gc: boolean): Promise<AppStats | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${app.port}/_chaos/stats${gc ? '?gc=1' : ''}`, {
      signal: AbortSignal.timeout(10_000),
    });
    return (await response.json()) as AppStats;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------
// The run

interface PublishRecord {
  channel: string;
  seq: number;
  result: 'acknowledged' | 'rejected' | 'unanswered';
  id?: string;
  error?: string;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => {});
  const started = performance.now();
  const clock = () => Math.round(performance.now() - started);
  const { seed } = options;
  const failures: string[] = [];
  const channels = [...Array.from({ length: options.channels }, (_, i) => `c${i + 1}`), BULK_CHANNEL];

  // Redis itself is never restarted (the faults are on the connections to it), and the bulk
  // channel writes tens of megabytes, which an fsync per write would turn into disk load.
  const redis = await startRedis({ persist: false });
  const truthBroker = new RedisBroker({ url: redis.url, history: { size: options.history } });
  const redisProxies: RedisProxy[] = [];
  const clientProxies: FaultProxy[] = [];
  const apps: RunningApp[] = [];
  const clients: ChaosClient[] = [];
  let sampler: NodeJS.Timeout | undefined;
  // This process runs the clients and the proxies: when it is too busy to read (or the
  // machine too busy to run it), every client looks stalled to the servers. Measured, so
  // that the figures say so.
  const loop = { blocks: 0, longestMs: 0, blockedMs: 0 };
  let lastTick = performance.now();
  const monitor = setInterval(() => {
    const now = performance.now();
    const late = now - lastTick - 100;
    lastTick = now;
    if (late < 250) return;
    loop.blocks++;
    loop.longestMs = Math.max(loop.longestMs, Math.round(late));
    loop.blockedMs += Math.round(late);
  }, 100);
  try {
    await truthBroker.ready;
    for (const kind of APPS) {
      redisProxies.push(
        await createRedisProxy({ name: kind, target: redis.port, seed, clock, meanGapMs: options.redisGapMs }),
      );
    }
    const appConfig = (i: number): AppConfig => ({
      redisUrl: `redis://127.0.0.1:${(redisProxies[i] as FaultProxy).port}`,
      history: options.history,
      retry: options.retry,
      heartbeat: options.heartbeat,
      maxBufferedBytes: options.maxBufferedBytes,
    });
    const starting = await Promise.allSettled(APPS.map((kind, i) => startApp(kind, appConfig(i), log)));
    for (const result of starting) if (result.status === 'fulfilled') apps.push(result.value);
    for (const result of starting) if (result.status === 'rejected') throw result.reason;
    log(`apps listening: ${apps.map((app) => `${app.kind} :${app.port}`).join(', ')}; redis :${redis.port}`);

    // Each channel starts with an epoch event; clients resume after it, so every event of
    // the run is theirs whenever they first connect.
    const epochs = new Map<string, string>();
    for (const name of channels) epochs.set(name, await truthBroker.publish(name, { event: undefined, data: 'epoch' }));

    const figures = new Map<AppKind, AppFigures>();
    for (const app of apps) {
      figures.set(app.kind, {
        kind: app.kind,
        before: await statsOf(app, true),
        peak: { rss: 0, heapUsed: 0 },
        after: undefined,
        errors: 0,
        errorLog: [],
        redisOutageReports: 0,
        proxyResets: 0,
        stderrLines: 0,
      });
    }
    sampler = setInterval(async () => {
      for (const app of apps) {
        const stats = await statsOf(app, false);
        const peak = figures.get(app.kind)?.peak;
        if (!stats || !peak) continue;
        peak.rss = Math.max(peak.rss, stats.rss);
        peak.heapUsed = Math.max(peak.heapUsed, stats.heapUsed);
      }
    }, 1_000);

    // Client proxies: the first connection of clients 0–9 opens with each fault kind in turn,
    // so that even a short run sees every kind.
    for (const [i, kind] of APPS.entries()) {
      clientProxies.push(
        await createClientProxy({
          name: kind,
          target: (apps[i] as RunningApp).port,
          seed,
          clock,
          meanGapMs: options.clientGapMs,
          firstFault: (id) => {
            const [client = '', attempt = ''] = id.split('.');
            return attempt === '1' && Number(client) < 10
              ? CLIENT_FAULTS[Number(client) % CLIENT_FAULTS.length]
              : undefined;
          },
        }),
      );
    }
    for (const proxy of [...redisProxies, ...clientProxies]) proxy.arm();

    // Clients: the bulk ones first (so that the first clients, whose first faults are chosen,
    // cover the bulk channel too), then each on an ordinary channel drawn from the seed; the
    // instances in turn.
    const plan = createRandom(seed, 'clients');
    const connectEvery = 1000 / options.connectPerSecond;
    const opening = (async () => {
      for (let index = 0; index < options.clients; index++) {
        const appIndex = index % APPS.length;
        const channel =
          index < options.bulkClients ? BULK_CHANNEL : (channels[plan.int(0, options.channels - 1)] as string);
        clients.push(
          new ChaosClient({
            index,
            channel,
            app: APPS[appIndex] as AppKind,
            port: (clientProxies[appIndex] as FaultProxy).port,
            epoch: epochs.get(channel) as string,
            clock,
          }),
        );
        if (index % 10 === 9) await sleep(connectEvery * 10);
      }
    })();

    // Publishers: each event is one publish through an instance in turn (its broker, its
    // Redis proxy); a burst is many publishes in one request, which the instance runs at once.
    const records: PublishRecord[] = [];
    const inFlight = new Set<Promise<void>>();
    let nextApp = 0;
    const send = (channel: string, items: PublishItem[], seqs: number[]) => {
      const app = apps[nextApp++ % apps.length] as RunningApp;
      const batch = seqs.map((seq): PublishRecord => ({ channel, seq, result: 'unanswered' }));
      records.push(...batch);
      const request = (async () => {
        try {
          const response = await fetch(`http://127.0.0.1:${app.port}/_chaos/publish`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ channel, items }),
            signal: AbortSignal.timeout(30_000),
          });
          const results = (await response.json()) as PublishResult[];
          for (const [i, result] of results.entries()) {
            const record = batch[i] as PublishRecord;
            if ('id' in result) {
              record.result = 'acknowledged';
              record.id = result.id;
            } else {
              record.result = 'rejected';
              record.error = `${result.code ?? ''} ${result.error}`.trim();
            }
          }
        } catch (error) {
          for (const record of batch) record.error = String(error);
        }
      })();
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    };
    const publishFor = async (channel: string, rate: number, pad: number, burstEveryMs: number, burstSize: number) => {
      const random = createRandom(seed, `publish/${channel}`);
      const endAt = clock() + options.publishMs;
      let seq = 0;
      let due = clock();
      let nextBurst = clock() + random.exponential(burstEveryMs);
      while (clock() < endAt) {
        const count = clock() >= nextBurst ? burstSize : 1;
        if (count > 1) nextBurst = clock() + random.exponential(burstEveryMs);
        const seqs = Array.from({ length: count }, () => ++seq);
        send(
          channel,
          seqs.map((n) => ({ tag: `${channel}#${n}`, pad })),
          seqs,
        );
        due += 1000 / rate;
        await sleep(Math.max(0, due - clock()));
      }
    };
    log(`publishing for ${options.publishMs} ms on ${channels.join(', ')} (seed ${seed})`);
    const publishStart = clock();
    await Promise.all(
      channels.map((channel) =>
        channel === BULK_CHANNEL
          ? publishFor(channel, options.bulkRate, options.bulkBytes, options.bulkBurstEveryMs, options.bulkBurstSize)
          : publishFor(channel, options.rate, options.eventBytes, options.burstEveryMs, options.burstSize),
      ),
    );
    await opening;
    log(`published for ${clock() - publishStart} ms; calming the proxies`);
    for (const proxy of [...redisProxies, ...clientProxies]) proxy.calm();
    // Publishes wait only on a stalled Redis connection, which calm() released.
    const settleBy = clock() + 10_000;
    while (inFlight.size > 0 && clock() < settleBy) await sleep(50);

    // What Redis holds after each epoch is what every client of the channel must end with.
    const truth = new Map<string, BrokerMessage[]>();
    for (const name of channels) {
      const replay = await truthBroker.replay(name, epochs.get(name) as string);
      if (replay.gap) failures.push(`channel ${name}: Redis no longer has its epoch (${replay.gap}); raise history`);
      const messages: BrokerMessage[] = [];
      for await (const page of replay.pages) messages.push(...page);
      truth.set(name, replay.gap ? [] : messages);
    }
    const lastOf = new Map([...truth].map(([name, messages]) => [name, messages[messages.length - 1]?.id]));

    // Catch-up: bounded; every client that has not given up should reach its channel's last event.
    const catchUpStart = clock();
    let caughtUpMs: number | undefined;
    while (clock() - catchUpStart < options.catchUpMs) {
      if (clients.every((client) => client.failed || client.lastId === lastOf.get(client.channel))) {
        caughtUpMs = clock() - catchUpStart;
        break;
      }
      await sleep(100);
    }
    log(
      caughtUpMs === undefined
        ? `not all clients caught up within ${options.catchUpMs} ms`
        : `caught up in ${caughtUpMs} ms`,
    );
    for (const client of clients) client.close();

    // Every stream should end once its client left (DESIGN §4.5).
    const openStreamsAfter: Record<string, number> = {};
    const closeBy = clock() + 10_000;
    for (;;) {
      const stats = await Promise.all(apps.map((app) => statsOf(app, false)));
      for (const [i, app] of apps.entries()) openStreamsAfter[app.kind] = stats[i]?.metrics.openStreams ?? -1;
      if (Object.values(openStreamsAfter).every((open) => open === 0) || clock() > closeBy) break;
      await sleep(200);
    }
    clearInterval(sampler);
    sampler = undefined;
    for (const app of apps) {
      const figure = figures.get(app.kind) as AppFigures;
      figure.after = await statsOf(app, true);
    }

    const report = evaluate({
      options,
      started,
      channels,
      records,
      truth,
      clients,
      clientProxies,
      redisProxies,
      apps,
      figures,
      openStreamsAfter,
      caughtUpMs,
      failures,
      loop,
    });
    if (options.reportFile) {
      mkdirSync(path.dirname(options.reportFile), { recursive: true });
      const detail = {
        ...report,
        // Every connection, as the client and its proxy saw it.
        connections: clients.map((client) => ({
          client: client.index,
          app: client.app,
          channel: client.channel,
          connections: client.connections.map((log) => ({
            ...log,
            ending: classify(
              log,
              clientProxies[APPS.indexOf(client.app as AppKind)]?.connections.get(log.id),
              4 * options.heartbeat,
            ),
            proxy: clientProxies[APPS.indexOf(client.app as AppKind)]?.connections.get(log.id),
          })),
        })),
        redisFaults: Object.fromEntries(redisProxies.map((proxy) => [proxy.name, proxy.log])),
      };
      writeFileSync(options.reportFile, JSON.stringify(detail, null, 2));
    }
    return report;
  } finally {
    clearInterval(monitor);
    clearInterval(sampler);
    for (const client of clients) client.close();
    await Promise.all(apps.map(stopApp));
    await Promise.all([...clientProxies, ...redisProxies].map((proxy) => proxy.close()));
    await truthBroker.close();
    await redis.stop();
  }
}

// ---------------------------------------------------------------------------------------
// Checks

interface EvaluateInput {
  options: ChaosOptions;
  started: number;
  channels: string[];
  records: PublishRecord[];
  truth: Map<string, BrokerMessage[]>;
  clients: ChaosClient[];
  clientProxies: FaultProxy[];
  redisProxies: RedisProxy[];
  apps: RunningApp[];
  figures: Map<AppKind, AppFigures>;
  openStreamsAfter: Record<string, number>;
  caughtUpMs: number | undefined;
  failures: string[];
  loop: ChaosReport['harnessLoop'];
}

function tagOf(data: string): string {
  return data.slice(0, data.indexOf(':'));
}

function emptyEndings(): Record<Ending, number> {
  return {
    'client left at the end': 0,
    'proxy cut (fin)': 0,
    'proxy cut (rst)': 0,
    'server ended the stream cleanly': 0,
    'server cut a stalled client': 0,
    'server cut a client that read nothing for a while': 0,
    'server cut a slow reader it saw take nothing': 0,
    'server cut a reading client': 0,
    'no answer: proxy cut first': 0,
    'no answer: server closed': 0,
    'no answer: other': 0,
    'cut short: cause unknown': 0,
  };
}

/** A stall that ended this recently still explains a cut: the proxy sees the server's end only once it reads again. */
const STALL_GRACE_MS = 1_500;
/**
 * A client whose proxy took no bytes for this long (a heartbeat period and a half: longer
 * than any quiet spell of a live stream) took nothing, whatever the reason: this process
 * was too busy to read, say. The server may cut it; it is counted apart from the stalls.
 */
const QUIET_MS = 1_500;
/**
 * Whether a body that ended cleanly ended on a frame boundary. ssekit ends a stream after
 * whole frames, possibly followed by lone comment or `retry:` lines (a heartbeat, the retry
 * hint of an end), which need no blank line; a body that completes after anything else (e.g.
 * the `Error: …` text that @hono/node-server writes when the body errors) was cut by the
 * server, not ended.
 */
const endsOnFrame = (log: ConnectionLog) => {
  if (log.tail === undefined || log.tail.endsWith('\n\n')) return true;
  const sinceFrame = log.tail.slice(log.tail.lastIndexOf('\n\n') + 1);
  return sinceFrame.endsWith('\n') && sinceFrame.split('\n').every((line) => /^(|:.*|retry: \d+)$/.test(line));
};

/**
 * A client that reads a trickle through the kernel's socket buffers (megabytes on loopback)
 * frees no room for the server to write into for seconds: the server sees it take nothing.
 * A slow read that lasted the app's whole stall period (four heartbeat periods), with the
 * server's cut during it or just after, is such a client, counted apart from the readers.
 */
function slowReaderSeenAsStalled(end: NonNullable<ClientConnectionRecord['serverEnd']>, stallMs: number): boolean {
  const slow = end.slowRead;
  return slow !== undefined && slow.lastedMs >= stallMs && slow.sinceMs < STALL_GRACE_MS;
}

function classify(log: ConnectionLog, record: ClientConnectionRecord | undefined, stallMs: number): Ending {
  if (log.end === 'closed-by-client' || log.end === undefined) return 'client left at the end';
  if (log.end === 'complete' && endsOnFrame(log)) return 'server ended the stream cleanly';
  if (record?.cut) return record.cut.how === 'fin' ? 'proxy cut (fin)' : 'proxy cut (rst)';
  if (log.end === 'no-response') return record?.serverEnd ? 'no answer: server closed' : 'no answer: other';
  const end = record?.serverEnd;
  if (!end) return 'cut short: cause unknown';
  if (end.mode === 'stall' || (end.sinceStallMs !== undefined && end.sinceStallMs < STALL_GRACE_MS)) {
    return 'server cut a stalled client';
  }
  if (end.quietMs >= QUIET_MS) return 'server cut a client that read nothing for a while';
  if (slowReaderSeenAsStalled(end, stallMs)) return 'server cut a slow reader it saw take nothing';
  return 'server cut a reading client';
}

function evaluate(input: EvaluateInput): ChaosReport {
  const { options, channels, records, truth, clients, failures } = input;

  // Publishing: acknowledged ids must be in Redis; rejected ones may be (a reply lost to a cut).
  const publish: PublishFigures[] = channels.map((channel) => {
    const stored = truth.get(channel) ?? [];
    const storedIds = new Set(stored.map((message) => message.id));
    const storedTags = new Set(stored.map((message) => tagOf(message.data)));
    const mine = records.filter((record) => record.channel === channel);
    const acknowledged = mine.filter((record) => record.result === 'acknowledged');
    const rejected = mine.filter((record) => record.result === 'rejected');
    const figure: PublishFigures = {
      channel,
      attempted: mine.length,
      acknowledged: acknowledged.length,
      rejected: rejected.length,
      rejectedButStored: rejected.filter((record) => storedTags.has(`${channel}#${record.seq}`)).length,
      unanswered: mine.filter((record) => record.result === 'unanswered').length,
      acknowledgedButMissing: acknowledged.filter((record) => !storedIds.has(record.id as string)).length,
      stored: stored.length,
    };
    if (figure.acknowledgedButMissing > 0) {
      failures.push(`channel ${channel}: ${figure.acknowledgedButMissing} acknowledged events are not in Redis`);
    }
    if (figure.acknowledged === 0) failures.push(`channel ${channel}: no publish was acknowledged`);
    return figure;
  });

  // Every client: exactly the stored events of its channel, in order, once.
  const results: ClientResult[] = clients.map((client) => {
    const expected = truth.get(client.channel) ?? [];
    const position = new Map(expected.map((message, i) => [message.id, i]));
    const seqOf = new Map(expected.map((message) => [message.id, Number(tagOf(message.data).split('#')[1])]));
    const seen = new Set<string>();
    const duplicates: string[] = [];
    const unexpected: string[] = [];
    let outOfOrder = 0;
    let corrupt = client.corrupt.length;
    let last = -1;
    for (const { id, seq } of client.received) {
      if (seen.has(id)) duplicates.push(id);
      seen.add(id);
      const at = position.get(id);
      if (at === undefined) {
        unexpected.push(id);
        continue;
      }
      if (at < last) outOfOrder++;
      last = Math.max(last, at);
      if (seqOf.get(id) !== seq) corrupt++;
    }
    const missing = expected.filter((message) => !seen.has(message.id)).map((message) => message.id);
    const exact =
      !client.failed &&
      client.received.length === expected.length &&
      missing.length === 0 &&
      duplicates.length === 0 &&
      unexpected.length === 0 &&
      outOfOrder === 0 &&
      corrupt === 0;
    return {
      index: client.index,
      app: client.app as AppKind,
      channel: client.channel,
      expected: expected.length,
      received: client.received.length,
      exact,
      missing,
      duplicates,
      unexpected,
      outOfOrder,
      corrupt,
      gaps: client.gaps.length,
      reconnects: client.reconnects,
      lastId: client.lastId,
      failed: client.failed,
    };
  });
  const inexact = results.filter((result) => !result.exact);
  if (inexact.length > 0) {
    failures.push(`${inexact.length} of ${results.length} clients did not end with exactly their channel's events`);
    for (const result of inexact.slice(0, 10)) failures.push(`  ${describeClient(result, clients, input)}`);
  }
  const gaps = results.reduce((sum, result) => sum + result.gaps, 0);
  if (gaps > 0) failures.push(`${gaps} ssekit-gap events, although history covers the run`);

  // How every connection ended, as the client and the proxy saw it.
  const endings: Record<string, Record<Ending, number>> = {};
  const readingClientCuts: ReadingClientCut[] = [];
  for (const client of clients) {
    const proxy = input.clientProxies[APPS.indexOf(client.app as AppKind)] as FaultProxy;
    const kindKey = `${client.app}/${client.channel === BULK_CHANNEL ? 'bulk' : 'small'}`;
    endings[kindKey] ??= emptyEndings();
    for (const log of client.connections) {
      const record = proxy.connections.get(log.id);
      const ending = classify(log, record, 4 * input.options.heartbeat);
      (endings[kindKey] as Record<Ending, number>)[ending]++;
      if (ending === 'server cut a reading client' && record?.serverEnd) {
        const end = record.serverEnd;
        readingClientCuts.push({
          connection: log.id,
          app: client.app as AppKind,
          channel: client.channel,
          mode: end.mode,
          serverEnd: `${end.how}${end.code ? ` ${end.code}` : ''}`,
          idleMs: end.idleMs,
          quietMs: end.quietMs,
          eventsOnConnection: log.events,
          lastIdOnConnection: log.lastId,
          at: end.at,
          faults: record.faults.map((fault) => `${fault.kind}@${fault.at}${fault.ms ? `+${fault.ms}` : ''}`).join(' '),
          clientEnd: `${log.end}${log.error ? ` (${log.error})` : ''}`,
          tail: JSON.stringify((log.tail ?? '').slice(-60)),
        });
      }
    }
  }
  if (readingClientCuts.length > 0) {
    failures.push(
      `${readingClientCuts.length} connections of clients that kept reading were cut by the server (DESIGN §4.9)`,
    );
    for (const cut of readingClientCuts.slice(0, 5)) {
      failures.push(
        `  ${cut.connection} (${cut.app}, ${cut.channel}): proxy ${cut.mode}, quiet ${cut.quietMs} ms, server ${cut.serverEnd}, ` +
          `client saw ${cut.clientEnd} after ${cut.eventsOnConnection} events (last ${cut.lastIdOnConnection ?? '-'}), last bytes ${cut.tail}`,
      );
    }
  }
  const unknown = Object.values(endings).reduce((sum, counts) => sum + counts['cut short: cause unknown'], 0);
  if (unknown > 0) failures.push(`${unknown} connections were cut short with no cause the proxy saw`);

  // The apps: no error logged, nothing left open, still running. One kind of report is
  // apart: the registry's onError for a replay the broker could not give (BROKER_UNAVAILABLE)
  // right after a Redis connection of that app was cut or stalled. The docs make that an
  // error report by design, and the client comes back; it is counted, not failed.
  const apps: AppFigures[] = input.apps.map((app) => {
    const figure = input.figures.get(app.kind) as AppFigures;
    const redisFaults = (input.redisProxies[APPS.indexOf(app.kind)] as RedisProxy).log;
    const log = figure.after?.errorLog ?? [];
    const explained = (entry: LoggedError) =>
      entry.code === 'BROKER_UNAVAILABLE' &&
      entry.source.startsWith('registry onError') &&
      redisFaults.some((fault) => fault.wall !== undefined && fault.wall <= entry.at && entry.at - fault.wall <= 6_000);
    figure.redisOutageReports = log.filter(explained).length;
    figure.errors = figure.after ? figure.after.errors - figure.redisOutageReports : app.stderr.length;
    figure.errorLog = log.filter((entry) => !explained(entry));
    // For the diagnosis: how many client connections of this app the proxy reset.
    figure.proxyResets = (input.clientProxies[APPS.indexOf(app.kind)] as FaultProxy).counts.faults['cut-rst'] ?? 0;
    figure.stderrLines = app.stderr.length;
    figure.exit = app.exit;
    if (figure.errors > 0) {
      const sources = new Map<string, number>();
      for (const entry of figure.errorLog) {
        const key = `${entry.source}${entry.code ? ` [${entry.code}]` : ''}`;
        sources.set(key, (sources.get(key) ?? 0) + 1);
      }
      failures.push(
        `${app.kind}: ${figure.errors} errors logged: ${[...sources].map(([key, n]) => `${key} ×${n}`).join(', ')}`,
      );
    }
    if (!figure.after)
      failures.push(`${app.kind}: did not answer at the end${app.exit ? ` (exited, ${app.exit})` : ''}`);
    return figure;
  });
  for (const [kind, open] of Object.entries(input.openStreamsAfter)) {
    if (open !== 0) failures.push(`${kind}: ${open} streams still open after every client left`);
  }
  if (input.caughtUpMs === undefined)
    failures.push(`clients had not all caught up ${options.catchUpMs} ms after publishing stopped`);

  const faults = {
    client: sumCounts(input.clientProxies, CLIENT_FAULTS),
    redis: sumCounts(input.redisProxies, REDIS_FAULTS),
  };
  for (const kind of CLIENT_FAULTS)
    if (!faults.client[kind]) failures.push(`no client fault of kind ${kind} was injected`);
  for (const kind of REDIS_FAULTS)
    if (!faults.redis[kind]) failures.push(`no Redis fault of kind ${kind} was injected`);

  const { log: _log, ...shown } = options;
  return {
    seed: options.seed,
    options: shown,
    wallMs: Math.round(performance.now() - input.started),
    publish,
    clients: results,
    endings,
    readingClientCuts,
    faults,
    apps,
    openStreamsAfter: input.openStreamsAfter,
    caughtUpMs: input.caughtUpMs,
    harnessLoop: input.loop,
    failures,
  };
}

function sumCounts(proxies: FaultProxy[], kinds: readonly string[]): Record<string, number> {
  const sum: Record<string, number> = Object.fromEntries(kinds.map((kind) => [kind, 0]));
  sum.connections = 0;
  for (const proxy of proxies) {
    for (const kind of kinds) sum[kind] = (sum[kind] ?? 0) + (proxy.counts.faults[kind] ?? 0);
    sum.connections += proxy.counts.connections;
  }
  return sum;
}

/** One line that says what a client lacked, and how its connections ended. */
function describeClient(result: ClientResult, clients: ChaosClient[], input: EvaluateInput): string {
  const client = clients[result.index] as ChaosClient;
  const proxy = input.clientProxies[APPS.indexOf(result.app)] as FaultProxy;
  const parts = [
    `client ${result.index} (${result.app}, ${result.channel}): ${result.received}/${result.expected} events`,
    result.failed ? `gave up: ${result.failed}` : '',
    result.missing.length ? `missing ${result.missing.length} [${shorten(result.missing)}]` : '',
    result.duplicates.length ? `duplicates ${result.duplicates.length} [${shorten(result.duplicates)}]` : '',
    result.unexpected.length ? `unexpected ${result.unexpected.length} [${shorten(result.unexpected)}]` : '',
    result.outOfOrder ? `out of order ${result.outOfOrder}` : '',
    result.corrupt ? `corrupt ${result.corrupt}` : '',
    `last id ${result.lastId ?? '-'}`,
  ];
  const recent = client.connections.slice(-3).map((log) => {
    const record = proxy.connections.get(log.id);
    const end = record?.serverEnd;
    return (
      `#${log.attempt} from ${log.lastEventId ?? 'epoch'}: ${log.status ?? '-'} ${log.events} events ` +
      `${log.firstId ?? ''}..${log.lastId ?? ''} ended ${log.end ?? 'open'}${log.error ? ` (${log.error})` : ''}` +
      `${record?.cut ? `, proxy cut ${record.cut.how}` : ''}` +
      `${end && log.end !== 'closed-by-client' ? `, server ${end.how}${end.code ? ` ${end.code}` : ''} while ${end.mode}` : ''}` +
      ` [${classify(log, record, 4 * input.options.heartbeat)}]`
    );
  });
  return `${parts.filter(Boolean).join('; ')}; connections: ${recent.join(' | ')}`;
}

function shorten(ids: string[]): string {
  return ids.length <= 4 ? ids.join(', ') : `${ids.slice(0, 3).join(', ')}, …, ${ids[ids.length - 1]}`;
}

// ---------------------------------------------------------------------------------------
// Printing

const mb = (bytes: number | undefined) => (bytes === undefined ? '-' : `${(bytes / 1024 / 1024).toFixed(1)}`);

export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.slice(1).map(line)].join('\n');
}

export function formatReport(report: ChaosReport): string {
  const out: string[] = [];
  const o = report.options;
  out.push(
    `chaos run, seed ${report.seed} (replay: CHAOS_SEED=${report.seed}): ${o.clients} clients (${o.bulkClients} bulk), ` +
      `${o.channels} channels + bulk, ${o.publishMs / 1000} s of publishing, ${(report.wallMs / 1000).toFixed(1)} s wall`,
  );
  const { blocks, longestMs, blockedMs } = report.harnessLoop;
  out.push(
    `caught up ${report.caughtUpMs === undefined ? 'not within the bound' : `in ${(report.caughtUpMs / 1000).toFixed(1)} s`}; ` +
      `the harness process (clients and proxies) was late ≥ 250 ms ${blocks} times, at most ${longestMs} ms, ${(blockedMs / 1000).toFixed(1)} s in all`,
  );
  out.push('\nEvents published');
  out.push(
    table(
      [
        'channel',
        'attempted',
        'acknowledged',
        'rejected',
        'rejected but stored',
        'unanswered',
        'acked not stored',
        'stored',
      ],
      report.publish.map((p) => [
        p.channel,
        p.attempted,
        p.acknowledged,
        p.rejected,
        p.rejectedButStored,
        p.unanswered,
        p.acknowledgedButMissing,
        p.stored,
      ]),
    ),
  );

  out.push('\nClients: received against what Redis stored (every acknowledged event, plus any rejected but stored)');
  const kinds = new Map<string, ClientResult[]>();
  for (const result of report.clients) {
    const key = `${result.app}/${result.channel === BULK_CHANNEL ? 'bulk' : 'small'}`;
    kinds.set(key, [...(kinds.get(key) ?? []), result]);
  }
  out.push(
    table(
      [
        'instance/channels',
        'clients',
        'exact',
        'events received',
        'events expected',
        'missing',
        'dup',
        'extra',
        'gaps',
        'reconnects',
      ],
      [...kinds, ['total', report.clients] as const].map(([key, results]) => {
        const sum = (f: (r: ClientResult) => number) => results.reduce((total, r) => total + f(r), 0);
        return [
          key,
          results.length,
          results.filter((r) => r.exact).length,
          sum((r) => r.received),
          sum((r) => r.expected),
          sum((r) => r.missing.length),
          sum((r) => r.duplicates.length),
          sum((r) => r.unexpected.length),
          sum((r) => r.gaps),
          sum((r) => r.reconnects),
        ];
      }),
    ),
  );

  out.push('\nHow connections ended');
  const endingNames = Object.keys(Object.values(report.endings)[0] ?? {}) as Ending[];
  const endingKeys = [...Object.keys(report.endings)].sort();
  out.push(
    table(
      ['ending', ...endingKeys],
      endingNames
        .filter((name) => endingKeys.some((key) => report.endings[key]?.[name]))
        .map((name) => [name, ...endingKeys.map((key) => report.endings[key]?.[name] ?? 0)]),
    ),
  );

  out.push('\nFaults injected');
  out.push(
    table(
      ['where', 'connections', ...CLIENT_FAULTS],
      [
        [
          'clients ↔ apps',
          report.faults.client.connections ?? 0,
          ...CLIENT_FAULTS.map((k) => report.faults.client[k] ?? 0),
        ],
        [
          'apps ↔ Redis',
          report.faults.redis.connections ?? 0,
          ...CLIENT_FAULTS.map((k) =>
            (REDIS_FAULTS as readonly string[]).includes(k) ? (report.faults.redis[k] ?? 0) : '',
          ),
        ],
      ],
    ),
  );

  out.push('\nApps (MiB; before and after after a GC; errors must be 0)');
  out.push(
    table(
      [
        'app',
        'rss before',
        'rss peak',
        'rss after',
        'heap before',
        'heap peak',
        'heap after',
        'streams opened',
        'resumes',
        'overflow cuts',
        'stall cuts',
        'open after',
        'Redis outage reports',
        'errors',
      ],
      report.apps.map((app) => {
        const metrics = app.after?.metrics;
        return [
          app.kind,
          mb(app.before?.rss),
          mb(app.peak.rss),
          mb(app.after?.rss),
          mb(app.before?.heapUsed),
          mb(app.peak.heapUsed),
          mb(app.after?.heapUsed),
          metrics?.streamsOpened ?? '-',
          metrics?.resumes ?? '-',
          app.after?.overflows ?? '-',
          metrics?.stallCloses ?? '-',
          report.openStreamsAfter[app.kind] ?? '-',
          app.redisOutageReports,
          app.errors,
        ];
      }),
    ),
  );

  const errors = report.apps.flatMap((app) => app.errorLog.map((entry) => ({ app: app.kind, ...entry })));
  if (errors.length > 0) {
    out.push('\nErrors the apps logged, by app, source and code (with the first text of each)');
    const groups = new Map<string, typeof errors>();
    for (const error of errors) {
      const key = `${error.app} ${error.source}${error.code ? ` [${error.code}]` : ''}`;
      groups.set(key, [...(groups.get(key) ?? []), error]);
    }
    for (const [key, group] of groups) {
      const text = group.find((error) => error.text)?.text ?? '';
      out.push(`- ${key} ×${group.length}: ${text.split('\n').slice(0, 3).join(' ⏎ ').slice(0, 300)}`);
    }
    // What to hold them against: resets the proxy made, cuts the app made.
    for (const app of report.apps) {
      const disconnects = app.errorLog.filter((error) => error.code === 'ECONNRESET' || error.code === 'EPIPE').length;
      if (disconnects > 0) {
        out.push(
          `  ${app.kind}: ${disconnects} ECONNRESET/EPIPE errors; the proxy reset ${app.proxyResets} client connections of it`,
        );
      }
      const overflowReports = app.errorLog.filter((error) => error.source === 'stderr').length;
      if (overflowReports > 0) {
        out.push(
          `  ${app.kind}: ${overflowReports} reports on stderr; the app cut ${app.after ? app.after.metrics.overflowCloses + app.after.metrics.stallCloses : '-'} slow clients (${app.after?.metrics.overflowCloses ?? '-'} for overflow)`,
        );
      }
    }
  }
  if (report.readingClientCuts.length > 0) {
    out.push('\nConnections of reading clients that the server cut (first 10)');
    out.push(
      table(
        [
          'connection',
          'app',
          'channel',
          'proxy mode',
          'server end',
          'client saw',
          'quiet ms',
          'events',
          'last id',
          'at ms',
          'faults on it',
          'last bytes',
        ],
        report.readingClientCuts
          .slice(0, 10)
          .map((cut) => [
            cut.connection,
            cut.app,
            cut.channel,
            cut.mode,
            cut.serverEnd,
            cut.clientEnd,
            cut.quietMs,
            cut.eventsOnConnection,
            cut.lastIdOnConnection ?? '-',
            cut.at,
            cut.faults,
            cut.tail,
          ]),
      ),
    );
    const byKey = new Map<string, number>();
    for (const cut of report.readingClientCuts) {
      const key = `${cut.app} ${cut.channel === BULK_CHANNEL ? 'bulk' : 'small'} while ${cut.mode}`;
      byKey.set(key, (byKey.get(key) ?? 0) + 1);
    }
    out.push(`by instance, channel and proxy mode: ${[...byKey].map(([key, n]) => `${key}: ${n}`).join('; ')}`);
  }
  out.push(
    report.failures.length === 0
      ? '\nPASS: no failures'
      : `\nFAIL:\n${report.failures.map((f) => `- ${f}`).join('\n')}`,
  );
  return out.join('\n');
}

export type { ClientFault };
