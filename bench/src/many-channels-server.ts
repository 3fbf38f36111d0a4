/**
 * The server of `many-channels.ts`: node:http streams that follow the channels in `?channels=`
 * (through followChannels), or subscribe to one channel (`?plain=`). Reports its memory after GC.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ChannelRegistry, CursorKey, followChannels } from '@ssekit/core';
import { createStream } from '@ssekit/core/node';

const registry = new ChannelRegistry();
const key = new CursorKey('bench secret of thirty-two bytes or more');
let open = 0;
const server = http.createServer(async (req, res) => {
  const stream = createStream(req, res, { heartbeat: false });
  open++;
  stream.onClose(() => open--);
  const query = new URL(req.url ?? '/', 'http://x').searchParams;
  const plain = query.get('plain');
  if (plain) registry.channel(plain).subscribe(stream);
  else await followChannels(registry, stream, { channels: query.get('channels')?.split(',') ?? [], key });
});
server.listen(0, '127.0.0.1', () =>
  process.send?.({ type: 'listening', port: (server.address() as AddressInfo).port }),
);

process.on('message', async (message: { type: string; channel?: string }) => {
  if (message.type === 'publish') {
    await registry.channel(message.channel ?? '').publish({ n: 1 });
    process.send?.({ type: 'published' });
    return;
  }
  for (let i = 0; i < 3; i++) {
    globalThis.gc?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { heapUsed, rss } = process.memoryUsage();
  process.send?.({ type: 'report', report: { heapUsed, rss, open } });
});
