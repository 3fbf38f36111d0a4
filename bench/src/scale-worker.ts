/**
 * One server process of `pnpm bench:scale`, a `node:cluster` worker: `redis-instance.ts`
 * (`node:http`, `createStream`, one channel of a registry over a `RedisBroker`), listening on
 * the port every worker shares; the primary hands each connection to the next worker in turn.
 * Asked for its count of open streams, it also reports its memory after GC.
 */
import type { ToInstance } from './redis-instance.js';
import './redis-instance.js';

export type FromWorker = { type: 'memory'; rss: number; heapUsed: number };

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run the workers with --expose-gc: memory per stream is read after GC');

process.on('message', (message: ToInstance) => {
  if (message.type !== 'count') return;
  gc();
  gc();
  const { rss, heapUsed } = process.memoryUsage();
  process.send?.({ type: 'memory', rss, heapUsed } satisfies FromWorker);
});
