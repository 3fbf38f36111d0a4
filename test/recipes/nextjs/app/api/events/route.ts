import { createResponse } from '@ssekit/core';
import { stats } from '../../../lib/stats.js';

// A stream is never the same twice: render it for each request, on Node.js.
export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

/** The events every client gets, 200 ms apart; then the stream stays open. */
const SCRIPT = [
  { event: 'greeting', id: '1', data: 'hello' },
  { event: 'progress', id: '2', data: { done: 1, of: 2 } },
  { event: 'progress', id: '3', data: { done: 2, of: 2 } },
];

/** Resolves after `ms` (never, without it), or as soon as `signal` aborts. */
function pause(signal: AbortSignal, ms?: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = ms === undefined ? undefined : setTimeout(done, ms);
    if (signal.aborted) done();
    else signal.addEventListener('abort', done);
  });
}

export function GET(request: Request): Response {
  return createResponse(request, async (stream) => {
    stats.open++;
    stats.opened++;
    try {
      for (const [index, { event, id, data }] of SCRIPT.entries()) {
        if (index > 0) await pause(stream.signal, 200);
        if (stream.signal.aborted) return;
        stream.send(data, { event, id });
      }
      // Stay open (ssekit sends heartbeats) until the client leaves: the signal aborts then,
      // and the handler's work ends with it. A real app would await its own work here.
      await pause(stream.signal);
    } finally {
      stats.open--;
      stats.lastEndedAt = Date.now();
    }
  });
}
