import { type CorsOptions, checkCors, streamHeaders } from './headers.js';
import { readLastEventId } from './last-event-id.js';
import { type ConnectionLimiter, refusalResponse, type Slot } from './limits.js';
import type { SseSink } from './sink.js';
import {
  endedStream,
  planStream,
  reportError,
  SseStream,
  type StreamOptions,
  type UntypedSseStream,
} from './stream.js';

/** What the response that carries a stream needs: its headers, and whether it may open at all. */
export interface ResponseOptions<Request = unknown> {
  /**
   * Extra response headers (e.g. CORS), names in any case. Default none. The event-stream
   * headers win on conflict.
   * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#text/event-stream
   */
  headers?: Record<string, string>;
  /**
   * Lets pages on other origins read the stream (`Access-Control-Allow-Origin`, and
   * `-Credentials` for `withCredentials`), answered per request from its `Origin`. Default:
   * same origin only.
   * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#dom-eventsource-withcredentials
   */
  cors?: CorsOptions;
  /**
   * A {@link ConnectionLimiter} that counts this stream: over its limits the request is
   * answered as the limiter says (by default an SSE retry hint and an end) before any stream
   * is registered, and the handler gets a stream that is already closed. Its `key` gets the
   * request the runtime has: Node's request (Node, Express, Koa) or a Web `Request`
   * (`createResponse`, Hono). Default: no limit.
   */
  limit?: ConnectionLimiter<Request>;
}

/**
 * Options of an event stream and of the response that carries it, whatever the runtime.
 * `Request` is the request that the limiter's `key` gets.
 */
export interface SseStreamOptions<Request = unknown> extends StreamOptions, ResponseOptions<Request> {}

/** @internal What a runtime knows of a request, for opening its stream. */
export interface StreamRequest<Request> {
  /** The request as the limiter's `key` gets it. */
  readonly request: Request;
  readonly method: string | undefined;
  readonly url: string | undefined;
  /** The `Origin` header, for CORS. */
  readonly origin: string | undefined;
  /** The `Last-Event-ID` header. */
  readonly lastEventId: string | null | undefined;
  /**
   * The client's address, the limiter's default key; fetch-style runtimes do not show it. Read
   * only when the stream has a limiter.
   */
  readonly remoteAddress?: string | undefined;
  /** Where this request's errors go, instead of the options' `onError` (Koa: the app's). */
  readonly onError?: ((error: unknown) => void) | undefined;
  /** Told of the stream once it is open, for `shutdown`. */
  readonly track?: (stream: UntypedSseStream) => void;
}

/**
 * @internal How a request is answered: with a stream on a new sink, or without a stream
 * (`status`, `headers`, `body`); its `stream` has already ended then.
 */
export type Opening<Events extends object, Sink> =
  | {
      readonly ok: true;
      readonly stream: SseStream<Events>;
      readonly sink: Sink;
      readonly headers: Record<string, string>;
    }
  | {
      readonly ok: false;
      readonly stream: SseStream<Events>;
      readonly status: number;
      readonly headers: Record<string, string>;
      readonly body: string;
    };

/** @internal Opens a stream for a request, on the sink that `createSink` makes for its headers. */
export type Opener<Request> = <Events extends object, Sink extends SseSink>(
  request: StreamRequest<Request>,
  createSink: (headers: Record<string, string>) => Sink,
) => Opening<Events, Sink>;

/**
 * @internal The one way a stream opens, on every runtime: headers, limit, sink, stream. The
 * options are checked here, once per middleware or handler, rather than on each request.
 *
 * @throws {@link SseError} for invalid options.
 */
export function prepareOpening<Request>(options: SseStreamOptions<Request>): Opener<Request> {
  const plan = planStream(options);
  checkCors(options.cors);
  return <Events extends object, Sink extends SseSink>(
    request: StreamRequest<Request>,
    createSink: (headers: Record<string, string>) => Sink,
  ): Opening<Events, Sink> => {
    const onError = request.onError ?? options.onError;
    let headers: Record<string, string>;
    let slot: Slot | undefined;
    // `cors.origin` and the limiter's `key` are the app's code. One that throws gets the
    // request a 500 with an empty body and goes to `onError`: streams are opened from request
    // handlers with no error path (node:http, a bare `fetch` handler), where a throw would end
    // the process.
    try {
      headers = streamHeaders(options.headers, options.cors, request.origin);
      slot = options.limit?.acquire(request.request, request.remoteAddress);
    } catch (error) {
      reportError(onError, error, 'a callback failed before the stream opened; answered 500');
      return { ok: false, stream: endedStream(), status: 500, headers: {}, body: '' };
    }
    if (slot?.ok === false) return { ok: false, stream: endedStream(), ...refusalResponse(slot.refusal, headers) };
    const sink = createSink(headers);
    const lastEventId = readLastEventId(request.lastEventId, request.url);
    const stream = new SseStream<Events>(sink, { lastEventId, onError }, plan);
    // A HEAD response has no body: end it with its head instead of holding the connection.
    if (request.method === 'HEAD') stream.close();
    if (!stream.closed) request.track?.(stream);
    if (slot) stream.onClose(slot.release);
    return { ok: true, stream, sink, headers };
  };
}

/**
 * Throws {@link SseError} for invalid stream options. Every function that opens streams
 * checks its options itself, once; this is for failing earlier, at start-up.
 */
export function checkStreamOptions(options: SseStreamOptions): void {
  prepareOpening(options);
}
