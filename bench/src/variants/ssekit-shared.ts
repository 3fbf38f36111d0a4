import type { Channel, SseStream } from '@ssekit/core';
import type { BenchEvent } from '../shared.js';
import type { Variant } from '../variant.js';

/** Waits until every stream has sent what it holds (or ended). */
export function drainAll(streams: Iterable<SseStream>): Promise<void> {
  return Promise.all(Array.from(streams, (stream) => stream.drain())).then(() => {});
}

export function largestQueue(streams: Iterable<SseStream>): number {
  let largest = 0;
  for (const stream of streams) largest = Math.max(largest, stream.bufferedBytes);
  return largest;
}

/**
 * Publishing through one channel: `subscribe` adds a stream to it (and to the streams the
 * publisher waits on when bursting); each event is published once.
 */
export function channelFanout(channel: Channel) {
  const streams = new Set<SseStream>();
  return {
    subscribe(stream: SseStream): void {
      streams.add(stream);
      stream.onClose(() => streams.delete(stream));
      channel.subscribe(stream);
    },
    open: () => channel.size,
    publish(event: BenchEvent): void {
      void channel.publish(event, { id: event.seq });
    },
    settle: (bursting: boolean) => (bursting ? drainAll(streams) : undefined),
    queuedBytes: () => largestQueue(streams),
  } satisfies Omit<Variant, 'server'> & { subscribe(stream: SseStream): void };
}
