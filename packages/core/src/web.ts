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
  const state = new SinkState();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  /** The body is closed, errored or cancelled: nothing more goes through it. */
  let bodyDone = false;
  /** Set by `close`: the body closes once its queue is read, and then this is called. */
  let closing: (() => void) | undefined;

  // Bytes enqueued and not yet read by the runtime; `desiredSize` counts down from the mark.
  const queued = (): number => (bodyDone ? 0 : highWaterMark - (controller.desiredSize ?? highWaterMark));
  // The body is done: closed after its last bytes were read, cancelled, or errored.
  const bodyEnded = (): void => {
    bodyDone = true;
    const taken = closing;
    closing = undefined;
    taken?.();
  };
  const closeBody = (): void => {
    if (bodyDone) return;
    try {
      controller.close();
    } catch {
      // A body the runtime closed or errored without telling us: it has ended all the same.
    }
    bodyEnded();
  };
  const finish = (reason: SseError): void => {
    requestSignal?.removeEventListener('abort', onRequestAbort);
    state.end(reason);
  };
  const onRequestAbort = (): void => {
    if (state.ended) return;
    closeBody();
    finish(endReason('CLIENT_GONE', requestSignal?.reason));
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        state.wakeWriter();
        if (closing && queued() === 0) closeBody();
      },
      cancel(reason) {
        bodyEnded();
        finish(endReason('CLIENT_GONE', reason));
      },
    },
    { highWaterMark, size: (chunk) => chunk.byteLength },
  );
  if (requestSignal?.aborted) onRequestAbort();
  else requestSignal?.addEventListener('abort', onRequestAbort);

  return {
    body,
    signal: state.signal,
    write(chunk) {
      if (state.ended) return false;
      controller.enqueue(chunk);
      return (controller.desiredSize ?? 0) > 0;
    },
    ready: () => state.waitForRoom((controller.desiredSize ?? 0) <= 0),
    get pendingBytes() {
      return queued();
    },
    close(reason, onTaken) {
      if (state.ended) return;
      closing = onTaken ?? (() => {});
      try {
        if (queued() === 0) closeBody();
      } finally {
        finish(reason);
      }
    },
    abort(reason) {
      if (!bodyDone) {
        // Erroring the body is how a fetch-style runtime is told to cut the connection.
        controller.error(reason);
        bodyEnded();
      }
      finish(reason);
    },
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
