import { endReason, SseError } from './errors.js';
import { checkRetry, formatComment, formatEvent, jsonSerializer, type Serializer } from './format.js';
import { type HeartbeatPlan, planHeartbeat, startHeartbeatChecks, stopHeartbeatChecks } from './heartbeat.js';
import { counters } from './metrics.js';
import { checkCountLimit, isTimerDelay, MAX_TIMER_MS } from './options.js';
import type { SseSink } from './sink.js';
import { inBurst, startBurst } from './turn.js';

/** Event names mapped to the type of their data, e.g. `{ tick: { n: number } }`. */
export type EventMap = Record<string, unknown>;

/** The data type of an event sent without a name, i.e. as `message`. */
export type MessageData<Events extends object> = 'message' extends keyof Events
  ? Events['message']
  : string extends keyof Events
    ? Events[string]
    : never;

/**
 * A stream whose events are not typed yet, as a framework's request context carries it:
 * `res.sse as SseStream<MyEvents>` compiles for any event map, type alias or interface
 * (TypeScript refuses the same cast from `SseStream<EventMap>`).
 */
// biome-ignore lint/suspicious/noExplicitAny: `any` is what lets one cast reach every event map.
export type UntypedSseStream = SseStream<any>;

/** Options of {@link SseStream.close}. */
export interface CloseOptions {
  /**
   * Reconnection delay in ms to tell the client before the end (a `retry:` line), e.g. a
   * random one per client so that they do not all come back at once. Default: none, so the
   * client keeps the delay it has. A non-negative integer.
   * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#concept-event-stream-reconnection-time
   */
  retry?: number;
}

/** Fields of an event besides its name and data. */
export interface SendOptions {
  /** Sets the client's last event id (sent back as `Last-Event-ID`); no CR, LF or NUL. */
  id?: string | number;
  /** Reconnection delay in ms the client should use from now on; a non-negative integer. */
  retry?: number;
}

/** One event for {@link SseStream.pipe}: its name (checked against `Events`), data and fields. */
export type StreamEvent<Events extends object = EventMap> =
  | { [K in keyof Events & string]: SendOptions & { event: K; data: Events[K] } }[keyof Events & string]
  | (SendOptions & { event?: undefined; data: MessageData<Events> });

/** What to do with an event that would take a stream's buffer past `maxBufferedBytes`. */
export type OverflowPolicy = 'close' | 'drop';

/** What an `onOverflow` function is told. */
export interface OverflowInfo {
  /** The stream whose client is too slow. */
  stream: SseStream;
  /** Bytes waiting for the client now. */
  bufferedBytes: number;
  /** Size of the frame that did not fit. */
  frameBytes: number;
}

/**
 * What an event stream does, whatever the runtime: its pace, its bounds, and where its
 * errors go. The response that carries it has options of its own (`SseStreamOptions`).
 */
