import type { ServerResponse } from 'node:http';
import type { Writable } from 'node:stream';
import type { BenchEvent } from '../shared.js';

/** The event-stream headers a hand-written loop sends. */
export const HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/** How long a hand-written server waits for one response's `drain` before giving up on it. */
const STALL_MS = 2000;

/** Where a hand-written loop writes a client's bytes: its response, or a body the framework pipes. */
type Target = Pick<Writable, 'write' | 'on' | 'once' | 'off' | 'destroy'>;

/** Resolves on `drain` or `close`; a response that does neither in time is destroyed. */
function drainOrCut(res: Target): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    const timer = setTimeout(() => {
      res.destroy();
      done();
    }, STALL_MS);
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Starts an event stream on a response by hand: the head, and a comment so it goes out. */
export function startByHand(res: ServerResponse): void {
  res.writeHead(200, HEADERS);
  res.write(':\n\n');
}

/**
 * The `raw` loop, for any server whose route hands it responses: each event encoded once
 * into a Buffer written to every response; a response whose `write` returned false is
 * waited for before the next event (or burst), and cut off if it stalls.
 */
export function rawBroadcast() {
  const clients = new Set<Target>();
  const full = new Set<Target>();
  const add = (res: Target): void => {
    clients.add(res);
    res.once('close', () => {
      clients.delete(res);
      full.delete(res);
    });
  };
  return {
    count: () => clients.size,
    /** Starts the stream on a response by hand, and adds it. */
    open(res: ServerResponse): void {
      startByHand(res);
      add(res);
    },
    /** Adds a body whose head the framework sends. */
    add,
    publish(event: BenchEvent): void {
      const frame = Buffer.from(`id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);
      for (const res of clients) if (!res.write(frame)) full.add(res);
    },
    settle(): Promise<void> | undefined {
      if (full.size === 0) return undefined;
      const waits = [...full].map(drainOrCut);
      full.clear();
      return Promise.all(waits).then(() => {});
    },
  };
}
