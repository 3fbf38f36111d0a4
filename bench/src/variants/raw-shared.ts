import type { ServerResponse } from 'node:http';

export const HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
};

/** How long a hand-written server waits for one response's `drain` before giving up on it. */
const STALL_MS = 2000;

/** Resolves on `drain` or `close`; a response that does neither in time is destroyed. */
export function drainOrCut(res: ServerResponse): Promise<void> {
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