export interface StreamOptions {
  /**
   * Reconnection delay in ms sent to the client when the stream opens (`retry:`).
   * Default: none, so the client keeps its own (about 3 s in browsers).
   * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#concept-event-stream-reconnection-time
   */
  retry?: number;
  /**
   * Milliseconds of silence after which a comment line is sent, or `false` for none.
   * Default 8 000: under Bun's 10 s idle timeout and well under the 60 s of nginx and
   * common load balancers. The stream checks twice per period, so no silence lasts longer.
   * A client that has taken no bytes for about four periods (at least three and a half)
   * while some wait is cut off
   * (`CLIENT_STALLED`), even when the producer waits on `drain()` and sends nothing new; the
   * same holds once the server has ended the stream, while its last bytes wait for the client
   * (with `false`, the default period counts for that).
   * On Cloudflare Workers no stream is silent for more than 500 ms, whatever this option:
   * workerd notices that a client left only when it writes to it.
   * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#authoring-notes
   */
  heartbeat?: number | false;
  /**
   * Turns non-string data into text; line breaks in its result become several `data:` lines.
   * Default `JSON.stringify`.
   * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#dispatchMessage
   */
  serializer?: Serializer;
  /**
   * Most bytes a stream keeps for a client that has fallen behind, beyond what the transport
   * itself buffers. Default 262 144 (256 KiB). A burst is not falling behind: within the turn
   * of the event loop in which the transport filled up, before the client could take anything,
   * the stream queues up to `maxBufferedBytes + maxEventBytes`. A frame always fits an empty
   * queue. Past the bound, `onOverflow` applies.
   * @see https://nodejs.org/api/stream.html#buffering
   */
  maxBufferedBytes?: number;
  /**
   * Largest event `send` and `pipe` accept, in bytes as encoded (field names and line breaks
   * included). A larger one throws `EVENT_TOO_LARGE` and nothing is written. Default 1 048 576
   * (1 MiB). Comments and `writeFrame` are not checked.
   */
  maxEventBytes?: number;
  /**
   * Policy when a frame does not fit in `maxBufferedBytes`: `'close'` (default) refuses it and
   * every later frame, and ends the stream after what was accepted, so the client gets every
   * event `send` accepted, then reconnects with `Last-Event-ID` and history fills the gap (a
   * client that takes none of it for the stall period of `heartbeat` is cut without the rest);
   * `'drop'` drops the frame and `send` returns `false`. A function decides per case; one
   * that throws counts as `'close'`, and its error goes to `onError`.
   * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#the-last-event-id-header
   */
  onOverflow?: OverflowPolicy | ((info: OverflowInfo) => OverflowPolicy);
  /**
   * Ends the stream after about this many ms (randomly 90 to 110%, so that streams opened
   * together do not all end together), e.g. so that long-lived clients spread over new
   * servers after a deploy. The client reconnects after its retry delay and resumes with
   * `Last-Event-ID`. Default: no limit.
   */
  maxLifetime?: number;
  /**
   * Told of the errors no caller could catch: a callback of these options that threw (an
   * `onOverflow` function, which then counts as `'close'`; `cors.origin` or the limiter's
   * `key`, which answer the request 500 with an empty body instead of opening a stream), an
   * `onClose` listener that threw when the stream ended, and, with `createResponse`, a
   * handler that threw or rejected (its stream is closed first).
   * Default: `console.error`, prefixed `[ssekit]` (on Koa, the app's `'error'` event). What
   * `onError` itself throws is logged the same way: a failing callback never ends the process.
   */
  onError?: (error: unknown) => void;
}

/**
 * @internal Tells `onError` of `error`, or the console when there is none (`what` says what
 * failed) or when `onError` throws too.
 */
export function reportError(onError: ((error: unknown) => void) | undefined, error: unknown, what: string): void {
  if (onError) {
    try {
      onError(error);
      return;
    } catch (onErrorFailed) {
      console.error('[ssekit] onError threw:', onErrorFailed);
      return;
    }
  }
  console.error(`[ssekit] ${what}:`, error);
}

/** What a sink's creator knows about the request, besides the options. */
export interface SseStreamInit extends StreamOptions {
  /** The client's last seen event id; see `readLastEventId`. */
  lastEventId?: string;
}

/** Default of {@link StreamOptions.heartbeat}. */
export const DEFAULT_HEARTBEAT_MS = 8_000;
/** Default of {@link StreamOptions.maxEventBytes} and `ChannelRegistryOptions.maxDataBytes`. */
export const DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;
/** Default of {@link StreamOptions.maxBufferedBytes}. */
export const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024;

const utf8 = new TextEncoder();
/** A lone comment line: it keeps the connection busy, and no client dispatches anything for it. */
const HEARTBEAT = utf8.encode(formatComment(''));
const retryLine = (retry: number) => utf8.encode(`retry: ${retry}\n`);

/**
 * @internal Stream options, checked and with their defaults filled in: planned once per
 * middleware or handler, and shared by every stream it opens.
 */
export interface StreamPlan {
  readonly heartbeat: HeartbeatPlan | undefined;
  /** What a stream writes first: its `retry:` line, or a heartbeat, so the client's `open` fires. */
  readonly opening: Uint8Array;
  readonly serializer: Serializer;
  readonly maxBufferedBytes: number;
  readonly maxEventBytes: number;
  readonly onOverflow: NonNullable<StreamOptions['onOverflow']>;
  readonly maxLifetime: number | undefined;
}

