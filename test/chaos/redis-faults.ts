// Redis fault probes (issue 16 §4, §6): what clients see when Redis itself fails, not the
// connections to it. Each scenario runs a real redis-server (no persistence), app instances of
// app.ts in processes of their own, each through a Redis proxy (proxy.ts, never armed: only
// its blackhole is used), `eventsource` clients on every instance, and a publisher that
// records every publish: acknowledged (with its id), rejected (with its code) or unanswered.
// One fault mid-run, then the clients catch up, then a raw read of what Redis holds.
//
// Per client, what must hold whatever Redis did: every acknowledged event is received, or a
// gap (`ssekit-gap`) covers it; nothing is received twice; an acknowledged event still in
// Redis after the client's resume point was sent. Per run: no id acknowledged for two
// payloads; every publish settles (acknowledged, or rejected with `BROKER_UNAVAILABLE`)
// within a bound. `runFaultScenario` returns the figures and the failures; `formatFaultReport`
// prints them. redis-faults.test.ts runs short versions, `pnpm chaos -- --run faults` long ones.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RedisBroker, type RedisBrokerOptions } from '@ssekit/redis';
import { type RedisServer, startRedis } from '../../packages/redis/test/redis-server.js';
import type { AppKind, PublishItem, PublishResult } from './app.js';
import { ChaosClient } from './client.js';
import { type RunningApp, startApp, stopApp, table } from './harness.js';
import { createRedisProxy, type RedisFaultProxy } from './proxy.js';

