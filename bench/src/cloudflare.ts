/**
 * @ssekit/cloudflare in workerd: N streams of one channel, half on each of two Worker
 * services (two isolates) bound to one Durable Object namespace, fed by publishes from
 * other requests. Prints publish→receive p50/p99 over every (stream, event), workerd's
 * memory per stream, and whether the channel's object slept while the streams stayed open.
 * The same streams on the in-memory broker (one isolate) are the reference.
 *
 * `pnpm bench:cloudflare` (or `pnpm --filter @ssekit/bench bench:cloudflare`).
 * Options: --streams N (default 1000), --events N (default 100), --rate N (events/s,
 * default 20), --runs N (default 3), --idle S (seconds without a publish before the last
 * one, to let the object be evicted; default 12, 0 to skip).
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { prepare, startWorkerd, type Workerd } from '../../packages/cloudflare/test/workerd.js';
import { residentBytes } from '../../test/runtimes/launch.js';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '1000' },
    events: { type: 'string', default: '100' },
    rate: { type: 'string', default: '20' },
    runs: { type: 'string', default: '3' },
    idle: { type: 'string', default: '12' },
  },
});
const STREAMS = Number(values.streams);
const EVENTS = Number(values.events);
const RATE = Number(values.rate);
const RUNS = Number(values.runs);
const IDLE_S = Number(values.idle);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const clock = () => performance.timeOrigin + performance.now();
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
const percentile = (sorted: Float64Array, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });

interface Stream {
  received: number;
  close(): void;
}

/** Opens a stream and records the latency of each event, whose data is its publish time. */
function openStream(url: string, latencies: number[]): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const stream: Stream = { received: 0, close: () => request.destroy() };
    let rest = '';
    const request = http.get(url, { agent, headers: { Accept: 'text/event-stream' } }, (response) => {
      response.setEncoding('utf8');
      response.once('data', () => resolve(stream));
      response.on('data', (chunk: string) => {
        const at = clock();
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.startsWith('data: ')) continue;
          stream.received++;
          latencies.push(at - Number(line.slice(6)));
        }
      });
      response.on('error', () => {});
    });
    request.on('error', reject);
  });
}

async function openAll(urls: string[], latencies: number[]): Promise<Stream[]> {
  const streams: Stream[] = [];
  // In batches: a thousand connects at once overflow the listen backlog.
  for (let i = 0; i < urls.length; i += 100) {
    streams.push(...(await Promise.all(urls.slice(i, i + 100).map((url) => openStream(url, latencies)))));
  }
  return streams;
}

async function publishAll(publishUrls: string[], count: number): Promise<void> {
  const interval = 1000 / RATE;
  const start = clock();
  for (let i = 0; i < count; i++) {
    const wait = start + i * interval - clock();
    if (wait > 0) await sleep(wait);
    const response = await fetch(publishUrls[i % publishUrls.length] as string, {
      method: 'POST',
      body: String(clock()),
    });
    if (!response.ok) throw new Error(`publish answered ${response.status}: ${await response.text()}`);
  }
}

async function inspect(server: Workerd, room: string) {
  return (await fetch(`${server.url}/object/${room}/inspect`)).json() as Promise<{
    links: number;
    constructions: number;
  }>;
}

interface RunResult {
  p50: number;
  p99: number;
  kbPerStream: number;
  delivered: number;
  links?: number;
  slept?: boolean;
}

type Kind = 'durable-objects' | 'memory' | 'raw';
const KINDS: readonly Kind[] = ['durable-objects', 'memory', 'raw'];
const LABELS: Record<Kind, string> = {
  'durable-objects': 'DurableObjectBroker',
  memory: 'MemoryBroker',
  raw: 'raw ReadableStream controllers',
};