/** @internal Checks stream options, throwing {@link SseError} for invalid ones, and plans streams by them. */
export function planStream(options: StreamOptions): StreamPlan {
  const { heartbeat = DEFAULT_HEARTBEAT_MS, maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES, retry } = options;
  if (heartbeat !== false && !isTimerDelay(heartbeat)) {
    throw new SseError(
      'INVALID_OPTION',
      `heartbeat ${String(heartbeat)} must be a number of milliseconds from 1 to 2^31-1 (timers overflow past it), or false.`,
    );
  }
  if (!(typeof maxBufferedBytes === 'number' && maxBufferedBytes >= 0)) {
    throw new SseError(
      'INVALID_OPTION',
      `maxBufferedBytes ${String(maxBufferedBytes)} must be a number of bytes, 0 or more.`,
    );
  }
  checkCountLimit('maxEventBytes', options.maxEventBytes, 'bytes');
  const { maxLifetime } = options;
  if (
    maxLifetime !== undefined &&
    !(Number.isSafeInteger(maxLifetime) && maxLifetime > 0 && maxLifetime <= MAX_TIMER_MS)
  ) {
    throw new SseError('INVALID_OPTION', `maxLifetime ${String(maxLifetime)} must be whole ms from 1 to 2^31-1.`);
  }
  if (retry !== undefined) checkRetry(retry);
  return {
    heartbeat: planHeartbeat(heartbeat),
    // Shared bytes for the usual opening: nothing per stream is kept for it.
    opening: retry === undefined ? HEARTBEAT : retryLine(retry),
    serializer: options.serializer ?? jsonSerializer,
    maxBufferedBytes,
    maxEventBytes: options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
    onOverflow: options.onOverflow ?? 'close',
    maxLifetime,
  };
}

/**
 * One server-sent event stream to one client. Frames are validated and encoded at the call
 * site, written to the sink while it keeps up, and held in a bounded buffer while it does
 * not. The stream ends once, by either side; after that, writes return `false`.
 *
 * Create one with `createStream(req, res)` from `@ssekit/core/node`, `createResponse` for
 * fetch-style runtimes, or a framework adapter.
 *
 * @typeParam Events - optional map of event names to data types that `send` checks.
 */
export class SseStream<Events extends object = EventMap> {
  /** The client's last seen event id (`Last-Event-ID` header or `lastEventId` query parameter). */
  readonly lastEventId: string | undefined;

  readonly #sink: SseSink;
  readonly #serializer: Serializer;
  readonly #maxBufferedBytes: number;
  readonly #maxEventBytes: number;
  readonly #onOverflow: NonNullable<StreamOptions['onOverflow']>;
  readonly #onError: StreamOptions['onError'];
  /** The listeners of {@link SseStream.onClose}, in the order they were added; made by the first. */
  #closeListeners: ((reason: SseError) => void)[] | undefined;
  // Read on every write: a plain field, since reading `signal.aborted` costs a brand check.
  #closed = false;
  /** Frames held for a slow client; made when the first one is. */
  #queue: Uint8Array[] | undefined;
  #queuedBytes = 0;
  #waitingForSink = false;
  /** Marks the turn in which the transport filled up while the stream wrote to it; -1 otherwise. */
  #burst = -1;
  #drained: { promise: Promise<void>; resolve: () => void } | undefined;
  /** How often the heartbeat check runs while it runs, else undefined. */
  #checkInterval: number | undefined;
  #cutOffAfterChecks = 0;
  #wroteSinceCheck = true;
  #stalledChecks = 0;
  /** Set while a stream the server ended waits for its client to take its last bytes. */
  #lingering: { reason: SseError; pendingBytes: number } | undefined;

