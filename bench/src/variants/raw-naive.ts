/**
 * `raw-naive`: the loop most tutorials show. The frame string is built for each client, and
 * `write`'s return value is ignored, so a slow client's bytes pile up in memory.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { Variant } from '../variant.js';
import { startByHand } from './raw-shared.js';

export function createVariant(): Variant {
  const clients = new Set<ServerResponse>();
  const server = createServer((_req, res) => {
    startByHand(res);
    clients.add(res);
    res.once('close', () => clients.delete(res));
  });
  return {
    server,
    open: () => clients.size,
    publish(event) {
      for (const res of clients) res.write(`id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);
    },
    settle: () => undefined,
  };
}
