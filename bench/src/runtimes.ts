/**
 * Idle memory and fan-out speed of an event stream on each runtime that the runtime matrix
 * pins (Node 24, Bun, Deno, and the host's Node 20 as the reference), through ssekit's
 * `createResponse` and beside the runtime's own minimal loop on its Web-`Response` server.
 * Each run is one fresh server process: N streams open (idle: its resident set with them
 * open minus before, after GC, per stream; and connections per GiB from it), then E events
 * to all of them, one per macrotask (delivered events/s, the server's CPU per event). Every
 * stream must get every event, in order, or the run fails. The load generator is the main
 * bench's (`client.ts`), a Node process of its own.
 *
 * `pnpm bench:runtimes` (or `pnpm --filter @ssekit/bench bench:runtimes`); about 10 minutes.
 * Writes bench/results/runtimes.md. Options: --streams N (default 10000), --events N
 * (default 50: the fan-out is most of a run's time; 100 doubles it), --runs N (default 3), --runtimes node24,bun,deno,node20, --variants
 * web-raw,ssekit,node-http-raw (node-http-raw runs on Node only).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { binary, bundle, type Runtime, residentBytes, runtimeVersion } from '../../test/runtimes/launch.js';
import { type ClientReport, DEFAULT_PAD_BYTES, type FromClient, type ToClient } from './shared.js';

type Variant = 'web-raw' | 'ssekit' | 'node-http-raw';
const LABELS: Record<Variant, string> = {
  'web-raw': 'raw (Web `Response`)',
  ssekit: 'ssekit `createResponse`',
  'node-http-raw': 'raw `node:http`',
};
const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '10000' },
    events: { type: 'string', default: '50' },
    runs: { type: 'string', default: '3' },
    runtimes: { type: 'string', default: 'node24,bun,deno,node20' },
    variants: { type: 'string', default: 'web-raw,ssekit,node-http-raw' },
  },
});
const STREAMS = Number(values.streams);
const EVENTS = Number(values.events);
const RUNS = Number(values.runs);
const RUNTIMES = values.runtimes.split(',') as Runtime[];
const VARIANTS = values.variants.split(',') as Variant[];
const unknown = [
  ...RUNTIMES.filter((r) => !['node24', 'bun', 'deno', 'node20'].includes(r)),
  ...VARIANTS.filter((v) => !(v in LABELS)),
];
if (unknown.length > 0) throw new Error(`unknown runtime or variant: ${unknown.join(', ')}`);
/** A run that takes longer than this to open its streams, or to deliver its events, fails. */
const STEP_TIMEOUT_MS = 60_000;

const isNode = (runtime: Runtime) => runtime === 'node20' || runtime === 'node24';
const ENTRIES = { bun: 'server-bun.ts', deno: 'server-deno.ts', node: 'server-node.ts' } as const;
const CLIENT = fileURLToPath(new URL('./client.ts', import.meta.url));
const RESULTS = fileURLToPath(new URL('../results/runtimes.md', import.meta.url));

/** Every process this run started, killed however it ends. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function withTimeout<T>(promise: Promise<T>, what: string, ms = STEP_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The command that runs `script` on `runtime` with GC exposed, given the variant. */
function command(runtime: Runtime, script: string, variant: Variant): string[] {
  if (runtime === 'bun') return [script, variant]; // Bun.gc is always there
  if (runtime === 'deno')
    return ['run', '--allow-net=127.0.0.1', '--v8-flags=--expose-gc', '--no-prompt', script, variant];
  return ['--expose-gc', script, variant];
}

interface Server {
  pid: number;
  url: string;
  exited: Promise<unknown>;
}

async function startServer(runtime: Runtime, script: string, variant: Variant): Promise<Server> {
  const child = track(
    spawn(binary(runtime), command(runtime, script, variant), {
      env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`${runtime} ${variant} exited (${signal ?? code})`);
  });
  exited.catch(() => {});
  const port = new Promise<number>((resolve) => {
    let out = '';
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const match = /http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (match) resolve(Number(match[1]));
    });
  });
  const url = `http://127.0.0.1:${await withTimeout(Promise.race([port, exited]), `${runtime} ${variant} start`)}`;
  return { pid: child.pid as number, url, exited };
}

