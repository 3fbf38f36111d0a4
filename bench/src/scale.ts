/**
 * One machine past one process (issue 22): tens of thousands of SSE streams over several
 * `node:cluster` workers on one port, fed through one throwaway redis-server. This process is
 * the cluster's primary (round-robin: it accepts each connection and hands it to the next
 * worker); the workers (`scale-worker.ts`) serve the streams, each on a `RedisBroker`; one
 * more process (`redis-instance.ts`, with no streams) publishes; load generators
 * (`scale-client.ts`, up to 12,500 streams each, each from a source address of its own) read
 * every event and check that each stream got all of them, in order.
 *
 * Measured: memory per stream (each worker's RSS and heap after GC, with the streams open
 * minus before), the time to connect every stream, publish→receive p50/p99, the CPU time of
 * the workers and of the generators per delivery (from /proc), and what Redis spends (its CPU
 * time and its `XREAD`s per publish, from `INFO cpu` and `INFO commandstats`).
 * First one large run (`--streams` over `--workers`), then `--runs` interleaved pairs of
 * `--compare-streams` streams on one worker and on two. A lost or reordered event fails the
 * bench (exit code 1). Prints the tables and writes them to `bench/results/scale.md`.
 *
 * `pnpm bench:scale` (about 6 minutes; needs `redis-server` and `redis-cli` on the PATH, Linux).
 * Options: --streams N (default 50000), --workers N (4), --events N (20), --rate N (events/s,
 * 1) for the large run; --compare-streams N (10000, 0 to skip), --compare-events N (100),
 * --compare-rate N (5), --runs N (3) for the one-against-two-workers runs. Both default to
 * 50,000 deliveries a second: at 100,000 this 2-core machine, which also runs the load
 * generators, fell seconds behind.
 */
import { type ChildProcess, execFile, fork } from 'node:child_process';
import cluster, { type Worker } from 'node:cluster';
import type { EventEmitter } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { type RedisServer, startRedis } from '../../packages/redis/test/redis-server.js';
import { FROM_DIST } from './orchestrate.js';
import type { FromInstance, ToInstance } from './redis-instance.js';
import type { FromWorker } from './scale-worker.js';
import type { ClientReport, FromClient, ToClient } from './shared.js';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '50000' },
    workers: { type: 'string', default: '4' },
    events: { type: 'string', default: '20' },
    rate: { type: 'string', default: '1' },
    'compare-streams': { type: 'string', default: '10000' },
    'compare-events': { type: 'string', default: '100' },
    'compare-rate': { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
  },
});
const positive = (name: keyof typeof values, allowZero = false) => {
  const value = Number(values[name]);
  if (!Number.isSafeInteger(value) || value < (allowZero ? 0 : 1)) throw new Error(`--${name} ${values[name]}?`);
  return value;
};
const LARGE = { streams: positive('streams'), workers: positive('workers'), events: positive('events') };
const LARGE_RATE = positive('rate');
const COMPARE_STREAMS = positive('compare-streams', true);
const COMPARE_EVENTS = positive('compare-events');
const COMPARE_RATE = positive('compare-rate');
const RUNS = positive('runs');

/** Streams per load generator: its sockets must stay well under the 20,000 open files a process may have. */
const STREAMS_PER_GENERATOR = 12_500;
/** The first generator's source address is 127.0.0.2, the next 127.0.0.3, …: see scale-client.ts. */
const FIRST_SOURCE_HOST = 2;

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

const children = new Set<ChildProcess>();

function spawn(file: string, env: NodeJS.ProcessEnv): ChildProcess {
  const child = fork(here(file), [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env } });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Every child this bench started, workers included; sync, so that it also runs on `exit`. */
function killAll(): void {
  for (const child of children) child.kill('SIGKILL');
  for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
}

async function stop(processes: (ChildProcess | Worker)[]): Promise<void> {
  await Promise.all(
    processes.map((each) => {
      const child = 'process' in each ? each.process : each;
      if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      return exited;
    }),
  );
}

