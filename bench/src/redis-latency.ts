/**
 * Publish→receive latency through Redis: three instance processes share one redis-server,
 * each with 1,000 streams read by a load-generator process of its own; one instance
 * publishes at a steady rate, and every stream on every instance must get every event in
 * order. The same load on one process with the in-memory broker is measured as reference.
 *
 * `pnpm --filter @ssekit/bench bench:redis` (needs `redis-server` on the PATH).
 * Options: --streams N (per instance, default 1000), --events N (default 300), --rate N
 * (events/s, default 20), --runs N (default 3).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type RedisServer, startRedis } from '../../packages/redis/test/redis-server.js';
import type { FromInstance, ToInstance } from './redis-instance.js';
import type { ClientReport, FromClient, ToClient } from './shared.js';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '1000' },
    events: { type: 'string', default: '300' },
    rate: { type: 'string', default: '20' },
    runs: { type: 'string', default: '3' },
  },
});
const STREAMS = Number(values.streams);
const EVENTS = Number(values.events);
const RATE = Number(values.rate);
const RUNS = Number(values.runs);
const INSTANCES = 3;

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const children = new Set<ChildProcess>();

function spawn(file: string, env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = fork(here(file), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env } });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function next<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string; message?: string }) => {
      if (message.type === 'error') reject(new Error(message.message));
      if (message.type !== type) return;
      child.off('message', onMessage);
      resolve(message as T);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`a bench process exited (${code})`)));
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

/** One run: `instances` app processes (on Redis when `redisUrl` is set), a load generator for each. */
async function run(instanceCount: number, redisUrl: string | undefined) {
  const instances = Array.from({ length: instanceCount }, () => spawn('redis-instance.ts', { REDIS_URL: redisUrl }));
  const ports = await Promise.all(
    instances.map((child) => next<Extract<FromInstance, { type: 'listening' }>>(child, 'listening')),
  );
  // Three load generators either way: one per instance, or three on the one instance.
  const clients = Array.from({ length: INSTANCES }, () => spawn('client.ts'));
  await Promise.all(
    clients.map((client, i) => {
      const port = (ports[i % ports.length] as { port: number }).port;
      client.send({ type: 'connect', port, streams: STREAMS, stalled: 0, latency: true } satisfies ToClient);
      return next<FromClient>(client, 'connected');
    }),
  );
  const timeoutMs = (EVENTS / RATE) * 1000 + 30_000;
  const reports = clients.map((client) => {
    client.send({ type: 'start', events: EVENTS, timeoutMs } satisfies ToClient);
    return next<Extract<FromClient, { type: 'done' }>>(client, 'done').then(({ report }) => report);
  });
  const publisher = instances[0] as ChildProcess;
  publisher.send({ type: 'publish', events: EVENTS, perSecond: RATE } satisfies ToInstance);
  const done: ClientReport[] = await Promise.all(reports);
  for (const child of [...instances, ...clients]) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    child.kill();
    await once(child, 'exit');
  }
  const failure = done.find((report) => report.failure)?.failure;
  if (failure) throw new Error(`a run lost events: ${failure}`);
  return {
    p50: median(done.map((report) => report.latency?.p50 ?? Number.NaN)),
    p99: Math.max(...done.map((report) => report.latency?.p99 ?? Number.NaN)),
    received: done.reduce((sum, report) => sum + report.received, 0),
  };
}

let redis: RedisServer | undefined;
try {
  redis = await startRedis();
  const rows: { mode: string; p50: number[]; p99: number[]; received: number }[] = [
    { mode: `RedisBroker, ${INSTANCES} instances × ${STREAMS} streams`, p50: [], p99: [], received: 0 },
    { mode: `MemoryBroker, 1 instance × ${INSTANCES * STREAMS} streams`, p50: [], p99: [], received: 0 },
  ];
  for (let i = 0; i < RUNS; i++) {
    // Interleaved, so that both modes see the same machine.
    for (const [row, result] of [
      [rows[0], await run(INSTANCES, redis.url)],
      [rows[1], await run(1, undefined)],
    ] as const) {
      row?.p50.push(result.p50);
      row?.p99.push(result.p99);
      if (row) row.received = result.received;
    }
  }
  console.log(`\n${EVENTS} events at ${RATE}/s, ${RUNS} runs; medians over runs (p99: the worst load generator's)`);
  console.log('\n| mode | events received per run | p50 ms | p99 ms |\n| --- | --- | --- | --- |');
  for (const row of rows) {
    console.log(`| ${row.mode} | ${row.received} | ${median(row.p50).toFixed(1)} | ${median(row.p99).toFixed(1)} |`);
  }
} finally {
  for (const child of children) child.kill('SIGKILL');
  await redis?.stop();
}
