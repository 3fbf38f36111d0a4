/**
 * `raw`: the practical limit of plain `node:http`. Each event is encoded once into a Buffer
 * and the same Buffer is written to every response; a response whose `write` returns false
 * is waited for (`drain`) before the next event, and cut off if it stalls.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { Variant } from '../variant.js';
import { drainOrCut, HEADERS } from './raw-shared.js';

export function createVariant(): Variant {
  const clients = new Set<ServerResponse>();
  const full = new Set<ServerResponse>();
  const server = createServer((_req, res) => {
    res.writeHead(200, HEADERS);
    res.write(':\n\n');
    clients.add(res);
    res.once('close', () => {
      clients.delete(res);
      full.delete(res);
    });
  });
  return {
    server,
    open: () => clients.size,
    publish(event) {
      const frame = Buffer.from(`id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);
      for (const res of clients) if (!res.write(frame)) full.add(res);
    },
    settle() {
      if (full.size === 0) return undefined;
      const waits = [...full].map(drainOrCut);
      full.clear();
      return Promise.all(waits).then(() => {});
    },
  };
}