/** The next message of `type` from a child or worker; rejects on its error, its exit, or after `timeoutMs`. */
function reply<T>(from: ChildProcess | Worker, type: string, timeoutMs: number): Promise<T> {
  const emitter = from as EventEmitter;
  return new Promise<T>((resolve, reject) => {
    const done = (settle: () => void) => {
      clearTimeout(timer);
      emitter.off('message', onMessage);
      emitter.off('exit', onExit);
      settle();
    };
    const onMessage = (message: { type: string; message?: string }) => {
      if (message.type === 'error') done(() => reject(new Error(message.message)));
      else if (message.type === type) done(() => resolve(message as T));
    };
    const onExit = (code: number | null) => done(() => reject(new Error(`a bench process exited (${code})`)));
    const timer = setTimeout(() => done(() => reject(new Error(`no '${type}' within ${timeoutMs} ms`))), timeoutMs);
    emitter.on('message', onMessage);
    emitter.once('exit', onExit);
  });
}

/** CPU time (user + system) of a process so far, in ms, from /proc: counted in ticks of 10 ms (USER_HZ 100). */
function cpuMs(pid: number | undefined): number {
  // The fields after the command name's closing parenthesis; utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const runRedisCli = promisify(execFile);

/** What Redis has spent so far: CPU seconds of its process, and calls and µs per command. */
async function redisUsage(redis: RedisServer) {
  const { stdout } = await runRedisCli('redis-cli', ['-p', String(redis.port), 'INFO', 'cpu', 'commandstats'], {
    timeout: 5_000,
  });
  const number = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(stdout)?.[1]);
  const commands: Record<string, { calls: number; usec: number }> = {};
  for (const [, name, calls, usec] of stdout.matchAll(/^cmdstat_(\S+):calls=(\d+),usec=(\d+)/gm)) {
    commands[name as string] = { calls: Number(calls), usec: Number(usec) };
  }
  return { cpuSeconds: number('used_cpu_sys') + number('used_cpu_user'), commands };
}
type RedisUsage = Awaited<ReturnType<typeof redisUsage>>;

interface WorkerMemory {
  open: number;
  rss: number;
  heapUsed: number;
}

interface RunResult {
  streams: number;
  workers: number;
  events: number;
  rate: number;
  connectMs: number;
  /** Each worker's memory after GC before the streams, and with them open. */
  before: WorkerMemory[];
  after: WorkerMemory[];
  primaryRss: { before: number; after: number };
  delivered: number;
  /** The median load generator's p50, and the worst one's p99. */
  p50: number;
  p99: number;
  publishMs: number;
  /** CPU time of all the workers, and of all the load generators, while publishing. */
  workerCpuMs: number;
  generatorCpuMs: number;
  redis: { cpuMs: number; calls: Record<string, number>; usec: Record<string, number> };
  /** Redis's CPU ms per second while the streams connected: what it spends with no publishes. */
  redisIdleCpuMsPerS: number;
}

function redisDelta(from: RedisUsage, to: RedisUsage): RunResult['redis'] {
  const calls: Record<string, number> = {};
  const usec: Record<string, number> = {};
  for (const [name, { calls: count, usec: time }] of Object.entries(to.commands)) {
    if (name === 'info') continue; // the bench's own
    calls[name] = count - (from.commands[name]?.calls ?? 0);
    usec[name] = time - (from.commands[name]?.usec ?? 0);
  }
  return { cpuMs: (to.cpuSeconds - from.cpuSeconds) * 1000, calls, usec };
}

/** Each worker's open streams, and its memory after GC (scale-worker.ts answers a count with both). */
async function memory(workers: Worker[]): Promise<WorkerMemory[]> {
  return Promise.all(
    workers.map(async (worker) => {
      const answers = Promise.all([
        reply<Extract<FromInstance, { type: 'count' }>>(worker, 'count', 30_000),
        reply<FromWorker>(worker, 'memory', 30_000),
      ]);
      worker.send({ type: 'count' } satisfies ToInstance);
      const [{ open }, { rss, heapUsed }] = await answers;
      return { open, rss, heapUsed };
    }),
  );
}