  /**
   * @param sink - where the bytes go.
   * @param init - options, and the client's last event id.
   * @param plan - @internal `init`'s stream options as already planned, by a middleware that
   *   checked them when it was built.
   * @throws {@link SseError} `INVALID_RETRY` / `INVALID_OPTION` for invalid options; the sink
   * is not written to then.
   */
  constructor(sink: SseSink, init: SseStreamInit = {}, plan: StreamPlan = planStream(init)) {
    this.lastEventId = init.lastEventId;
    this.#sink = sink;
    this.#serializer = plan.serializer;
    this.#maxBufferedBytes = plan.maxBufferedBytes;
    this.#maxEventBytes = plan.maxEventBytes;
    this.#onOverflow = plan.onOverflow;
    this.#onError = init.onError;

    // The stream learns of the end from the sink itself where it can: then no `AbortSignal`
    // is made for a stream whose `signal` nobody reads. Bound rather than an arrow field: no
    // context object per stream for it to close over.
    if (!(sink.whenEnded ? sink.whenEnded(this.#onEnd.bind(this)) : this.#listenToSignal(sink.signal))) {
      this.#closed = true;
      return;
    }
    counters.openStreams++;
    counters.streamsOpened++;
    // The first write also sends the response head, so the client's `open` fires now.
    this.#write(plan.opening);
    if (plan.maxLifetime !== undefined && !this.#closed) this.#endAfter(plan.maxLifetime);
    const { heartbeat } = plan;
    if (heartbeat && !this.#closed) {
      this.#checkEvery(heartbeat);
    }
  }

  // For a sink without `whenEnded`; false when its signal has aborted already.
  #listenToSignal(signal: AbortSignal): boolean {
    if (signal.aborted) return false;
    signal.addEventListener('abort', () => this.#onEnd(signal.reason as SseError), { once: true });
    return true;
  }

  /**
   * Aborted when the stream ends, by either side; `reason` is an {@link SseError} saying why:
   * `STREAM_CLOSED`, `CLIENT_GONE`, `BUFFER_OVERFLOW` or `CLIENT_STALLED`. Made when first
   * read (most of an idle stream's memory otherwise); it aborts after the `onClose` listeners
   * have run. To clean up, `onClose` costs less.
   */
  get signal(): AbortSignal {
    return this.#sink.signal;
  }

  /**
   * Calls `listener` once when the stream ends, by either side, with the reason (as on
   * `signal.reason`); at once if it has ended already, which a listener added to `signal`
   * would miss (a request refused by a limit, a client gone before the handler ran).
   * Returns a function that removes the listener. Called at once, what the listener throws
   * reaches the caller; called later, it goes to the stream's `onError`.
   *
   * @example
   * const timer = setInterval(() => stream.send(String(Date.now())), 1000);
   * stream.onClose(() => clearInterval(timer));
   */
  onClose(listener: (reason: SseError) => void): () => void {
    if (this.#closed) {
      listener(this.#sink.signal.reason as SseError);
      return () => {};
    }
    // A copy of exactly the right size (`concat`): `push` or a spread would give the array room
    // for 17 or more (150 bytes), and most streams have one or two listeners.
    this.#closeListeners = this.#closeListeners ? this.#closeListeners.concat(listener) : [listener];
    let added = true;
    return () => {
      const at = added && this.#closeListeners ? this.#closeListeners.indexOf(listener) : -1;
      added = false;
      if (at >= 0) this.#closeListeners?.splice(at, 1);
    };
  }

  /** Whether the stream has ended; writes then return `false`. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The bound on {@link SseStream.bufferedBytes}, from the options. */
  get maxBufferedBytes(): number {
    return this.#maxBufferedBytes;
  }

  /**
   * Bytes waiting for a slow client in the stream's own queue, beyond what the transport holds:
   * at most `maxBufferedBytes` once the client has had a chance to take them, up to
   * `maxBufferedBytes + maxEventBytes` within the turn of a burst.
   */
  get bufferedBytes(): number {
    return this.#queuedBytes;
  }

  /**
   * Sends one event. Returns `true` when the frame was written or buffered: it then reaches a
   * client that keeps reading, before the connection ends. `false` when the stream has ended
   * or the overflow policy refused it. To pace a producer, `await drain()`.
   *
   * @throws {@link SseError} for an invalid name, id or retry, `undefined` data (clients
   * dispatch no event without data; send `''` for an empty one), data the serializer cannot
   * handle, or an event over `maxEventBytes`; nothing is written then.
   */
  send<K extends keyof Events & string>(data: Events[K], options: SendOptions & { event: K }): boolean;
  send(data: MessageData<Events>, options?: SendOptions & { event?: undefined }): boolean;
  send(data: unknown, options?: SendOptions & { event?: string }): boolean {
    return this.#writeEvent(this.#encodeEvent(data, options));
  }

  /** Sends comment lines, which clients ignore (see `encodeComment`). */
  comment(text = ''): boolean {
    return this.#write(utf8.encode(formatComment(text)));
  }

  /**
   * Writes bytes that are already one or more complete frames, e.g. from `encode`, as they
   * are. For fan-out: encode once, write the same bytes to every stream. Do not change the
   * bytes afterwards: the Node sink keeps its HTTP framing of each frame for the next stream.
   */
  writeFrame(frame: Uint8Array): boolean {
    return this.#writeEvent(frame);
  }

  /** Resolves once the buffer is empty and the transport takes bytes again, or the stream ended. */
  drain(): Promise<void> {
    if (!this.#waitingForSink || this.closed) return Promise.resolve();
    if (!this.#drained) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#drained = { promise, resolve };
    }
    return this.#drained.promise;
  }

  /**
   * Sends each event of `source` in turn, waiting for a slow client between them. Resolves
   * when the source is done or the stream ends; then stops the source (`return()`), without
   * waiting for an item the source is still producing. Does not close the stream.
   *
   * @throws what the source throws, or {@link SseError} for an invalid event.
   */
  async pipe(source: AsyncIterable<StreamEvent<Events>> | Iterable<StreamEvent<Events>>): Promise<void> {
    const iterator: AsyncIterator<StreamEvent<Events>> | Iterator<StreamEvent<Events>> =
      Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
    // The stream's end settles whichever `next()` is pending, without waiting for the source.
    // A fresh promise per item: racing one long-lived promise would keep a callback per item.
    let stopWaiting: ((result: IteratorReturnResult<undefined>) => void) | undefined;
    const stopListening = this.onClose(() => stopWaiting?.({ done: true, value: undefined }));
    let sourceDone = false;
    try {
      while (!this.closed) {
        const next = await new Promise<IteratorResult<StreamEvent<Events>>>((resolve, reject) => {
          stopWaiting = resolve;
          Promise.resolve(iterator.next()).then(resolve, reject);
        });
        if (next.done) {
          sourceDone = !this.closed;
          return;
        }
        const { data, event, id, retry } = next.value;
        this.#writeEvent(this.#encodeEvent(data, { event, id, retry }));
        if (this.#waitingForSink) await this.drain();
      }
    } finally {
      stopListening();
      // An async generator that is still producing runs its `finally` at its next `yield`.
      if (!sourceDone) Promise.resolve(iterator.return?.()).catch(() => {});
    }
  }

  /**
   * Ends the stream after the bytes already buffered, which a client that keeps reading gets
   * (one that takes none of them for the stall period of `heartbeat` is cut). Harmless when
   * already closed. The client reconnects after its retry delay, or after `options.retry`; to stop it
   * for good, answer the next request with status 204.
   *
   * @throws {@link SseError} `INVALID_RETRY` for a retry that is not a non-negative integer;
   * the stream is left open then.
   */
  close(options?: CloseOptions): void {
    const hint = options?.retry === undefined ? undefined : retryLine(checkRetry(options.retry));
    if (this.#closed) return;
    if (hint) counters.bytesWritten += hint.byteLength;
    this.#endAfterQueue(endReason('STREAM_CLOSED'), hint);
  }

  // A timer only for streams that ask for one; it goes with the stream, whichever ends first.
  #endAfter(lifetime: number): void {
    const timer = setTimeout(() => this.close(), Math.min(lifetime * (0.9 + Math.random() * 0.2), MAX_TIMER_MS));
    this.onClose(() => clearTimeout(timer));
  }

  #encodeEvent(data: unknown, options: (SendOptions & { event?: string | undefined }) | undefined): Uint8Array {
    if (data === undefined) {
      throw new SseError(
        'INVALID_DATA',
        'event data is undefined, and clients dispatch no event without data. Send a value, or an empty string for an empty event.',
      );
    }
    const frame = utf8.encode(
      formatEvent({ data, event: options?.event, id: options?.id, retry: options?.retry }, this.#serializer),
    );
    if (frame.byteLength > this.#maxEventBytes) {
      throw new SseError(
        'EVENT_TOO_LARGE',
        `an event of ${frame.byteLength} bytes is over maxEventBytes (${this.#maxEventBytes}); nothing was sent.`,
      );
    }
    return frame;
  }

  /** {@link SseStream.#write} for an event: counted once it is written or buffered. */
  #writeEvent(frame: Uint8Array): boolean {
    if (!this.#write(frame)) return false;
    counters.eventsWritten++;
    return true;
  }

  #write(frame: Uint8Array): boolean {
    if (this.#closed) return false;
    this.#wroteSinceCheck = true;
    if (!this.#waitingForSink) {
      if (!this.#sink.write(frame) && !this.#closed) {
        this.#burst = startBurst(() => {
          this.#burst = -1;
        });
        this.#waitForSink();
      }
    } else {
      // A frame always fits an empty queue: one event is never an overflow by itself.
      const queued = this.#queuedBytes;
      if (queued > 0 && queued + frame.byteLength > this.#queueBound()) return this.#overflow(frame.byteLength);
      if (this.#queue) this.#queue.push(frame);
      else this.#queue = [frame];
      this.#queuedBytes += frame.byteLength;
    }
    counters.bytesWritten += frame.byteLength;
    return true;
  }

  // A burst is not a slow client: in the turn in which the transport filled up, the client
  // has had no chance to take anything, however fast it reads. From the next turn on, the
  // bound is on what it has failed to take.
  #queueBound(): number {
    return inBurst(this.#burst) ? this.#maxBufferedBytes + this.#maxEventBytes : this.#maxBufferedBytes;
  }

  #waitForSink(): void {
    this.#waitingForSink = true;
    this.#sink.ready().then(
      () => this.#onSinkReady(),
      (error: unknown) => this.#sink.abort(endReason('CLIENT_GONE', error)),
    );
  }

  #onSinkReady(): void {
    if (this.#closed) return;
    this.#stalledChecks = 0;
    // The transport had its chance: what it cannot take now is held to the bound, not a burst.
    this.#burst = -1;
    if (this.#queuedBytes > 0 && !this.#sink.write(this.#takeQueue())) {
      this.#waitForSink();
      return;
    }
    this.#waitingForSink = false;
    this.#resolveDrained();
  }

  // Several queued frames go out as one chunk: fewer, larger writes are what make
  // streaming fast (one system call and one HTTP/1.1 chunk instead of many).
  #takeQueue(): Uint8Array {
    const frames = this.#queue ?? [];
    const size = this.#queuedBytes;
    this.#queue = undefined;
    this.#queuedBytes = 0;
    if (frames.length === 1) return frames[0] as Uint8Array;
    const chunk = new Uint8Array(size);
    let offset = 0;
    for (const frame of frames) {
      chunk.set(frame, offset);
      offset += frame.byteLength;
    }
    return chunk;
  }

  #overflow(frameBytes: number): boolean {
    if (this.#overflowPolicy(frameBytes) === 'close' && !this.#closed) {
      counters.overflowCloses++;
      this.#endAfterQueue(endReason('BUFFER_OVERFLOW'));
    }
    return false;
  }

  // A policy function that throws counts as 'close': the bound holds whatever the callback
  // does, and its error goes to `onError` rather than out of the `send` that overflowed
  // (a channel's fan-out, say, which would blame the subscriber's filter).
  #overflowPolicy(frameBytes: number): OverflowPolicy {
    const onOverflow = this.#onOverflow;
    if (typeof onOverflow !== 'function') return onOverflow;
    try {
      return onOverflow({ stream: this as unknown as SseStream, bufferedBytes: this.#queuedBytes, frameBytes });
    } catch (error) {
      reportError(this.#onError, error, 'onOverflow threw, so the stream closes');
      return 'close';
    }
  }

  // An end by the server's choice: every frame accepted so far still goes out, then the
  // response ends; a client that keeps reading gets them all before its connection closes.
  // The heartbeat checks go on meanwhile, with the stall rule: a client that takes none of
  // those bytes for the stall period is cut, and the rest dropped.
  #endAfterQueue(reason: SseError, last?: Uint8Array): void {
    if (this.#closed) return;
    this.#lingering = { reason, pendingBytes: Number.POSITIVE_INFINITY };
    try {
      if (this.#queuedBytes > 0) this.#sink.write(this.#takeQueue());
      if (last) this.#sink.write(last);
      this.#sink.close(reason, () => this.#stopLingering());
    } finally {
      // Ended here even when the sink throws, or ends later than it should.
      this.#onEnd(reason);
    }
    const pendingBytes = this.#sink.pendingBytes;
    if (pendingBytes === 0) this.#stopLingering();
    else if (this.#lingering) this.#lingering.pendingBytes = pendingBytes;
  }

  // Checks a stream that waits for its client to take its last bytes.
  #checkLingering(lingering: { reason: SseError; pendingBytes: number }): void {
    const pendingBytes = this.#sink.pendingBytes;
    if (pendingBytes === 0) {
      this.#stopLingering();
    } else if (pendingBytes < lingering.pendingBytes) {
      lingering.pendingBytes = pendingBytes;
      this.#stalledChecks = 0;
    } else if (++this.#stalledChecks >= this.#cutOffAfterChecks) {
      this.#stopLingering();
      this.#sink.abort(lingering.reason);
    }
  }

  // The client took the last bytes, or the transport ended: nothing more to watch.
  #stopLingering(): void {
    if (!this.#lingering) return;
    this.#lingering = undefined;
    if (this.#closed && this.#checkInterval !== undefined) stopHeartbeatChecks(this.#checkInterval, this);
  }

  // A client that has taken nothing for the whole stall period is disconnected, not waited
  // for: it reconnects with Last-Event-ID, and its unsent bytes are not kept.
  #cutOffStalled(): void {
    if (this.#closed) return;
    counters.stallCloses++;
    const reason = endReason('CLIENT_STALLED');
    try {
      this.#sink.abort(reason);
    } finally {
      this.#onEnd(reason);
    }
  }

  // One function for every stream of a period (see `startHeartbeatChecks`), not a closure per stream.
  static #runCheck(stream: UntypedSseStream): void {
    stream.#checkHeartbeat();
  }

  #checkHeartbeat(): void {
    if (this.#lingering) {
      if (this.#closed) this.#checkLingering(this.#lingering);
      return;
    }
    if (this.#waitingForSink) {
      if (++this.#stalledChecks >= this.#cutOffAfterChecks) this.#cutOffStalled();
      return;
    }
    const idle = !this.#wroteSinceCheck;
    this.#wroteSinceCheck = false;
    if (idle && this.#write(HEARTBEAT)) counters.heartbeats++;
  }

  // The sink's end is the stream's: however the stream ends, this runs (harmless twice).
  #onEnd(reason: SseError): void {
    if (this.#closed) return;
    counters.openStreams--;
    this.#closed = true;
    this.#queue = undefined;
    this.#queuedBytes = 0;
    this.#stalledChecks = 0;
    if (this.#lingering) this.#keepChecking();
    else if (this.#checkInterval !== undefined) stopHeartbeatChecks(this.#checkInterval, this);
    this.#resolveDrained();
    const listeners = this.#closeListeners;
    this.#closeListeners = undefined;
    if (listeners) this.#tellClosed(listeners, reason);
  }

  // Called from within the stream's end, where a throw would reach whoever ended it.
  #tellClosed(listeners: ((reason: SseError) => void)[], reason: SseError): void {
    for (const listener of listeners) {
      try {
        listener(reason);
      } catch (error) {
        reportError(this.#onError, error, 'an onClose listener threw');
      }
    }
  }

  // A stream without heartbeats still bounds the wait for its last bytes, with the default period.
  #keepChecking(): void {
    if (this.#checkInterval === undefined) this.#checkEvery(planHeartbeat(DEFAULT_HEARTBEAT_MS) as HeartbeatPlan);
  }

  #checkEvery(plan: HeartbeatPlan): void {
    this.#checkInterval = plan.checkEvery;
    this.#cutOffAfterChecks = plan.cutOffAfterChecks;
    startHeartbeatChecks(plan.checkEvery, this, SseStream.#runCheck);
  }

  #resolveDrained(): void {
    this.#drained?.resolve();
    this.#drained = undefined;
  }
}

/** @internal A stream that has already ended, for a request that was answered without one. */
export function endedStream<Events extends object>(): SseStream<Events> {
  const ended = AbortSignal.abort(endReason('STREAM_CLOSED'));
  const sink: SseSink = {
    signal: ended,
    pendingBytes: 0,
    write: () => false,
    ready: () => Promise.resolve(),
    close() {},
    abort() {},
  };
  return new SseStream<Events>(sink);
}