/** The load generator, spoken to over IPC: `connect`, then `start`, as `orchestrate.ts` does. */
function startClient() {
  const child = track(
    fork(CLIENT, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  const exited = once(child, 'exit').then(([code, signal]) => {
    throw new Error(`load generator exited (${signal ?? code})`);
  });
  exited.catch(() => {});
  const next = <T extends FromClient['type']>(type: T) =>
    new Promise<Extract<FromClient, { type: T }>>((resolve, reject) => {
      const onMessage = (message: FromClient) => {
        if (message.type !== type && message.type !== 'error') return;
        child.off('message', onMessage);
        if (message.type === 'error') reject(new Error(message.message));
        else resolve(message as Extract<FromClient, { type: T }>);
      };
      child.on('message', onMessage);
    });
  return {
    send: (message: ToClient) => child.send(message),
    next: <T extends FromClient['type']>(type: T) => withTimeout(Promise.race([next(type), exited]), `client ${type}`),
    kill: () => child.kill('SIGKILL'),
  };
}

async function control<T>(server: Server, path: string, method = 'GET'): Promise<T> {
  const response = await fetch(server.url + path, { method });
  if (!response.ok) throw new Error(`${path} answered ${response.status}`);
  return (await response.json()) as T;
}

/** The process's CPU time so far (user + system), in seconds: fields 14 and 15 of /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name, which is in parentheses and may hold spaces; utime is the 12th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const CLOCK_TICKS_PER_SECOND = 100; // `getconf CLK_TCK` on Linux
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

/**
 * The streams could not all be opened: on this shared machine, most often because other
 * benchmarks hold the ephemeral ports (EADDRNOTAVAIL). Nothing was measured yet, so the run
 * is tried again after a wait; a run that opened its streams and then failed is not.
 */
class OpeningFailed extends Error {}
const OPENING_ATTEMPTS = 3;
const OPENING_RETRY_WAIT_MS = 30_000;

interface RunResult {
  rssPerStream: number;
  heapPerStream: number;
  eventsPerSec: number;
  cpuMicrosPerEvent: number;
  /** Milliseconds to open every stream, and to deliver every event: what the run's length is made of. */
  openMs: number;
  fanOutMs: number;
}

async function measure(runtime: Runtime, script: string, variant: Variant): Promise<RunResult> {
  const server = await startServer(runtime, script, variant);
  const client = startClient();
  try {
    const during = <T>(promise: Promise<T>) => Promise.race([promise, server.exited as Promise<never>]);
    const before = await during(control<{ heapUsed: number }>(server, '/gc', 'POST'));
    const rssBefore = residentBytes(server.pid);
    const openingAt = Date.now();
    try {
      client.send({
        type: 'connect',
        port: Number(new URL(server.url).port),
        streams: STREAMS,
        stalled: 0,
        latency: false,
      });
      await during(client.next('connected'));
      const deadline = Date.now() + STEP_TIMEOUT_MS;
      while ((await during(control<{ open: number }>(server, '/count'))).open < STREAMS) {
        if (Date.now() > deadline) throw new Error(`fewer than ${STREAMS} streams open after ${STEP_TIMEOUT_MS} ms`);
        await sleep(100);
      }
    } catch (error) {
      throw new OpeningFailed((error as Error).message);
    }
    const openMs = Date.now() - openingAt;
    // What opening left behind (parsers, promises) settles before the collection.
    await sleep(1_000);
    const after = await during(control<{ heapUsed: number }>(server, '/gc', 'POST'));
    const rssAfter = residentBytes(server.pid);

    const cpuBefore = cpuSeconds(server.pid);
    client.send({ type: 'start', events: EVENTS, timeoutMs: STEP_TIMEOUT_MS });
    await during(control(server, `/start?events=${EVENTS}&pad=${DEFAULT_PAD_BYTES}`, 'POST'));
    const { report } = await during(client.next('done'));
    const cpu = cpuSeconds(server.pid) - cpuBefore;
    check(report);
    return {
      rssPerStream: (rssAfter - rssBefore) / STREAMS,
      heapPerStream: (after.heapUsed - before.heapUsed) / STREAMS,
      eventsPerSec: (report.received / report.elapsedMs) * 1000,
      cpuMicrosPerEvent: (cpu / report.received) * 1e6,
      openMs,
      fanOutMs: report.elapsedMs,
    };
  } finally {
    // The server first: the side that closes first keeps each connection in TIME_WAIT, and
    // on the server's side that holds no ephemeral port, of which 10,000 streams a run take
    // a third, so that the next runs still find ports.
    process.kill(server.pid, 'SIGKILL');
    await server.exited.catch(() => {});
    await sleep(200);
    client.kill();
  }
}

/** Every stream got every event, in order (the client checks each stream's sequence). */
function check(report: ClientReport): void {
  if (report.failure) throw new Error(report.failure);
  if (report.received !== STREAMS * EVENTS) {
    throw new Error(`${report.received} events delivered, not ${STREAMS} × ${EVENTS}`);
  }
}

interface Kind {
  runtime: Runtime;
  variant: Variant;
  script: string;
  runs: RunResult[];
  failures: string[];
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};
const grouped = (value: number, digits: number) =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
/** The median over the runs that passed, with their min–max. */
function spread(kind: Kind, pick: (run: RunResult) => number, digits = 1): string {
  if (kind.runs.length === 0) return 'failed';
  const values = kind.runs.map(pick);
  return `${grouped(median(values), digits)} (${grouped(Math.min(...values), digits)}–${grouped(Math.max(...values), digits)})`;
}
/** A Markdown table laid out as the formatter would (the repository's Markdown is checked): figures right-aligned. */
function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const left = (column: number) => column < 2;
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => (left(column) ? cell.padEnd(widths[column] as number) : cell.padStart(widths[column] as number))).join(' | ')} |`;
  const rule = `| ${widths.map((width, column) => (left(column) ? '-'.repeat(width) : `${'-'.repeat(width - 1)}:`)).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
const GiB = 2 ** 30;
const perGiB = (run: RunResult) => GiB / run.rssPerStream;

async function main(): Promise<number> {
  const startedAt = new Date();
  const scripts = new Map<Runtime, string>();
  const versions = new Map<Runtime, string>();
  for (const runtime of RUNTIMES) {
    const entry = ENTRIES[isNode(runtime) ? 'node' : (runtime as 'bun' | 'deno')];
    scripts.set(runtime, await bundle(fileURLToPath(new URL(`./runtimes/${entry}`, import.meta.url)), runtime));
    versions.set(runtime, await runtimeVersion(runtime));
  }
  const kinds: Kind[] = RUNTIMES.flatMap((runtime) =>
    VARIANTS.filter((variant) => variant !== 'node-http-raw' || isNode(runtime)).map((variant) => ({
      runtime,
      variant,
      script: scripts.get(runtime) as string,
      runs: [],
      failures: [],
    })),
  );
  let retried = 0;
  for (let round = 0; round < RUNS; round++) {
    // Interleaved (A B C, B C A, …), so that a slow minute on a shared machine is not one kind's.
    const order = kinds.map((_, i) => kinds[(i + round) % kinds.length] as Kind);
    for (const kind of order) {
      const name = `${kind.runtime} ${kind.variant}`.padEnd(22);
      try {
        let run: RunResult | undefined;
        for (let attempt = 1; !run; attempt++) {
          try {
            run = await measure(kind.runtime, kind.script, kind.variant);
          } catch (error) {
            if (!(error instanceof OpeningFailed) || attempt >= OPENING_ATTEMPTS) throw error;
            retried++;
            console.error(`${name} run ${round + 1}: could not open the streams (${error.message}); again in 30 s`);
            await sleep(OPENING_RETRY_WAIT_MS);
          }
        }
        kind.runs.push(run);
        console.error(
          `${name} run ${round + 1}: ${(run.rssPerStream / 1024).toFixed(1)} KiB RSS/stream, ${Math.round(run.eventsPerSec)} events/s, ${run.cpuMicrosPerEvent.toFixed(2)} µs CPU/event; opened in ${(run.openMs / 1000).toFixed(1)} s, fan-out ${(run.fanOutMs / 1000).toFixed(1)} s`,
        );
      } catch (error) {
        kind.failures.push((error as Error).message);
        console.error(`${name} run ${round + 1}: FAILED: ${(error as Error).message}`);
      }
    }
  }

  const rawOf = (kind: Kind) => kinds.find((k) => k.runtime === kind.runtime && k.variant === 'web-raw');
  const times = (kind: Kind, pick: (run: RunResult) => number) => {
    const raw = rawOf(kind);
    if (!raw || raw.runs.length === 0 || kind.runs.length === 0) return '–';
    const ratio = median(kind.runs.map(pick)) / median(raw.runs.map(pick));
    // A tiny run can use less CPU than /proc's 10 ms tick shows.
    return Number.isFinite(ratio) ? ratio.toFixed(2) : '–';
  };
  const ok = (kind: Kind) => `${kind.runs.length}/${RUNS}`;
  const label = (runtime: Runtime) => {
    const version = versions
      .get(runtime)
      ?.replace(/^(deno |v)/, '')
      .split(' ')[0];
    const name = isNode(runtime) ? 'Node' : runtime === 'bun' ? 'Bun' : 'Deno';
    return `${name} ${version}${runtime === 'node20' ? ' (host)' : ''}`;
  };
  /** A row per kind: which it is, the figures, and how many runs passed. */
  const rows = (...figures: ((kind: Kind) => string)[]) =>
    kinds.map((kind) => [
      label(kind.runtime),
      LABELS[kind.variant],
      ...figures.map((figure) => figure(kind)),
      ok(kind),
    ]);
  const lines = [
    `Measured ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} × ${cpus()[0]?.model.trim()}; \`pnpm bench:runtimes -- --streams ${STREAMS} --events ${EVENTS} --runs ${RUNS}\`; medians over the runs that passed (min–max); "× raw" is against the same runtime's raw Web-\`Response\` loop. Node's Web-\`Response\` server is \`@hono/node-server\`.`,
    '',
    `### Idle: ${grouped(STREAMS, 0)} streams open, resident set after GC`,
    '',
    table(
      ['runtime', 'variant', 'RSS KiB per stream', '× raw', 'heap KiB per stream', 'connections per GiB', 'runs ok'],
      rows(
        (kind) => spread(kind, (r) => r.rssPerStream / 1024),
        (kind) => times(kind, (r) => r.rssPerStream),
        (kind) => spread(kind, (r) => r.heapPerStream / 1024),
        (kind) => spread(kind, perGiB, 0),
      ),
    ),
    '',
    `### Fan-out: ${grouped(STREAMS, 0)} streams × ${EVENTS} events, one event per macrotask`,
    '',
    table(
      ['runtime', 'variant', 'delivered events/s', '× raw', 'server CPU µs per event', '× raw', 'runs ok'],
      rows(
        (kind) => spread(kind, (r) => r.eventsPerSec, 0),
        (kind) => times(kind, (r) => r.eventsPerSec),
        (kind) => spread(kind, (r) => r.cpuMicrosPerEvent, 2),
        (kind) => times(kind, (r) => r.cpuMicrosPerEvent),
      ),
    ),
  ];
  const failures = kinds.flatMap((kind) =>
    kind.failures.map((reason) => `- ${kind.runtime} ${kind.variant}: ${reason}`),
  );
  if (retried > 0)
    lines.push(
      '',
      `${retried} run(s) could not open their streams at first (ports held by other processes) and were started again.`,
    );
  if (failures.length > 0) lines.push('', '### Failed runs', '', ...failures);
  const markdown = `${lines.join('\n')}\n`;
  console.log(`\n${markdown}`);
  mkdirSync(path.dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, `# Every runtime: idle memory and fan-out\n\n${markdown}`);
  return failures.length > 0 ? 1 : 0;
}

process.exitCode = await main();
