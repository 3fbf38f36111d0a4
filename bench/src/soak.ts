/**
 * Soak: 100,000 connect/disconnect cycles (200 at a time) and 10,000 concurrent streams
 * against one server process; its heap, handles and file descriptors must come back to
 * where they started (after a warm-up), within a few bytes per stream. Bounded in count and time.
 *
 * `pnpm --filter @ssekit/bench bench:soak` (about two minutes). Options: --cycles N, --concurrent N.
 */
import { fork } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { SoakReport } from './soak-server.js';

const { values } = parseArgs({
  options: { cycles: { type: 'string', default: '100000' }, concurrent: { type: 'string', default: '10000' } },
});
const CYCLES = Number(values.cycles);
const CONCURRENT = Number(values.concurrent);
const PARALLEL = 200;
const WARM_UP = 10_000;
const DEADLINE = Date.now() + 10 * 60_000;

const server = fork(fileURLToPath(new URL('./soak-server.ts', import.meta.url)), [], {
  execArgv: ['--import', 'tsx', '--expose-gc'],
});
const port = await new Promise<number>((resolve) =>
  server.on('message', (message: { type: string; port?: number }) => {
    if (message.type === 'listening') resolve(message.port as number);
  }),
);

function report(): Promise<SoakReport> {
  return new Promise((resolve) => {
    const onMessage = (message: { type: string; report?: SoakReport }) => {
      if (message.type !== 'report') return;
      server.off('message', onMessage);
      resolve(message.report as SoakReport);
    };
    server.on('message', onMessage);
    server.send({ type: 'report' });
  });
}

/** Opens a stream and resolves once its first bytes arrived. */
function open(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('data', () => resolve(socket));
    socket.once('error', reject);
    socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);
  });
}

const closeAll = (sockets: Socket[]) =>
  Promise.all(sockets.map((s) => new Promise((r) => s.destroy().once('close', r))));
const settle = () => new Promise((resolve) => setTimeout(resolve, 1_500));
const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const line = (label: string, r: SoakReport) =>
  `${label.padEnd(28)} heap ${kb(r.heapUsed).padStart(9)}  rss ${kb(r.rss).padStart(9)}  handles ${String(r.handles).padStart(5)}  fds ${String(r.fds).padStart(5)}  open streams ${r.openStreams}  channels ${r.channels}`;

/** Opens and closes `count` streams, `PARALLEL` at a time; returns how many it managed. */
async function cycle(count: number): Promise<number> {
  let done = 0;
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (done < count && Date.now() < DEADLINE) {
        done++;
        await closeAll([await open()]);
      }
    }),
  );
  return done;
}

// A first round warms the code up (compiled code and lazily grown tables are not leaks).
await cycle(WARM_UP);
await settle();
const baseline = await report();
console.log(line(`baseline, after ${WARM_UP} warm-up cycles`, baseline));

const started = Date.now();
const cycles = await cycle(CYCLES);
const cycleSeconds = (Date.now() - started) / 1000;
await settle();
const afterCycles = await report();
console.log(line(`after ${cycles} cycles (${cycleSeconds.toFixed(0)} s)`, afterCycles));

const sockets: Socket[] = [];
let peakRss = 0;
for (let first = 0; first < CONCURRENT && Date.now() < DEADLINE; first += 250) {
  sockets.push(...(await Promise.all(Array.from({ length: Math.min(250, CONCURRENT - first) }, open))));
}
const atPeak = await report();
peakRss = atPeak.rss;
console.log(line(`${sockets.length} streams open`, atPeak));
await closeAll(sockets);
await settle();
const end = await report();
console.log(line('all closed', end));
server.disconnect();

const perCycle = (afterCycles.heapUsed - baseline.heapUsed) / cycles;
const perStream = (end.heapUsed - baseline.heapUsed) / Math.max(sockets.length, 1);
console.log(
  `\nheap growth: ${perCycle.toFixed(1)} B per connect/disconnect cycle, ${perStream.toFixed(1)} B per concurrent stream after all closed; ` +
    `handles ${end.handles - baseline.handles}; fds ${end.fds - baseline.fds}; open streams ${end.openStreams}; peak RSS ${kb(peakRss)}`,
);
// A leak holds something per stream: hundreds of bytes at least. What is left is tables
// that grew and do not shrink, and a sweep of weak references that waits for the next opens.
const leaked =
  end.openStreams !== 0 ||
  end.channels !== 0 ||
  end.fds > baseline.fds ||
  end.handles > baseline.handles ||
  perCycle > 16 ||
  perStream > 256;
if (leaked || cycles < CYCLES) {
  console.error(leaked ? 'FAILED: something was not released' : `FAILED: only ${cycles} cycles within the time bound`);
  process.exit(1);
}
console.log('passed: heap, handles and file descriptors back to baseline');