export const SCENARIOS = ['flushall', 'eviction', 'restart', 'pause', 'blackhole'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** What the probes ask of the broker: the options they pass it, and the bounds they hold it to. */
export interface Expected {
  /**
   * Passed to every RedisBroker as they are, loosely typed: `commandTimeout` (a command
   * unanswered for this long rejects with `BROKER_UNAVAILABLE`; default 3000 ms) and
   * `allowEviction` land on another branch.
   */
  brokerOptions: Record<string, unknown>;
  /** Added in the eviction scenario: without it, the broker must refuse an evicting Redis. */
  evictionOptions: Record<string, unknown>;
  /** What that refusal's message must say: how to opt in. */
  evictionRefusal: RegExp;
  /** Every publish is acknowledged or rejected with `BROKER_UNAVAILABLE` within this (ms). */
  publishSettleMs: number;
  /** An instance whose Redis went silent ends its streams with a retry hint within this (ms). */
  noticeMs: number;
}

/** The suite's: a short command timeout, so that the scenarios take seconds. */
export const EXPECTED: Expected = {
  brokerOptions: { commandTimeout: 500 },
  evictionOptions: { allowEviction: true },
  evictionRefusal: /allowEviction/,
  // The timeout, plus an HTTP round trip on a busy two-core machine.
  publishSettleMs: 500 + 500,
  // A blocking read waits up to 5 s (the broker's BLOCK_MS) before it looks around, then the
  // timeout applies to it, then some slack.
  noticeMs: 5_000 + 500 + 1_000,
};

/** The broker's defaults: what an app gets without tuning. */
export const EXPECTED_DEFAULTS: Expected = {
  ...EXPECTED,
  brokerOptions: {},
  publishSettleMs: 3_000 + 1_000,
  noticeMs: 5_000 + 3_000 + 1_000,
};

export interface FaultOptions {
  expected: Expected;
  apps: AppKind[];
  channels: number;
  /** Clients on each channel of each app. */
  clientsPerApp: number;
  /**
   * Requests per second on each channel, each through the next app, with `burst` publishes
   * each (sent at once, so several land in one millisecond: what it takes for a stream
   * recreated after a loss to hand out an id again), and their padding.
   */
  rate: number;
  burst: number;
  eventBytes: number;
  /** Padding in the eviction scenario: enough to fill `maxmemory` within `evictionMs`. */
  evictionEventBytes: number;
  /** How long to publish before the fault and after it, and the most the clients get to catch up. */
  beforeMs: number;
  afterMs: number;
  catchUpMs: number;
  /** How long the eviction scenario publishes into a Redis of 2 MB. */
  evictionMs: number;
  restartDownMs: number;
  pauseMs: number;
  /** How long the blackhole lasts: past `expected.noticeMs`, so that a late notice shows. */
  blackholeMs: number;
  /** When the publisher stops waiting for an answer, and counts the publish unanswered. */
  publishGiveUpMs: number;
  history: number;
  retry: number;
  heartbeat: number;
}

/** The suite's: two instances, eight clients, a few seconds per scenario. */
export const SHORT_FAULTS: FaultOptions = {
  expected: EXPECTED,
  apps: ['express', 'hono'],
  channels: 2,
  clientsPerApp: 2,
  rate: 20,
  burst: 3,
  eventBytes: 64,
  evictionEventBytes: 16 * 1024,
  beforeMs: 500,
  afterMs: 500,
  catchUpMs: 5_000,
  evictionMs: 2_500,
  restartDownMs: 300,
  pauseMs: 5_000,
  blackholeMs: EXPECTED.noticeMs + 500,
  publishGiveUpMs: 10_000,
  history: 20_000,
  retry: 250,
  heartbeat: 1_000,
};

/** `pnpm chaos -- --run faults`: three instances, 45 clients, the broker's default timeout. */
export const LONG_FAULTS: FaultOptions = {
  ...SHORT_FAULTS,
  expected: EXPECTED_DEFAULTS,
  apps: ['express', 'koa', 'hono'],
  channels: 3,
  clientsPerApp: 5,
  rate: 20,
  beforeMs: 5_000,
  afterMs: 5_000,
  catchUpMs: 30_000,
  evictionMs: 10_000,
  restartDownMs: 2_000,
  blackholeMs: EXPECTED_DEFAULTS.noticeMs + 3_000,
  publishGiveUpMs: 30_000,
};

export interface ClientRow {
  client: number;
  app: AppKind;
  channel: string;
  /** Publishes acknowledged on its channel. */
  acknowledged: number;
  received: number;
  /** The reason of each `ssekit-gap`. */
  gaps: string[];
  /** Events whose id it had already received (the same event again, or an id reused). */
  duplicates: number;
  /** Acknowledged, in Redis after the point it last resumed from, and never received. */
  inRedisNotSent: number;
  /** Acknowledged, never received, and no gap covering it. */
  lostQuietly: number;
  reconnects: number;
  failed?: string;
}

export interface FaultReport {
  scenario: Scenario;
  rows: ClientRow[];
  publishes: {
    attempted: number;
    acknowledged: number;
    /** Rejections by code. */
    rejected: Record<string, number>;
    unanswered: number;
    maxSettleMs: number;
    /** Publishes that took longer than `expected.publishSettleMs`, unanswered ones included. */
    overBound: number;
  };
  /** Blackhole: ms until the last of the instance's streams ended; null if one never did. */
  noticeMs?: number | null;
  notes: string[];
  failures: string[];
  wallMs: number;
}

interface PublishRecord {
  channel: string;
  /** `<channel>#<seq>`: names the payload. */
  tag: string;
  seq: number;
  settleMs?: number;
  id?: string;
  code?: string;
}
type Acknowledged = PublishRecord & { id: string };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const run = promisify(execFile);

/** One command through redis-cli, which speaks for none of the apps: the probe's own view. */
async function redisCli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(port), ...args], { maxBuffer: 1024 ** 3 });
  // redis-cli reports a Redis error on stdout and exits 0.
  if (/^(\(error\)|error:|ERR )/.test(stdout)) throw new Error(`redis-cli ${args.join(' ')}: ${stdout.trim()}`);
  return stdout;
}

/** Stream ids `<ms>-<seq>` in stream order. */
function compareIds(a: string, b: string): number {
  const [aMs, aSeq] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bMs, bSeq] = b.split('-').map(BigInt) as [bigint, bigint];
  return aMs === bMs ? Number(aSeq - bSeq) : aMs < bMs ? -1 : 1;
}

/** What each channel's stream holds now, id → tag, read raw (not through the broker under test). */
async function readTruth(port: number, channels: string[]): Promise<Map<string, Map<string, string>>> {
  const truth = new Map<string, Map<string, string>>();
  for (const channel of channels) {
    const entries = JSON.parse(await redisCli(port, '--json', 'XRANGE', `ssekit:${channel}`, '-', '+')) as [
      string,
      string[],
    ][];
    const data = (fields: string[]) => fields[fields.indexOf('d') + 1] ?? '';
    truth.set(channel, new Map(entries.map(([id, fields]) => [id, data(fields).split(':')[0] as string])));
  }
  return truth;
}

