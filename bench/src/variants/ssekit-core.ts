/**
 * `ssekit-core`: `createStream` from `@ssekit/core/node`, each event encoded once with
 * `encode` and written to every stream with `writeFrame`. A slow client meets its stream's
 * bounded buffer; when bursting, the publisher waits on `drain()`.
 */
import { createServer } from 'node:http';
import { encode, type SseStream } from '@ssekit/core';
import { createStream } from '@ssekit/core/node';
import type { Variant } from '../variant.js';
import { drainAll, largestQueue } from './ssekit-shared.js';

export function createVariant(): Variant {
  const streams = new Set<SseStream>();
  const server = createServer((req, res) => {
    const stream = createStream(req, res);
    streams.add(stream);
    stream.onClose(() => streams.delete(stream));
  });
  return {
    server,
    open: () => streams.size,
    publish(event) {
      const frame = encode({ data: event, id: event.seq });
      for (const stream of streams) stream.writeFrame(frame);
    },
    settle: (bursting) => (bursting ? drainAll(streams) : undefined),
    queuedBytes: () => largestQueue(streams),
  };
}
