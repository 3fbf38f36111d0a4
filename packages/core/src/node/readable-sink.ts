import { Readable } from 'node:stream';
import { endReason, type SseError } from '../errors.js';
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
  return new BodySink(res, highWaterMark);
}

/** The body: its read requests wake the sink's writer. */
class SinkBody extends Readable {
  readonly #sink: SinkState;

  constructor(sink: SinkState, highWaterMark: number) {
    super({ highWaterMark });
    this.#sink = sink;
  }

  override _read(): void {
    this.#sink.wakeWriter();
  }
}

// A class, not a closure per method: at 10k streams every object per stream counts.
class BodySink extends SinkState implements ReadableSink {
  readonly body: Readable;
  readonly #res: NodeResponse | undefined;

  constructor(res: NodeResponse | undefined, highWaterMark: number) {
    super();
    this.#res = res;
    this.body = new SinkBody(this, highWaterMark);
    this.body.on('close', this.#onClose);
    // Some frameworks learn that the connection ended before they destroy the body.
    res?.on('close', this.#onClose);
  }

  write(chunk: Uint8Array): boolean {
    return !this.ended && this.body.push(chunk);
  }

  ready(): Promise<void> {
    return this.waitForRoom(this.body.readableLength >= this.body.readableHighWaterMark);
  }

  get pendingBytes(): number {
    const { body } = this;
    const res = this.#res;
    const inBody = body.destroyed ? 0 : body.readableLength;
    if (!res) return inBody;
    return res.destroyed || res.writableFinished ? 0 : inBody + res.writableLength;
  }

  close(reason: SseError, onTaken?: () => void): void {
    if (this.ended) return;
    if (!this.body.readableEnded) this.body.push(null);
    this.end(reason);
    if (!onTaken) return;
    if (this.#res) whenFinished(this.#res, onTaken);
    else this.body.once('close', onTaken);
  }

  abort(reason: SseError): void {
    this.end(reason);
    this.body.destroy();
    if (!this.#res?.writableFinished) this.#res?.destroy();
  }

  readonly #onClose = (): void => {
    this.end(endReason('CLIENT_GONE'));
  };
}
