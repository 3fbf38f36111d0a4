/**
 * The soak test's server: `node:http` with `createStream`, each stream subscribed to one
 * channel that publishes now and then. Told to, it reports what it holds after two GCs:
 * heap, open handles and file descriptors.
 */
import { readdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChannelRegistry, readMetrics } from '@ssekit/core';
import { createStream } from '@ssekit/core/node';

export interface SoakReport {
  heapUsed: number;
  rss: number;
  handles: number;
  fds: number;
  openStreams: number;
  channels: number;
}

const registry = new ChannelRegistry({ history: { size: 100 } });
const server = http.createServer((req, res) => {
  const stream = createStream(req, res);
  registry.channel('soak').subscribe(stream);
});
server.keepAliveTimeout = 1_000;
server.listen(0, '127.0.0.1', () =>
  process.send?.({ type: 'listening', port: (server.address() as AddressInfo).port }),
);
const ticker = setInterval(() => void registry.channel('soak').publish({ at: Date.now() }), 100);

function report(): SoakReport {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
  return {
    heapUsed: process.memoryUsage().heapUsed,
    rss: process.memoryUsage().rss,
    handles: process.getActiveResourcesInfo().length,
    fds: readdirSync('/proc/self/fd').length,
    openStreams: readMetrics().openStreams,
    channels: registry.names().length,
  };
}

process.on('message', (message: { type: string }) => {
  if (message.type === 'report') setTimeout(() => process.send?.({ type: 'report', report: report() }), 200);
});
process.on('disconnect', () => {
  clearInterval(ticker);
  process.exit(0);
});
