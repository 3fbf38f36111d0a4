/**
 * `ssekit-express`: Express 5 with `@ssekit/express`'s `sse()` and a `ChannelRegistry`
 * channel; each event is published once to the channel. When bursting, the publisher waits
 * on the subscribers' `drain()`.
 */
import { createServer } from 'node:http';
import { ChannelRegistry, type SseStream } from '@ssekit/core';
import { sse } from '@ssekit/express';
import express from 'express';
import type { Variant } from '../variant.js';
import { drainAll, largestQueue } from './ssekit-shared.js';

export function createVariant(): Variant {
  const registry = new ChannelRegistry();
  const channel = registry.channel('bench');
  const streams = new Set<SseStream>();
  const app = express();
  app.get('/events', sse(), (_req, res) => {
    streams.add(res.sse);
    res.sse.signal.addEventListener('abort', () => streams.delete(res.sse));
    channel.subscribe(res.sse);
  });
  return {
    server: createServer(app),
    open: () => channel.size,
    publish(event) {
      void channel.publish(event, { id: event.seq });
    },
    settle: (bursting) => (bursting ? drainAll(streams) : undefined),
    queuedBytes: () => largestQueue(streams),
  };
}