async function publishVia(app: RunningApp, channel: string, items: PublishItem[], timeoutMs: number) {
  try {
    const response = await fetch(`http://127.0.0.1:${app.port}/_chaos/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ channel, items }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return (await response.json()) as PublishResult[];
  } catch {
    return undefined;
  }
}

/** Eviction (i): a broker without the opt-out must refuse an evicting Redis in `ready`, saying how to opt in. */
async function evictionRefusal(url: string, expected: Expected): Promise<string[]> {
  const broker = new RedisBroker({ ...expected.brokerOptions, url } as RedisBrokerOptions);
  try {
    await broker.ready;
    return ['a broker without allowEviction was ready on Redis with maxmemory-policy allkeys-lru'];
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return expected.evictionRefusal.test(message)
      ? []
      : [`the refusal of an evicting Redis does not match ${expected.evictionRefusal}: ${message}`];
  } finally {
    await broker.close();
  }
}

/** What one client got of the events acknowledged on its channel, against what Redis holds. */
function evaluateClient(
  client: ChaosClient,
  acked: Acknowledged[],
  stored: Map<string, string>,
  epoch: string,
): Omit<ClientRow, 'client' | 'app' | 'channel' | 'reconnects' | 'failed'> {
  const ids = new Set<string>();
  const events = new Set<string>();
  let duplicates = 0;
  for (const { id, seq } of client.received) {
    if (ids.has(id)) duplicates++;
    ids.add(id);
    events.add(`${id} ${seq}`);
  }
  // A gap covers the ids after the client's id it names, up to the first event that followed it.
  const covered = client.gaps.map(({ data, after }) => ({
    from: (JSON.parse(data) as { lastEventId: string }).lastEventId,
    to: client.received[after]?.id,
  }));
  const isCovered = (id: string) =>
    covered.some(({ from, to }) => compareIds(id, from) > 0 && (to === undefined || compareIds(id, to) < 0));
  const connections = client.connections;
  const resumedFrom = connections[connections.length - 1]?.lastEventId ?? epoch;
  let inRedisNotSent = 0;
  let lostQuietly = 0;
  for (const { id, seq, tag } of acked) {
    if (events.has(`${id} ${seq}`)) continue;
    if (stored.get(id) === tag && compareIds(id, resumedFrom) > 0) inRedisNotSent++;
    if (!isCovered(id)) lostQuietly++;
  }
  return {
    acknowledged: acked.length,
    received: client.received.length,
    gaps: client.gaps.map(({ data }) => (JSON.parse(data) as { reason: string }).reason),
    duplicates,
    inRedisNotSent,
    lostQuietly,
  };
}

/** Ids acknowledged for two payloads. Stream ids are per stream: the same id on two channels is no reuse. */
function idReuse(acked: Acknowledged[]): string[] {
  const failures: string[] = [];
  const payloadOf = new Map<string, string>();
  for (const { channel, id, tag } of acked) {
    const key = `${channel} ${id}`;
    const earlier = payloadOf.get(key);
    if (earlier !== undefined && earlier !== tag)
      failures.push(`id ${id} on ${channel} acknowledged for ${earlier} and ${tag}`);
    payloadOf.set(key, tag);
  }
  return failures;
}

function publishFigures(records: PublishRecord[], boundMs: number): FaultReport['publishes'] {
  const settled = records.map((record) => record.settleMs ?? Number.POSITIVE_INFINITY);
  const rejected: Record<string, number> = {};
  for (const { code } of records) if (code) rejected[code] = (rejected[code] ?? 0) + 1;
  return {
    attempted: records.length,
    acknowledged: records.filter((record) => record.id !== undefined).length,
    rejected,
    unanswered: records.filter((record) => record.settleMs === undefined).length,
    maxSettleMs: Math.max(0, ...settled),
    overBound: settled.filter((ms) => ms > boundMs).length,
  };
}

/** Every publish settles in time, and a rejection says the broker is unavailable, nothing else. */
function publishFailures(publishes: FaultReport['publishes'], boundMs: number, giveUpMs: number): string[] {
  const failures: string[] = [];
  if (publishes.overBound > 0) {
    failures.push(
      `${publishes.overBound} publishes took over ${boundMs} ms to settle (${publishes.unanswered} unanswered after ${giveUpMs} ms)`,
    );
  }
  for (const [code, count] of Object.entries(publishes.rejected)) {
    if (code !== 'BROKER_UNAVAILABLE')
      failures.push(`${count} publishes rejected with ${code}, not BROKER_UNAVAILABLE`);
  }
  return failures;
}

interface FaultContext {
  redis: RedisServer;
  proxies: RedisFaultProxy[];
  options: FaultOptions;
}

/** Each scenario's fault; each returns once Redis is back. */
const FAULTS: Record<Scenario, (context: FaultContext) => Promise<unknown>> = {
  flushall: ({ redis }) => redisCli(redis.port, 'FLUSHALL'),
  // The load is the fault: events large enough to pass maxmemory, so Redis evicts streams.
  eviction: ({ options }) => sleep(options.evictionMs),
  restart: async ({ redis, options }) => {
    await redis.kill();
    await sleep(options.restartDownMs);
    await redis.restart();
  },
  pause: async ({ redis, options }) => {
    await redisCli(redis.port, 'CLIENT', 'PAUSE', String(options.pauseMs), 'ALL');
    await sleep(options.pauseMs);
  },
  // The first instance only: the others keep publishing, and their clients are the control.
  blackhole: async ({ proxies, options }) => {
    const proxy = proxies[0] as RedisFaultProxy;
    proxy.blackhole();
    await sleep(options.blackholeMs);
    proxy.lift();
  },
};

/**
 * Publishes a burst on each channel `rate` times a second, each burst through the next app, and
 * records what became of each publish. `stop()` resolves once every publish has settled or been
 * given up on.
 */
function startPublisher(
  apps: RunningApp[],
  channels: string[],
  eventBytes: number,
  options: FaultOptions,
  clock: () => number,
): { stop(): Promise<PublishRecord[]> } {
  const records: PublishRecord[] = [];
  const inFlight = new Set<Promise<void>>();
  let seq = 0;
  let turn = 0;
  const publishBurst = (channel: string) => {
    const app = apps[turn++ % apps.length] as RunningApp;
    const burst = Array.from({ length: options.burst }, (): PublishRecord => {
      seq++;
      return { channel, seq, tag: `${channel}#${seq}` };
    });
    records.push(...burst);
    const items = burst.map(({ tag }) => ({ tag, pad: eventBytes }));
    const sentAt = clock();
    const done = publishVia(app, channel, items, options.publishGiveUpMs).then((results) => {
      for (const [i, result] of (results ?? []).entries()) {
        const record = burst[i] as PublishRecord;
        record.settleMs = clock() - sentAt;
        if ('id' in result) record.id = result.id;
        else record.code = result.code ?? 'none';
      }
    });
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  };
  const timer = setInterval(() => {
    for (const channel of channels) publishBurst(channel);
  }, 1_000 / options.rate);
  return {
    async stop() {
      clearInterval(timer);
      await Promise.all(inFlight);
      return records;
    },
  };
}

