import type { SseStream } from '@ssekit/core';

/** Waits until every stream has sent what it holds (or ended). */
export function drainAll(streams: Iterable<SseStream>): Promise<void> {
  return Promise.all(Array.from(streams, (stream) => stream.drain())).then(() => {});
}

export function largestQueue(streams: Iterable<SseStream>): number {
  let largest = 0;
  for (const stream of streams) largest = Math.max(largest, stream.bufferedBytes);
  return largest;
}
