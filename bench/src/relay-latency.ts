/**
 * What a subscribe call of the channels() routes costs when it reaches an instance that does
 * not hold the stream: answered by the instance that holds it (local), against relayed through
 * Redis by another instance (two broker messages, one to ask and one to answer). Two registries
 * with a RedisBroker each stand for two instances; they share one process, so the figures
 * are Redis round trips and the relay's own work, not a second process's scheduling.
 *
 * `pnpm --filter @ssekit/bench bench:relay` (needs `redis-server` on the PATH; seconds).
 * Options: --calls N (per run and kind, default 300), --streams N (open on the holder,
 * default 100), --runs N (default 3).
 */
import { parseArgs } from 'node:util';
import { ChannelRegistry, CursorKey, createChannelsRoute, createResponse, STREAM_EVENT } from '@ssekit/core';
import { RedisBroker } from '@ssekit/redis';
import { startRedis } from '../../packages/redis/test/redis-server.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '300' },
    streams: { type: 'string', default: '100' },
    runs: { type: 'string', default: '3' },
  },
});
const CALLS = Number(values.calls);
const STREAMS = Number(values.streams);
const RUNS = Number(values.runs);

const key = new CursorKey('the relay bench secret, 32 bytes or more');
const sorted = (list: number[]) => [...list].sort((a, b) => a - b);
const at = (list: number[], q: number) => sorted(list)[Math.min(list.length - 1, Math.floor(list.length * q))] ?? NaN;

async function instance(url: string) {
  const registry = new ChannelRegistry({ broker: new RedisBroker({ url }) });
  const route = createChannelsRoute<Request>(registry, { key }, (request) => request.url);
  return { registry, route };
}

/** Opens a stream on `holder` and resolves with its id, from the opening event. */
async function openStream(holder: Awaited<ReturnType<typeof instance>>, channel: string): Promise<string> {
  const request = new Request(`http://bench/events?channels=${channel}`);
  const response = createResponse(request, (stream) => holder.route.open(request, stream), { heartbeat: false });
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  let text = '';
  for (;;) {
    const { value } = await reader.read();
    text += decoder.decode(value, { stream: true });
    const match = new RegExp(`event: ${STREAM_EVENT}\\ndata: (.*)\\n`).exec(text);
    if (match) return (JSON.parse(match[1] as string) as { stream: string }).stream;
  }
}

/** Times `CALLS` subscribe and unsubscribe calls, in turn, for `stream` through `caller`, in ms. */
async function time(caller: Awaited<ReturnType<typeof instance>>, stream: string): Promise<number[]> {
  const times: number[] = [];
  for (let call = 0; call < CALLS; call++) {
    const change = call % 2 === 0 ? { subscribe: ['extra'] } : { unsubscribe: ['extra'] };
    const start = performance.now();
    const answer = await caller.route.change(new Request('http://bench/'), { stream, ...change });
    times.push(performance.now() - start);
    if (answer.status !== 200) throw new Error(`call ${call} answered ${answer.status}`);
  }
  return times;
}

const redis = await startRedis();
const results = { local: [] as number[][], relayed: [] as number[][] };
try {
  for (let run = 0; run < RUNS; run++) {
    const [holder, other] = [await instance(redis.url), await instance(redis.url)];
    const ids = await Promise.all(Array.from({ length: STREAMS }, (_, i) => openStream(holder, `bench-${i}`)));
    const stream = ids[0] as string;
    results.local.push(await time(holder, stream));
    results.relayed.push(await time(other, stream));
    await Promise.all([holder.registry.close(), other.registry.close()]);
  }
} finally {
  await redis.stop();
}

const median = (list: number[]) => at(list, 0.5);
console.log(
  `subscribe calls, ${CALLS} per run and kind, ${STREAMS} streams open on the holder; medians of ${RUNS} runs`,
);
console.log('| call answered by                    | p50 ms | p99 ms | p50 spread |');
console.log('| ----------------------------------- | -----: | -----: | ---------: |');
for (const [kind, label] of [
  ['local', 'the instance that holds the stream'],
  ['relayed', 'another instance, relayed via Redis'],
] as const) {
  const p50s = results[kind].map((times) => at(times, 0.5));
  const p99s = results[kind].map((times) => at(times, 0.99));
  const spread = (Math.max(...p50s) - Math.min(...p50s)) / 2;
  console.log(
    `| ${label.padEnd(35)} | ${median(p50s).toFixed(2).padStart(6)} | ${median(p99s).toFixed(2).padStart(6)} | ${`±${spread.toFixed(2)}`.padStart(10)} |`,
  );
}