export async function runFaultScenario(
  scenario: Scenario,
  options: FaultOptions,
  log: (line: string) => void = () => {},
): Promise<FaultReport> {
  const started = performance.now();
  const clock = () => Math.round(performance.now() - started);
  const { expected } = options;
  const failures: string[] = [];
  const notes: string[] = [];
  const channels = Array.from({ length: options.channels }, (_, i) => `${scenario}-${i + 1}`);
  const redis = await startRedis({ persist: false });
  const proxies: RedisFaultProxy[] = [];
  const apps: RunningApp[] = [];
  const clients: ChaosClient[] = [];
  try {
    let brokerOptions = expected.brokerOptions;
    let eventBytes = options.eventBytes;
    if (scenario === 'eviction') {
      await redisCli(redis.port, 'CONFIG', 'SET', 'maxmemory', '2mb', 'maxmemory-policy', 'allkeys-lru');
      failures.push(...(await evictionRefusal(redis.url, expected)));
      brokerOptions = { ...brokerOptions, ...expected.evictionOptions };
      eventBytes = options.evictionEventBytes;
    }
    for (const kind of options.apps) {
      proxies.push(await createRedisProxy({ name: kind, target: redis.port, seed: 0, clock, meanGapMs: 1_000 }));
    }
    const starting = await Promise.allSettled(
      options.apps.map((kind, i) =>
        startApp(
          kind,
          {
            redisUrl: `redis://127.0.0.1:${(proxies[i] as RedisFaultProxy).port}`,
            history: options.history,
            retry: options.retry,
            heartbeat: options.heartbeat,
            // The faults here are Redis's, not the clients': no stream should overflow, even
            // with the eviction scenario's large events.
            maxBufferedBytes: 1024 * 1024,
            broker: brokerOptions,
          },
          log,
        ),
      ),
    );
    for (const result of starting) if (result.status === 'fulfilled') apps.push(result.value);
    for (const result of starting) if (result.status === 'rejected') throw result.reason;

    // Clients resume after an epoch event, so every event of the run is theirs.
    const epochs = new Map<string, string>();
    for (const channel of channels) {
      const [result] =
        (await publishVia(apps[0] as RunningApp, channel, [{ tag: `${channel}#0`, pad: 0 }], 5_000)) ?? [];
      if (!result || !('id' in result)) throw new Error(`no epoch on ${channel}: ${JSON.stringify(result)}`);
      epochs.set(channel, result.id);
    }
    for (const channel of channels) {
      for (const app of apps) {
        for (let i = 0; i < options.clientsPerApp; i++) {
          const epoch = epochs.get(channel) as string;
          clients.push(
            new ChaosClient({ index: clients.length, channel, app: app.kind, port: app.port, epoch, clock }),
          );
        }
      }
    }
    const deadline = clock() + 10_000;
    while (clients.some((client) => client.connections[0]?.status !== 200) && clock() < deadline) await sleep(20);

    const publisher = startPublisher(apps, channels, eventBytes, options, clock);

    await sleep(options.beforeMs);
    const faultAt = clock();
    log(`${scenario}: fault at ${faultAt} ms`);
    await FAULTS[scenario]({ redis, proxies, options });
    const recoveredAt = clock();
    await sleep(options.afterMs);
    const records = await publisher.stop();

    const acked = records.filter((record): record is Acknowledged => record.id !== undefined);
    const lastAcked = new Map(acked.map((record) => [record.channel, record.seq]));
    const caughtUp = (client: ChaosClient) =>
      client.received.some(({ seq }) => seq === lastAcked.get(client.channel)) || client.failed !== undefined;
    const catchUpEnd = clock() + options.catchUpMs;
    while (!clients.every(caughtUp) && clock() < catchUpEnd) await sleep(50);
    const truth = await readTruth(redis.port, channels);

    failures.push(...idReuse(acked));

    const rows = clients.map((client): ClientRow => {
      const figures = evaluateClient(
        client,
        acked.filter((record) => record.channel === client.channel),
        truth.get(client.channel) as Map<string, string>,
        epochs.get(client.channel) as string,
      );
      return {
        client: client.index,
        app: client.app as AppKind,
        channel: client.channel,
        ...figures,
        reconnects: client.reconnects,
        failed: client.failed,
      };
    });
    for (const row of rows) {
      const name = `client ${row.client} (${row.app}, ${row.channel})`;
      if (row.lostQuietly > 0) failures.push(`${name}: ${row.lostQuietly} acknowledged events lost quietly (no gap)`);
      if (row.inRedisNotSent > 0) failures.push(`${name}: ${row.inRedisNotSent} events in Redis never sent`);
      if (row.duplicates > 0) failures.push(`${name}: ${row.duplicates} duplicate ids`);
      if (row.failed) failures.push(`${name}: ${row.failed}`);
    }

    const publishes = publishFigures(records, expected.publishSettleMs);
    failures.push(...publishFailures(publishes, expected.publishSettleMs, options.publishGiveUpMs));
    for (const channel of channels) {
      if (!acked.some((record) => record.channel === channel)) failures.push(`no publish acknowledged on ${channel}`);
    }

    let noticeMs: number | null | undefined;
    if (scenario === 'blackhole') {
      noticeMs = blackholeNotice(
        clients.filter((client) => client.app === apps[0]?.kind),
        faultAt,
        recoveredAt,
        failures,
      );
      if (noticeMs === null || noticeMs > expected.noticeMs) {
        failures.push(
          noticeMs === null
            ? 'the blackholed instance did not end its streams while the blackhole lasted'
            : `the blackholed instance ended its streams after ${noticeMs} ms, over ${expected.noticeMs}`,
        );
      }
    }
    if (scenario === 'eviction') {
      const evicted = Number(/evicted_keys:(\d+)/.exec(await redisCli(redis.port, 'INFO', 'stats'))?.[1]);
      notes.push(`Redis evicted ${evicted} keys`);
      // Without an eviction the scenario tested nothing.
      if (!(evicted > 0)) failures.push('Redis evicted nothing: more load needed');
    }
    notes.push(`fault at ${faultAt} ms, Redis back at ${recoveredAt} ms`);
    return { scenario, rows, publishes, noticeMs, notes, failures, wallMs: clock() };
  } finally {
    for (const client of clients) client.close();
    await Promise.all(apps.map(stopApp));
    await Promise.all(proxies.map((proxy) => proxy.close()));
    await redis.stop();
  }
}