async function run(kind: Kind, server: Workerd, index: number): Promise<RunResult> {
  const room = `bench-${kind}-${index}-${Date.now().toString(36)}`;
  const prefix = kind === 'memory' ? '/local' : kind === 'raw' ? '/raw' : '';
  // The in-memory broker and the raw loop reach one isolate: their streams all go to the first service.
  const bases = kind === 'durable-objects' ? [server.url, server.secondUrl] : [server.url];
  const latencies: number[] = [];
  // Warm both isolates and the object first, so that their start is not counted per stream.
  const warm = await openAll(
    bases.map((base) => `${base}${prefix}/events/${room}-warm`),
    [],
  );
  await sleep(500);
  const before = residentBytes(server.pid);
  const streams = await openAll(
    Array.from({ length: STREAMS }, (_, i) => `${bases[i % bases.length]}${prefix}/events/${room}`),
    latencies,
  );
  await sleep(2_000);
  const after = residentBytes(server.pid);
  const publishUrls = bases.map((base) => `${base}${prefix}/publish/${room}`);
  await publishAll(publishUrls, EVENTS);
  let slept: boolean | undefined;
  let links: number | undefined;
  let total = EVENTS;
  if (kind === 'durable-objects') {
    links = (await inspect(server, room)).links;
    if (IDLE_S > 0) {
      const { constructions } = await inspect(server, room);
      await sleep(IDLE_S * 1000);
      await publishAll(publishUrls, 1);
      total++;
      slept = (await inspect(server, room)).constructions > constructions;
    }
  }
  const deadline = Date.now() + 30_000;
  while (streams.some((stream) => stream.received < total) && Date.now() < deadline) await sleep(50);
  const delivered = streams.reduce((sum, stream) => sum + stream.received, 0);

  for (const stream of [...streams, ...warm]) stream.close();
  // The idle publish's latency includes the object's wake-up: measured, but not in p50/p99.
  const sorted = Float64Array.from(latencies.slice(0, STREAMS * EVENTS)).sort();
  return {
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    kbPerStream: (after - before) / STREAMS / 1024,
    delivered,
    links,
    slept,
  };
}

async function main(): Promise<void> {
  const results: Record<Kind, RunResult[]> = { 'durable-objects': [], memory: [], raw: [] };
  for (let index = 0; index < RUNS; index++) {
    for (const kind of KINDS) {
      // A fresh workerd per run and kind: memory read from a process that held nothing else.
      const { dir, remove } = await prepare();
      const server = await startWorkerd(dir);
      try {
        const result = await run(kind, server, index);
        results[kind].push(result);
        console.error(`run ${index + 1} ${kind}: ${JSON.stringify(result)}`);
      } finally {
        await server.kill();
        remove();
      }
    }
  }
  console.log(
    `\n${STREAMS} streams of one channel, ${EVENTS} events at ${RATE}/s, ${RUNS} runs; medians over runs (min–max)\n`,
  );
  console.log(
    '| broker | isolates | delivered per run | p50 ms | p99 ms | workerd KB per stream | links at the object | object slept with streams open |',
  );
  console.log('| --- | --: | --: | --: | --: | --: | --: | --- |');
  for (const kind of KINDS) {
    const runs = results[kind];
    const span = (pick: (r: RunResult) => number, digits = 1) =>
      `${median(runs.map(pick)).toFixed(digits)} (${Math.min(...runs.map(pick)).toFixed(digits)}–${Math.max(...runs.map(pick)).toFixed(digits)})`;
    const expected = STREAMS * (kind === 'durable-objects' && IDLE_S > 0 ? EVENTS + 1 : EVENTS);
    const slept = runs.map((r) => (r.slept === undefined ? 'not checked' : r.slept ? 'yes' : 'no')).join(', ');
    console.log(
      `| ${LABELS[kind]} | ${kind === 'durable-objects' ? 2 : 1} | ${median(runs.map((r) => r.delivered))} of ${expected} | ${span((r) => r.p50, 2)} | ${span((r) => r.p99, 2)} | ${span((r) => r.kbPerStream)} | ${runs[0]?.links ?? '–'} | ${kind === 'durable-objects' ? slept : '–'} |`,
    );
  }
}

await main();
