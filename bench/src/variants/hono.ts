/**
 * `hono`: Hono's own `streamSSE` helper on `@hono/node-server`. Each request's handler
 * registers a writer; each event is serialized once and handed to every writer's
 * `writeSSE`. When bursting, the publisher awaits those writes, Hono's backpressure.
 */
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import type { Variant } from '../variant.js';

type Writer = (message: { data: string; id: string }) => Promise<void>;

export function createVariant(): Variant {
  const writers = new Set<Writer>();
  let writes: Promise<void>[] = [];
  const app = new Hono();
  app.get('/events', (c) =>
    streamSSE(c, async (stream) => {
      const writer: Writer = (message) => stream.writeSSE(message);
      writers.add(writer);
      await new Promise<void>((resolve) => stream.onAbort(resolve));
      writers.delete(writer);
    }),
  );
  return {
    server: createAdaptorServer({ fetch: app.fetch }) as Server,
    open: () => writers.size,
    publish(event) {
      const message = { data: JSON.stringify(event), id: String(event.seq) };
      for (const write of writers) writes.push(write(message));
    },
    settle(bursting) {
      const pending = writes;
      writes = [];
      return bursting ? Promise.all(pending).then(() => {}) : undefined;
    },
  };
}