/**
 * How long the blackholed instance took to end the streams that were open when its Redis went
 * silent (the slowest of them); null if one was still open when the blackhole lifted. Each
 * must end cleanly with a retry hint, so that its client resumes.
 */
function blackholeNotice(clients: ChaosClient[], at: number, liftedAt: number, failures: string[]): number | null {
  let slowest = 0;
  for (const client of clients) {
    const open = client.connections.find((c) => c.startedAt <= at && (c.endAt === undefined || c.endAt > at));
    if (open?.endAt === undefined || open.endAt > liftedAt) return null;
    if (open.end !== 'complete' || !/retry: ?\d+\n/.test(open.tail ?? '')) {
      failures.push(`client ${client.index}: its stream ended (${open.end}) without a retry hint`);
    }
    slowest = Math.max(slowest, open.endAt - at);
  }
  return slowest;
}

/** `15 (3 expired, 12 unknown)`: a long run has too many gaps to list. */
function gapsByReason(reasons: string[]): string {
  if (reasons.length === 0) return '0';
  const counts = new Map<string, number>();
  for (const reason of reasons) counts.set(reason, (counts.get(reason) ?? 0) + 1);
  return `${reasons.length} (${[...counts].map(([reason, count]) => `${count} ${reason}`).join(', ')})`;
}