/** One run: `workers` cluster workers on one port, `streams` streams over them, `events` published at `rate`/s. */
async function run(
  redis: RedisServer,
  publisher: ChildProcess,
  { streams, workers: workerCount, events, rate }: { streams: number; workers: number; events: number; rate: number },
): Promise<RunResult> {
  const workers = Array.from({ length: workerCount }, () => cluster.fork({ REDIS_URL: redis.url }));
  const generators: ChildProcess[] = [];
  try {
    const ports = await Promise.all(
      workers.map((worker) => reply<Extract<FromInstance, { type: 'listening' }>>(worker, 'listening', 30_000)),
    );
    const port = (ports[0] as { port: number }).port;
    if (ports.some((each) => each.port !== port)) throw new Error('the workers listen on different ports');
    const before = await memory(workers);
    const primaryBefore = process.memoryUsage().rss;

    // At least two generators, so that one and two workers are read by the same clients.
    const generatorCount = Math.max(2, Math.ceil(streams / STREAMS_PER_GENERATOR));
    for (let i = 0; i < generatorCount; i++) {
      generators.push(spawn('scale-client.ts', { SOURCE_ADDRESS: `127.0.0.${FIRST_SOURCE_HOST + i}` }));
    }
    await Promise.all(generators.map((generator) => reply(generator, 'ready', 30_000)));
    const redisIdle = await redisUsage(redis);
    const connectStarted = performance.now();
    await Promise.all(
      generators.map((generator, i) => {
        const share = Math.floor(streams / generatorCount) + (i < streams % generatorCount ? 1 : 0);
        generator.send({ type: 'connect', port, streams: share, stalled: 0, latency: true } satisfies ToClient);
        return reply<FromClient>(generator, 'connected', 60_000 + streams * 2);
      }),
    );
    const connectMs = performance.now() - connectStarted;
    const after = await memory(workers);
    const primaryAfter = process.memoryUsage().rss;
    const open = sum(after.map((each) => each.open));
    if (open !== streams) throw new Error(`the workers hold ${open} streams, not ${streams}`);

    const timeoutMs = (events / rate) * 1000 + 30_000;
    const redisBefore = await redisUsage(redis);
    const redisIdleCpuMsPerS = redisDelta(redisIdle, redisBefore).cpuMs / ((performance.now() - connectStarted) / 1000);
    const workersCpu = () => sum(workers.map((worker) => cpuMs(worker.process.pid)));
    const generatorsCpu = () => sum(generators.map((generator) => cpuMs(generator.pid)));
    const [workerCpuBefore, generatorCpuBefore] = [workersCpu(), generatorsCpu()];
    const publishStarted = performance.now();
    const reports = generators.map((generator) => {
      generator.send({ type: 'start', events, timeoutMs } satisfies ToClient);
      return reply<Extract<FromClient, { type: 'done' }>>(generator, 'done', timeoutMs + 10_000);
    });
    publisher.send({ type: 'publish', events, perSecond: rate } satisfies ToInstance);
    const [answers, { refused }] = await Promise.all([
      Promise.all(reports),
      reply<Extract<FromInstance, { type: 'published' }>>(publisher, 'published', timeoutMs),
    ]);
    const publishMs = performance.now() - publishStarted;
    // A lost or reordered event, or a worker gone, is the verdict: checked before the figures.
    const done: ClientReport[] = answers.map(({ report }) => report);
    const failure = done.find((report) => report.failure)?.failure;
    if (failure) throw new Error(`${streams} streams on ${workerCount} workers: ${failure}`);
    const delivered = sum(done.map((report) => report.received));
    if (delivered !== streams * events) throw new Error(`delivered ${delivered} of ${streams * events} events`);
    if (refused > 0) throw new Error(`Redis refused ${refused} publishes`);
    const workerCpuMs = workersCpu() - workerCpuBefore;
    const generatorCpuMs = generatorsCpu() - generatorCpuBefore;
    const redisAfter = await redisUsage(redis);
    return {
      streams,
      workers: workerCount,
      events,
      rate,
      connectMs,
      before,
      after,
      primaryRss: { before: primaryBefore, after: primaryAfter },
      delivered,
      p50: median(done.map((report) => report.latency?.p50 ?? Number.NaN)),
      p99: Math.max(...done.map((report) => report.latency?.p99 ?? Number.NaN)),
      publishMs,
      workerCpuMs,
      generatorCpuMs,
      redis: redisDelta(redisBefore, redisAfter),
      redisIdleCpuMsPerS,
    };
  } finally {
    await stop(generators);
    await stop(workers);
  }
}

