import { Readable } from 'node:stream';
import { endReason } from '../errors.js';
import { SinkState, type SseSink } from '../sink.js';
import type { NodeResponse } from './types.js';
import { whenFinished } from './when-finished.js';

/** A {@link SseSink} whose bytes are read from `body`, a Node `Readable`. */
export interface ReadableSink extends SseSink {
  /** The response body to hand to the framework. */
  readonly body: Readable;
}

/**
 * Creates a sink whose bytes are read from `body`, a Node `Readable`, for frameworks that
 * pipe a body into the response themselves (Koa). The body's read requests are the sink's
 * backpressure; destroying the body (as frameworks do when the response closes) aborts it.
 *
 * @param res - the response the body is piped into; `abort()` destroys it too, since a plain
 *   `body.pipe(res)` (Koa 2) leaves the response open when the body is destroyed.
 * @param highWaterMark - bytes the body queues before `write` returns `false`. Default 16 384.
 */
export function createReadableSink(res?: NodeResponse, highWaterMark = 16 * 1024): ReadableSink {
  const state = new SinkState();
  const body = new Readable({ highWaterMark, read: () => state.wakeWriter() });
  body.once('close', () => state.end(endReason('CLIENT_GONE')));
  // Some frameworks learn that the connection ended before they destroy the body.
  res?.once('close', () => state.end(endReason('CLIENT_GONE')));

  return {
    body,
    signal: state.signal,
    write: (chunk) => !state.ended && body.push(chunk),
    ready: () => state.waitForRoom(body.readableLength >= body.readableHighWaterMark),
    get pendingBytes() {
      const inBody = body.destroyed ? 0 : body.readableLength;
      if (!res) return inBody;
      return res.destroyed || res.writableFinished ? 0 : inBody + res.writableLength;
    },
    close(reason, onTaken) {
      if (state.ended) return;
      if (!body.readableEnded) body.push(null);
      state.end(reason);
      if (!onTaken) return;
      if (res) whenFinished(res, onTaken);
      else body.once('close', onTaken);
    },
    abort(reason) {
      state.end(reason);
      body.destroy();
      if (!res?.writableFinished) res?.destroy();
    },
  };
}
