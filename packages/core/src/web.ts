import { endReason, SseError } from './errors.js';
import { prepareOpening, type SseStreamOptions } from './open.js';
import { READ_REQUEST_SIGNAL } from './runtime.js';
import { SinkState, type SseSink } from './sink.js';
import { type EventMap, reportError, type SseStream, type UntypedSseStream } from './stream.js';

/** Options of {@link createResponse}. */
export interface CreateResponseOptions extends SseStreamOptions<Request> {
  /**
   * Bytes the response body queues before the stream counts the client as slow and starts
   * its own bounded buffer. Default 16 384, like Node's sockets.
   */
  highWaterMark?: number;
  /**
   * Given the handler's promise, to keep the request alive until the handler settles. For
   * Cloudflare Workers, which drop a request's timers and promises once its client has left:
   * pass `ctx.waitUntil.bind(ctx)` there, so that a handler's code after the client left (a
   * loop's next check, a `finally`) still runs. The Hono adapter passes it itself.
   */
  waitUntil?: (promise: Promise<unknown>) => void;
}

/** A {@link SseSink} whose bytes are read from `body`, a pull-based `ReadableStream`. */
export interface WebSink extends SseSink {
  /** The response body to hand to the runtime. */
  readonly body: ReadableStream<Uint8Array>;
}

/**
 * Creates a sink over a pull-based `ReadableStream`. The stream's `cancel` (the runtime
 * saw the client leave) or an aborted `requestSignal` aborts the sink's signal. `close` ends
 * the body once the runtime has read what it holds, so that the sink can tell how much of it
 * the client is still to take.
 *
 * @param requestSignal - the request's `AbortSignal`, aborted by most runtimes on disconnect.
 * @param highWaterMark - bytes queued in the body before `write` returns `false`. Default 16 384.
 */
export function createWebSink(requestSignal?: AbortSignal, highWaterMark = 16 * 1024): WebSink {
  checkHighWaterMark(highWaterMark);
  return new BodySink(requestSignal, highWaterMark);
}

/** Chunks are counted in bytes against the body's high-water mark. */
const byteLength = (chunk: Uint8Array): number => chunk.byteLength;

// A class, not a closure per method: at 10k streams every object per stream counts. It is
// also the body's underlying source (`start`, `pull`, `cancel`).
class BodySink extends SinkState implements WebSink, UnderlyingDefaultSource<Uint8Array> {
  readonly body: ReadableStream<Uint8Array>;
  readonly #requestSignal: AbortSignal | undefined;
  readonly #highWaterMark: number;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  /** The body is closed, errored or cancelled: nothing more goes through it. */
  #bodyDone = false;
  /** Set by `close`: the body closes once its queue is read, and then this is called. */
  #closing: (() => void) | undefined;

