import type { Scenario } from './shared.js';

export const VARIANTS = [
  'raw',
  'raw-naive',
  'express-raw',
  'koa-raw',
  'ssekit-core',
  'ssekit-channel',
  'ssekit-express',
  'ssekit-koa',
  'better-sse',
  'hono',
  'sse-channel',
];

/** The full suite: what `pnpm bench` runs and the README's table shows. */
export const FULL: Scenario[] = [
  {
    name: 'fanout-1k',
    title: 'Fan-out: 1,000 streams × 1,000 events, one event per macrotask',
    streams: 1000,
    events: 1000,
    pace: { kind: 'macrotask' },
    timeoutMs: 120_000,
  },
  {
    name: 'fanout-10k',
    title: 'Fan-out: 10,000 streams × 100 events, one event per macrotask',
    streams: 10_000,
    events: 100,
    pace: { kind: 'macrotask' },
    timeoutMs: 120_000,
  },
  {
    name: 'throughput',
    title: 'Throughput: 10 streams × 100,000 events in bursts of 1,000',
    streams: 10,
    events: 100_000,
    pace: { kind: 'burst', size: 1000 },
    timeoutMs: 120_000,
  },
  {
    name: 'idle',
    title: 'Idle memory: 10,000 open streams, after GC',
    streams: 10_000,
    events: 0,
    pace: { kind: 'macrotask' },
    timeoutMs: 60_000,
  },
  {
    // 10 MB for the stalled stream, more than loopback's kernel buffers hold for a client
    // that does not read (up to 4 MiB sending, ~128 KiB receiving). A steady rate that every
    // variant keeps up with, so that the readers' rate and latency show the stalled one's cost.
    name: 'slow-consumer',
    title: 'Slow consumer: 100 streams read 10,000 events of 1 KB at 1,000/s while 1 stream stops reading',
    streams: 100,
    stalled: 1,
    compareWithoutStalled: true,
    events: 10_000,
    padBytes: 1000,
    pace: { kind: 'rate', perSecond: 1000 },
    timeoutMs: 120_000,
  },
  {
    name: 'latency',
    title: 'Latency: 10,000 streams, 100 events/s for 3 s (1 million deliveries a second)',
    streams: 10_000,
    events: 300,
    pace: { kind: 'rate', perSecond: 100 },
    timeoutMs: 60_000,
  },
  {
    name: 'latency-10',
    title: 'Latency: 10,000 streams, 10 events/s for 5 s (100,000 deliveries a second)',
    streams: 10_000,
    events: 50,
    pace: { kind: 'rate', perSecond: 10 },
    timeoutMs: 60_000,
  },
];

/** The same scenarios, small: `pnpm bench:quick`, which the test suite runs to catch breakage. */
export const QUICK: Scenario[] = [
  { ...(FULL[0] as Scenario), title: 'Fan-out: 200 × 200', streams: 200, events: 200, timeoutMs: 15_000 },
  { ...(FULL[1] as Scenario), title: 'Fan-out: 1,000 × 20', streams: 1000, events: 20, timeoutMs: 15_000 },
  {
    ...(FULL[2] as Scenario),
    title: 'Throughput: 2 × 10,000 in bursts of 500',
    streams: 2,
    events: 10_000,
    pace: { kind: 'burst', size: 500 },
    timeoutMs: 15_000,
  },
  { ...(FULL[3] as Scenario), title: 'Idle memory: 500 streams', streams: 500, timeoutMs: 15_000 },
  {
    ...(FULL[4] as Scenario),
    title: 'Slow consumer: 10 streams × 2,000 events, 1 stalled',
    streams: 10,
    events: 2000,
    timeoutMs: 15_000,
  },
  {
    ...(FULL[5] as Scenario),
    title: 'Latency: 500 streams, 100 events/s for 0.3 s',
    streams: 500,
    events: 30,
    timeoutMs: 15_000,
  },
];
