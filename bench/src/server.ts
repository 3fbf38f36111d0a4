/**
 * A server process: loads one variant (argv[2]), listens on a free loopback port, and
 * publishes when the runner says so, measuring its own CPU time and memory.
 */
import type { Socket } from 'node:net';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import { writeHeapSnapshot } from 'node:v8';
import { benchEvent, type Pace, type ServerReport, type ToServer, tell } from './shared.js';
import type { Variant } from './variant.js';

const name = process.argv[2];
const { createVariant } = (await import(`./variants/${name}.ts`)) as {
  createVariant(): Variant | Promise<Variant>;
};
const variant = await createVariant();
const sockets = new Set<Socket>();
variant.server.on('connection', (socket: Socket) => {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
});

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const held = () => {
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
};

let cpuAtStart: NodeJS.CpuUsage | undefined;
let heldAtStart = 0;
let peakHeld = 0;
let maxClientBacklog = 0;
let idleBaseline = { rss: 0, heap: 0, committed: 0 };
const sampler = setInterval(() => {
  if (!cpuAtStart) return;
  peakHeld = Math.max(peakHeld, held() - heldAtStart);
  let socketBacklog = 0;
  for (const socket of sockets) socketBacklog = Math.max(socketBacklog, socket.writableLength);
  maxClientBacklog = Math.max(maxClientBacklog, socketBacklog + (variant.queuedBytes?.() ?? 0));
}, 50);
sampler.unref();

async function publish(events: number, pace: Pace, padBytes: number): Promise<void> {
  const pad = 'x'.repeat(padBytes);
  const startedAt = performance.now();
  for (let seq = 0; seq < events; seq++) {
    if (pace.kind === 'rate') {
      // Each event at its time; one that is late goes at once, but after a macrotask still,
      // so that the server's I/O goes on.
      const due = startedAt + (seq * 1000) / pace.perSecond - performance.now();
      if (due > 1) await sleep(due);
    }
    variant.publish(benchEvent(seq, pad));
    const bursting = pace.kind === 'burst';
    if (bursting && (seq + 1) % pace.size !== 0 && seq + 1 < events) continue;
    const wait = variant.settle(bursting);
    if (wait) await wait;
    await immediate();
  }
}

async function report(idle: boolean): Promise<ServerReport> {
  const cpu = process.cpuUsage(cpuAtStart);
  const result: ServerReport = {
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    peakRss: process.resourceUsage().maxRSS * 1024,
    peakHeldBytes: peakHeld,
    maxClientBacklog,
  };
  if (idle) {
    await sleep(500);
    gc();
    gc();
    const { rss, heapUsed, heapTotal } = process.memoryUsage();
    result.idle = {
      rssBefore: idleBaseline.rss,
      heapBefore: idleBaseline.heap,
      committedBefore: idleBaseline.committed,
      rssAfter: rss,
      heapAfter: heapUsed,
      committedAfter: heapTotal,
    };
    // For `bench:heap`: what the idle streams hold, object by object (after the figures above).
    const snapshotDir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
    if (snapshotDir) writeHeapSnapshot(`${snapshotDir}/${name}.heapsnapshot`);
  }
  return result;
}

// A normal exit, so that `--cpu-prof` writes its profile.
process.on('SIGTERM', () => process.exit(0));

process.on('message', (message: ToServer) => {
  switch (message.type) {
    case 'count':
      tell({ type: 'count', open: variant.open() });
      break;
    case 'baseline': {
      gc();
      gc();
      const { rss, heapUsed, heapTotal } = process.memoryUsage();
      idleBaseline = { rss, heap: heapUsed, committed: heapTotal };
      tell({ type: 'baseline' });
      break;
    }
    case 'start':
      gc();
      heldAtStart = held();
      cpuAtStart = process.cpuUsage();
      publish(message.events, message.pace, message.padBytes).then(() => tell({ type: 'published' }));
      break;
    case 'report':
      report(message.idle).then((result) => tell({ type: 'report', report: result }));
      break;
  }
});

variant.server.listen(0, '127.0.0.1', () => {
  const address = variant.server.address();
  if (address && typeof address === 'object') tell({ type: 'listening', port: address.port });
});
