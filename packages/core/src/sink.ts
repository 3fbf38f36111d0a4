import type { SseError } from './errors.js';

/**
 * Where a stream's bytes go: one small contract that each runtime implements once (a Node
 * response, a Web `ReadableStream`), so that {@link SseStream} holds all the logic. Its
 * `signal` is the stream's signal: a disconnect flows through one `AbortSignal`.
 */
export interface SseSink {
  /**
   * Hands a chunk to the transport, which always takes it. Returns `false` when the
   * transport's own buffer is full: write nothing more until {@link SseSink.ready} resolves.
   */
  write(chunk: Uint8Array): boolean;
  /** Resolves when the transport can take more bytes, or when it has ended. */
  ready(): Promise<void>;
  /**
   * Bytes written that the transport still holds, not yet passed on towards the client; 0
   * once they have all gone, or the transport has ended. After `close`, the stream watches it
   * fall to tell a client that is taking its last bytes from one that takes nothing.
   */
  readonly pendingBytes: number;
  /**
   * Ends the response after the bytes already written, and aborts `signal` with `reason` at
   * once. Calls `onTaken` once, when those bytes are all out or the transport has ended
   * (at once if they are). Harmless when already ended.
   */
  close(reason: SseError, onTaken?: () => void): void;
  /**
   * Ends the response at once, dropping bytes not yet sent: for a client that stopped
   * reading, whose connection would otherwise stay open forever. Aborts `signal` with
   * `reason` unless it has aborted already. Also after `close`, for a client that does not
   * take its last bytes; harmless once the transport has ended.
   */
  abort(reason: SseError): void;
  /**
   * Aborted once, when the sink ends: with the reason given to `close` or `abort`, or with
   * `endReason('CLIENT_GONE')` when the transport ends by itself (the client went away).
   */
  readonly signal: AbortSignal;
  /**
   * Optional: calls `listener` once when the sink ends, with the reason `signal` aborts with,
   * before `signal` aborts. Returns `false`, keeping nothing, when the sink has ended already.
   * A sink that has it lets the stream leave `signal` unmade until someone reads it: an
   * `AbortSignal` with a listener is about 1 KB, most of an idle stream's own memory.
   */
  whenEnded?(listener: (reason: SseError) => void): boolean;
}

/**
 * @internal What every sink does the same way: end once, and wake a writer that waits for
 * room. The Node socket sink extends it (one object per stream, not two); the others hold one.
 * Its `signal` is made when first read (see {@link SseSink.whenEnded}).
 */
export class SinkState {
  #ended: AbortController | undefined;
  #endedWith: SseError | undefined;
  #onEnd: ((reason: SseError) => void) | undefined;
  #waiting: (() => void) | undefined;
  /** Read on every write: a plain field is cheaper than `signal.aborted`. */
  ended = false;

  /** The sink's {@link SseSink.signal}; already aborted when made after the end. */
  get signal(): AbortSignal {
    if (!this.#ended) {
      this.#ended = new AbortController();
      if (this.#endedWith) this.#ended.abort(this.#endedWith);
    }
    return this.#ended.signal;
  }

  /** {@link SseSink.whenEnded}, for one listener: the stream's. */
  whenEnded(listener: (reason: SseError) => void): boolean {
    if (this.ended) return false;
    this.#onEnd = listener;
    return true;
  }

  /** {@link SseSink.ready}: at once unless `full`, or after the next {@link wakeWriter}. */
  waitForRoom(full: boolean): Promise<void> {
    if (!full || this.ended) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#waiting = resolve;
    });
  }

  /** The transport has room again, or has ended. */
  wakeWriter(): void {
    const waiting = this.#waiting;
    this.#waiting = undefined;
    waiting?.();
  }

  /**
   * Ends the sink once: wakes its writer, tells the `whenEnded` listener, then aborts `signal`
   * with `reason` if it was made. Harmless when ended.
   */
  end(reason: SseError): void {
    if (this.ended) return;
    this.ended = true;
    this.#endedWith = reason;
    this.wakeWriter();
    const onEnd = this.#onEnd;
    this.#onEnd = undefined;
    try {
      onEnd?.(reason);
    } finally {
      this.#ended?.abort(reason);
    }
  }
}