const KB = 1024;
const MB = 1024 * 1024;
const perStream = (result: RunResult, pick: (memory: WorkerMemory) => number) =>
  sum(result.after.map((after, i) => pick(after) - pick(result.before[i] as WorkerMemory))) / result.streams / KB;
/** Redis's CPU per publish, less what it spends idle over the same time. */
const redisCpuPerPublish = (result: RunResult) =>
  (result.redis.cpuMs - (result.redisIdleCpuMsPerS * result.publishMs) / 1000) / result.events;
const callsPerPublish = (result: RunResult, command: string) => (result.redis.calls[command] ?? 0) / result.events;

/** `median (min–max)` of a figure over runs; the figure alone for one run. */
function spread(results: RunResult[], pick: (result: RunResult) => number, digits: number): string {
  const figures = results.map(pick);
  const text = (value: number) => value.toFixed(digits);
  if (figures.length === 1) return text(figures[0] as number);
  return `${text(median(figures))} (${text(Math.min(...figures))}–${text(Math.max(...figures))})`;
}

function tables(groups: RunResult[][]): string {
  const lines = [
    '| streams × workers | runs | events at rate | delivered per run | connect all s | p50 ms | p99 ms | worker CPU µs/delivery | generator CPU µs/delivery | worker RSS KB/stream | worker heap KB/stream | primary RSS MB (before → with streams) |',
    '| --- | --: | --- | --: | --: | --: | --: | --: | --: | --: | --: | --- |',
  ];
  for (const results of groups) {
    const first = results[0] as RunResult;
    lines.push(
      `| ${first.streams} × ${first.workers} | ${results.length} | ${first.events} at ${first.rate}/s | ${first.delivered} | ${spread(results, (r) => r.connectMs / 1000, 1)} | ${spread(results, (r) => r.p50, 1)} | ${spread(results, (r) => r.p99, 1)} | ${spread(results, (r) => (r.workerCpuMs * 1000) / r.delivered, 2)} | ${spread(results, (r) => (r.generatorCpuMs * 1000) / r.delivered, 2)} | ${spread(results, (r) => perStream(r, (m) => m.rss), 2)} | ${spread(results, (r) => perStream(r, (m) => m.heapUsed), 2)} | ${spread(results, (r) => r.primaryRss.before / MB, 0)} → ${spread(results, (r) => r.primaryRss.after / MB, 0)} |`,
    );
  }
  lines.push(
    '',
    '| streams × workers | XREAD per publish | XINFO per publish | Redis calls per publish | Redis CPU, % of a core while publishing | Redis CPU idle, % of a core | Redis CPU ms per publish, above idle | Redis µs per XREAD (its own count) |',
    '| --- | --: | --: | --: | --: | --: | --: | --: |',
  );
  for (const results of groups) {
    const first = results[0] as RunResult;
    lines.push(
      `| ${first.streams} × ${first.workers} | ${spread(results, (r) => callsPerPublish(r, 'xread'), 2)} | ${spread(results, (r) => callsPerPublish(r, 'xinfo|stream'), 2)} | ${spread(results, (r) => sum(Object.values(r.redis.calls)) / r.events, 2)} | ${spread(results, (r) => (r.redis.cpuMs / r.publishMs) * 100, 2)} | ${spread(results, (r) => r.redisIdleCpuMsPerS / 10, 2)} | ${spread(results, redisCpuPerPublish, 3)} | ${spread(results, (r) => (r.redis.usec.xread ?? 0) / (r.redis.calls.xread || 1), 1)} |`,
    );
  }
  const large = groups[0]?.[0];
  if (large) {
    lines.push(
      '',
      `The ${large.streams}-stream run, worker by worker (after GC, with the streams open minus before):`,
      '',
      '| worker | streams | RSS MB before → with streams | RSS KB/stream | heap MB before → with streams | heap KB/stream |',
      '| --: | --: | --- | --: | --- | --: |',
    );
    large.after.forEach((after, i) => {
      const before = large.before[i] as WorkerMemory;
      lines.push(
        `| ${i + 1} | ${after.open} | ${(before.rss / MB).toFixed(0)} → ${(after.rss / MB).toFixed(0)} | ${((after.rss - before.rss) / after.open / KB).toFixed(2)} | ${(before.heapUsed / MB).toFixed(1)} → ${(after.heapUsed / MB).toFixed(1)} | ${((after.heapUsed - before.heapUsed) / after.open / KB).toFixed(2)} |`,
      );
    });
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const loadAtStart = os.loadavg()[0] ?? 0;
  // ssekit from its build, as published: from src through tsx, every named closure would carry
  // a name property of its own (tsx's keepNames), which would count as the library's memory.
  cluster.setupPrimary({
    exec: here('scale-worker.ts'),
    args: [],
    execArgv: ['--import', 'tsx', ...FROM_DIST, '--expose-gc'],
  });
  const redis = await startRedis();
  try {
    const version = /redis_version:(\S+)/.exec(
      (await runRedisCli('redis-cli', ['-p', String(redis.port), 'INFO', 'server'], { timeout: 5_000 })).stdout,
    )?.[1];
    const publisher = spawn('redis-instance.ts', { REDIS_URL: redis.url });
    await reply(publisher, 'listening', 30_000);

    const log = (result: RunResult) =>
      console.error(
        `${result.streams} streams × ${result.workers} workers (${result.after.map((each) => each.open).join(' + ')}): connected in ${(result.connectMs / 1000).toFixed(1)} s, p50 ${result.p50} ms, p99 ${result.p99} ms, ${perStream(result, (m) => m.rss).toFixed(2)} KB RSS/stream, Redis ${result.redis.cpuMs.toFixed(0)} ms CPU`,
      );
    const large = await run(redis, publisher, { ...LARGE, rate: LARGE_RATE });
    log(large);
    const groups: RunResult[][] = [[large]];
    if (COMPARE_STREAMS > 0) {
      const one: RunResult[] = [];
      const two: RunResult[] = [];
      for (let i = 0; i < RUNS; i++) {
        // Interleaved, and in turns first, so that both see the same machine.
        const order = i % 2 === 0 ? [1, 2] : [2, 1];
        for (const workers of order) {
          const result = await run(redis, publisher, {
            streams: COMPARE_STREAMS,
            workers,
            events: COMPARE_EVENTS,
            rate: COMPARE_RATE,
          });
          log(result);
          (workers === 1 ? one : two).push(result);
          await sleep(1_000); // so that one run's teardown (thousands of sockets closing) does not overlap the next one's start
        }
      }
      groups.push(one, two);
    }

    const command = `pnpm bench:scale ${process.argv.slice(2).join(' ')}`.trim();
    const cpu = os.cpus();
    // The machine is shared: how busy it was says how far the latencies can be trusted.
    const load = `load average ${loadAtStart.toFixed(1)} at the start, ${(os.loadavg()[0] ?? 0).toFixed(1)} at the end`;
    const machine = `${cpu.length} × ${cpu[0]?.model.trim()}, Node ${process.version}, Redis ${version}`;
    const report = [
      '# Past one process',
      '',
      `\`${command}\`, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${machine}, ${load}.`,
      '',
      'Medians over runs (min–max). p50: the median load generator’s; p99: the worst one’s. Memory: each worker’s RSS and heap after two GCs, with the streams open minus before, summed over the workers and divided by the streams. Redis: from `INFO cpu` and `INFO commandstats` before the first publish and after every stream had the last event.',
      '',
      tables(groups),
      '',
    ].join('\n');
    console.log(`\n${report}`);
    mkdirSync(new URL('../results/', import.meta.url), { recursive: true });
    writeFileSync(new URL('../results/scale.md', import.meta.url), report);
  } finally {
    killAll();
    await redis.stop();
  }
}

process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAll();
    process.exit(1);
  });
}
try {
  await main();
} catch (error) {
  console.error(error);
  // Everything is stopped; timers of the failed run's waits would only keep the bench alive.
  process.exit(1);
}