  constructor(requestSignal: AbortSignal | undefined, highWaterMark: number) {
    super();
    this.#requestSignal = requestSignal;
    this.#highWaterMark = highWaterMark;
    this.body = new ReadableStream<Uint8Array>(this, { highWaterMark, size: byteLength });
    if (requestSignal?.aborted) this.#onRequestAbort();
    else requestSignal?.addEventListener('abort', this.#onRequestAbort);
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#controller = controller;
  }

  pull(): void {
    this.wakeWriter();
    if (this.#closing && this.#queued() === 0) this.#closeBody();
  }

  cancel(reason: unknown): void {
    this.#bodyEnded();
    this.#finish(endReason('CLIENT_GONE', reason));
  }

  write(chunk: Uint8Array): boolean {
    if (this.ended) return false;
    this.#controller.enqueue(chunk);
    return (this.#controller.desiredSize ?? 0) > 0;
  }

  ready(): Promise<void> {
    return this.waitForRoom((this.#controller.desiredSize ?? 0) <= 0);
  }

  get pendingBytes(): number {
    return this.#queued();
  }

  close(reason: SseError, onTaken?: () => void): void {
    if (this.ended) return;
    this.#closing = onTaken ?? (() => {});
    try {
      if (this.#queued() === 0) this.#closeBody();
    } finally {
      this.#finish(reason);
    }
  }

  abort(reason: SseError): void {
    if (!this.#bodyDone) {
      // Erroring the body is how a fetch-style runtime is told to cut the connection.
      this.#controller.error(reason);
      this.#bodyEnded();
    }
    this.#finish(reason);
  }

  // Bytes enqueued and not yet read by the runtime; `desiredSize` counts down from the mark.
  #queued(): number {
    return this.#bodyDone ? 0 : this.#highWaterMark - (this.#controller.desiredSize ?? this.#highWaterMark);
  }

  // The body is done: closed after its last bytes were read, cancelled, or errored.
  #bodyEnded(): void {
    this.#bodyDone = true;
    const taken = this.#closing;
    this.#closing = undefined;
    taken?.();
  }

  #closeBody(): void {
    if (this.#bodyDone) return;
    try {
      this.#controller.close();
    } catch {
      // A body the runtime closed or errored without telling us: it has ended all the same.
    }
    this.#bodyEnded();
  }

  #finish(reason: SseError): void {
    this.#requestSignal?.removeEventListener('abort', this.#onRequestAbort);
    this.end(reason);
  }

  readonly #onRequestAbort = (): void => {
    if (this.ended) return;
    this.#closeBody();
    this.#finish(endReason('CLIENT_GONE', this.#requestSignal?.reason));
  };
}

function checkHighWaterMark(highWaterMark: number | undefined): void {
  if (highWaterMark !== undefined && !(typeof highWaterMark === 'number' && highWaterMark >= 0)) {
    throw new SseError(
      'INVALID_OPTION',
      `highWaterMark ${String(highWaterMark)} must be a number of bytes, 0 or more.`,
    );
  }
}

/**
 * Throws {@link SseError} for invalid {@link createResponse} options. {@link createResponder}
 * checks its options itself, once; this is for failing earlier, at start-up.
 */
export function checkResponseOptions(options: CreateResponseOptions): void {
  createResponder(options);
}

/**
 * @internal Told of every stream that {@link createResponse} opens, with its request:
 * `@ssekit/core/node` listens, so that `shutdown(server)` reaches the streams that a Node
 * adapter (such as `@hono/node-server`) serves through `createResponse`.
 */
export const webStreams: { opened?: (request: Request, stream: UntypedSseStream) => void } = {};

/** Runs the handler with the stream: a failure closes the stream and goes to `onError`. */
function runHandler<Events extends object>(
  stream: SseStream<Events>,
  handler: (stream: SseStream<Events>) => void | Promise<void>,
  onError: CreateResponseOptions['onError'],
  waitUntil: CreateResponseOptions['waitUntil'],
): void {
  const fail = (error: unknown): void => {
    stream.close();
    reportError(onError, error, 'event-stream handler failed');
  };
  let settled: Promise<void> | undefined;
  try {
    settled = Promise.resolve(handler(stream)).catch(fail);
  } catch (error) {
    fail(error);
  }
  try {
    if (settled) waitUntil?.(settled);
  } catch (error) {
    // The handler runs on; only keeping it alive after a disconnect failed.
    reportError(onError, error, 'waitUntil failed');
  }
}

/**
 * What {@link createResponder} returns: {@link createResponse} with its options already
 * checked. `waitUntil` replaces the option's for this request (default: the option).
 */
export type Responder = <Events extends object = EventMap>(
  request: Request,
  handler: (stream: SseStream<Events>) => void | Promise<void>,
  waitUntil?: (promise: Promise<unknown>) => void,
) => Response;

/**
 * Checks `options` once and returns a function that answers each request as
 * {@link createResponse} does: for adapters, whose bad options then fail at start-up.
 *
 * @example
 * const respond = createResponder({ retry: 2000 });
 * export default { fetch: (request: Request) => respond(request, (stream) => stream.send('hi')) };
 * @throws {@link SseError} for invalid options.
 */
export function createResponder(options: CreateResponseOptions = {}): Responder {
  const open = prepareOpening(options);
  checkHighWaterMark(options.highWaterMark);
  if (options.waitUntil !== undefined && typeof options.waitUntil !== 'function') {
    throw new SseError('INVALID_OPTION', 'waitUntil must be a function, such as ctx.waitUntil.bind(ctx).');
  }
  return <Events extends object>(
    request: Request,
    handler: (stream: SseStream<Events>) => void | Promise<void>,
    waitUntil = options.waitUntil,
  ) => {
    const opening = open<Events, WebSink>(
      {
        request,
        method: request.method,
        url: request.url,
        origin: request.headers.get('origin') ?? undefined,
        lastEventId: request.headers.get('last-event-id'),
        track: (stream) => webStreams.opened?.(request, stream),
      },
      () => createWebSink(READ_REQUEST_SIGNAL ? request.signal : undefined, options.highWaterMark),
    );
    runHandler(opening.stream, handler, options.onError, waitUntil);
    if (!opening.ok) return new Response(opening.body, { status: opening.status, headers: opening.headers });
    return new Response(opening.sink.body, { status: 200, headers: opening.headers });
  };
}

/**
 * Creates an event-stream `Response` for fetch-style runtimes (Hono, Bun, Deno, Cloudflare
 * Workers, Node behind an adapter). `handler` gets the stream at once and may keep it for
 * as long as it likes; the response is returned before the handler settles. A request that
 * a `limit` refuses, or whose `cors.origin` or limiter `key` throws (500, empty body, error
 * to `onError`), gets its answer, and the handler a stream that has already ended.
 *
 * @example
 * // A Cloudflare Worker; elsewhere (Bun, Deno) leave out `waitUntil`.
 * export default {
 *   fetch: (request: Request, env: unknown, ctx: ExecutionContext) =>
 *     createResponse(
 *       request,
 *       async (stream) => {
 *         for (let n = 0; !stream.closed; n++) {
 *           stream.send({ n }, { event: 'tick' });
 *           await new Promise((r) => setTimeout(r, 1000));
 *         }
 *       },
 *       { waitUntil: ctx.waitUntil.bind(ctx) },
 *     ),
 * };
 * @throws {@link SseError} for invalid options, before a response exists.
 */
export function createResponse<Events extends object = EventMap>(
  request: Request,
  handler: (stream: SseStream<Events>) => void | Promise<void>,
  options: CreateResponseOptions = {},
): Response {
  return createResponder(options)<Events>(request, handler);
}