export function formatFaultReport(report: FaultReport): string {
  const { publishes } = report;
  const rejected = Object.entries(publishes.rejected).map(([code, count]) => `${count} ${code}`);
  const lines = [
    `== ${report.scenario} (${(report.wallMs / 1000).toFixed(1)} s) ==`,
    `publishes: ${publishes.attempted} attempted, ${publishes.acknowledged} acknowledged, rejected: ${rejected.join(', ') || 'none'}, ${publishes.unanswered} unanswered; slowest to settle ${Number.isFinite(publishes.maxSettleMs) ? publishes.maxSettleMs : '∞'} ms, ${publishes.overBound} over the bound`,
    ...(report.noticeMs === undefined
      ? []
      : [`blackhole noticed after: ${report.noticeMs === null ? 'never' : `${report.noticeMs} ms`}`]),
    ...report.notes,
    table(
      [
        'client',
        'app',
        'channel',
        'acked',
        'received',
        'gaps',
        'dups',
        'in Redis, not sent',
        'lost quietly',
        'reconnects',
      ],
      report.rows.map((row) => [
        row.client,
        row.app,
        row.channel,
        row.acknowledged,
        row.received,
        gapsByReason(row.gaps),
        row.duplicates,
        row.inRedisNotSent,
        row.lostQuietly,
        `${row.reconnects}${row.failed ? ' (gave up)' : ''}`,
      ]),
    ),
    report.failures.length === 0 ? 'no failures' : `FAILURES:\n${report.failures.map((f) => `- ${f}`).join('\n')}`,
  ];
  return lines.join('\n');
}
