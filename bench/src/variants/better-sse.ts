/**
 * `better-sse`: a session per request, registered on one channel; each event is one
 * `channel.broadcast`. The library has no way to wait for slow clients.
 */
import { createServer } from 'node:http';
import { createChannel, createSession } from 'better-sse';
import type { Variant } from '../variant.js';

export function createVariant(): Variant {
  const channel = createChannel();
  const server = createServer((req, res) => {
    createSession(req, res).then((session) => channel.register(session));
  });
  return {
    server,
    open: () => channel.sessionCount,
    publish(event) {
      channel.broadcast(event, 'message', { eventId: String(event.seq) });
    },
    settle: () => undefined,
  };
}
