/**
 * `sse-channel`: one `SseChannel` with JSON encoding; each event is one `send`. The library
 * has no way to wait for slow clients.
 */
import { createServer } from 'node:http';
import SseChannel from 'sse-channel';
import type { Variant } from '../variant.js';

export function createVariant(): Variant {
  const channel = new SseChannel({ jsonEncode: true, historySize: 0 });
  const server = createServer((req, res) => channel.addClient(req, res));
  return {
    server,
    open: () => channel.getConnectionCount(),
    publish(event) {
      channel.send({ id: String(event.seq), data: event });
    },
    settle: () => undefined,
  };
}
