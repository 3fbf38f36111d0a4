/**
 * One app instance of the Redis bench: `node:http` with a channel registry over a broker
 * (RedisBroker, or MemoryBroker for the one-process reference). Every stream subscribes to
 * one channel; told to, the instance also publishes the bench's events at a steady rate.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChannelRegistry, MemoryBroker } from '@ssekit/core';
import { createStream } from '@ssekit/core/node';
import { RedisBroker } from '@ssekit/redis';
import { benchEvent, DEFAULT_PAD_BYTES } from './shared.js';

export type ToInstance = { type: 'count' } | { type: 'publish'; events: number; perSecond: number };
export type FromInstance =
  | { type: 'listening'; port: number }
  | { type: 'count'; open: number }
  | { type: 'published'; refused: number };

const redisUrl = process.env.REDIS_URL;
const broker = redisUrl ? new RedisBroker({ url: redisUrl }) : new MemoryBroker();
if (broker instanceof RedisBroker) await broker.ready;
const registry = new ChannelRegistry({ broker });
const channel = registry.channel('bench');
let open = 0;

const server = http.createServer((req, res) => {
  const stream = createStream(req, res);
  open++;
  stream.signal.addEventListener('abort', () => open--);
  channel.subscribe(stream);
});
server.listen(0, '127.0.0.1', () => tell({ type: 'listening', port: (server.address() as AddressInfo).port }));

function tell(message: FromInstance): void {
  process.send?.(message);
}

// Each event at its scheduled time, each publish awaited: one publisher keeps Redis's order
// equal to the events' `seq`, which the load generator checks.
async function publish(events: number, perSecond: number): Promise<number> {
  const pad = 'x'.repeat(DEFAULT_PAD_BYTES);
  const start = performance.now();
  let refused = 0;
  for (let seq = 0; seq < events; seq++) {
    const due = start + (seq * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    for (;;) {
      try {
        await channel.publish(benchEvent(seq, pad));
        break;
      } catch {
        // Redis is away: give its client the turn it needs to reconnect.
        refused++;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }
  return refused;
}

process.on('message', (message: ToInstance) => {
  if (message.type === 'count') tell({ type: 'count', open });
  else void publish(message.events, message.perSecond).then((refused) => tell({ type: 'published', refused }));
});
process.on('disconnect', () => process.exit(0));
