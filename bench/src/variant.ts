import type { Server } from 'node:http';
import type { BenchEvent } from './shared.js';

/**
 * One server under test. Each variant serves `GET /events` as an event stream and
 * publishes every event to every open stream the way its library means it to be used.
 */
export interface Variant {
  /** The server, not listening yet. */
  server: Server;
  /** Streams open now. */
  open(): number;
  /** Sends one event to every open stream. */
  publish(event: BenchEvent): void;
  /**
   * Called after each event (after each burst when bursting): a promise when the publisher
   * should wait for slow clients, as far as the library lets it know about them.
   */
  settle(bursting: boolean): Promise<void> | undefined;
  /** Bytes the library itself holds for its most backed-up client, beyond the socket's buffer. */
  queuedBytes?(): number;
}
