// What the three instances share: one Redis broker, the channel, and how they tell you
// who they are. Each instance file only wires these into its framework.
import type { AddressInfo } from 'node:net';
import { ChannelRegistry, type SseStream } from '@ssekit/core';
import { RedisBroker } from '@ssekit/redis';

/** This instance's name, shown on the page of every tab it serves. */
export const instance = process.env.INSTANCE ?? `pid ${process.pid}`;

const broker = new RedisBroker({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', history: { size: 1000 } });
/** Resolves once Redis is reachable; rejects with a typed error that names the server. */
export const ready = broker.ready;
export const registry = new ChannelRegistry({ broker });
export const FEED = 'feed';
/** Clients come back quickly after an instance goes away. */
export const RETRY_MS = 500;

export interface FeedMessage {
  text: string;
  /** Which instance the message was posted to. */
  from: string;
}

const MAX_TEXT = 500;

/**
 * Answers `POST /publish`: the message goes to every tab on every instance, through Redis.
 * 503 when Redis is down: the publish was refused, not lost, so the sender can try again.
 */
export async function publish(body: unknown): Promise<{ status: number; body: object }> {
  const text = typeof body === 'string' ? body.trim() : '';
  if (text === '' || text.length > MAX_TEXT) return { status: 400, body: { error: `1 to ${MAX_TEXT} characters` } };
  try {
    const message: FeedMessage = { text, from: instance };
    return { status: 201, body: { id: await registry.channel(FEED).publish(message) } };
  } catch (error) {
    return { status: 503, body: { error: error instanceof Error ? error.message : String(error) } };
  }
}

/**
 * Answers `GET /events`: tells the tab which instance it is on, then subscribes it to the
 * feed, resuming after its `Last-Event-ID` from history in Redis, whichever instance sent it.
 */
export function openFeed(stream: SseStream): void {
  stream.send(instance, { event: 'instance' });
  registry.channel(FEED).subscribe(stream);
}

/** Prints where the instance listens, in the form the front and the tests read. */
export function announce(address: AddressInfo | string | null): void {
  const port = typeof address === 'object' && address ? address.port : address;
  console.log(`${instance} listening on http://127.0.0.1:${port}`);
}

/** On SIGTERM, ends every stream with a retry hint (so its client moves on) and exits. */
export function closeOnSignal(close: () => void): void {
  process.once('SIGTERM', async () => {
    await registry.close();
    close();
    process.exit(0);
  });
}
