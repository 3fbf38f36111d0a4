import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { Readable } from 'node:stream';
import { streamHeaders } from '../headers.js';
import {
  checkStreamOptions,
  type EventMap,
  readLastEventId,
  type SseSink,
  SseStream,
  type SseStreamOptions,
} from '../index.js';

/** A `node:http` or `node:http2` (compatibility API) response. */
export type NodeResponse = ServerResponse | Http2ServerResponse;
/** A `node:http` or `node:http2` (compatibility API) request. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;

/**
 * Creates a sink over a Node response. The head (status 200 and `headers`) goes out with
 * the first write instead of `flushHeaders()`: at 10k streams that halved peak memory.
 * After every write it calls `res.flush()` when present, which compression middleware adds
 * so that each event leaves at once instead of when the response ends.
 */
export function createNodeSink(res: NodeResponse, headers: Record<string, string>): SseSink {
  const ended = new AbortController();
  let headSent = false;
  let needsDrain = false;
  let wakeWriter: (() => void) | undefined;
  // Compression middleware (e.g. `compression` for Express) adds a `flush` method.
  const flushable = res as NodeResponse & { flush?: () => void };

  const wake = (): void => {
    needsDrain = false;
    wakeWriter?.();
    wakeWriter = undefined;
  };
  const onEnd = (): void => {
    res.off('drain', wake);
    res.off('close', onEnd);
    res.off('error', onEnd);
    wake();
    ended.abort();
  };
  res.on('drain', wake);
  res.on('close', onEnd);
  // A write racing a reset connection reports an error here; it means the client is gone.
  res.on('error', onEnd);
  // The client may have left while async middleware ran: 'close' has fired already then.
  if ('stream' in res ? res.stream.destroyed : res.destroyed || res.writableEnded) onEnd();

  return {
    signal: ended.signal,
    write(chunk) {
      if (ended.signal.aborted) return false;
      if (!headSent) {
        headSent = true;
        res.writeHead(200, headers);
      }
      needsDrain = !(res as ServerResponse).write(chunk);
      flushable.flush?.();
      return !needsDrain;
    },
    ready() {
      if (!needsDrain || ended.signal.aborted) return Promise.resolve();
      return new Promise<void>((resolve) => {
        wakeWriter = resolve;
      });
    },
    close() {
      if (!ended.signal.aborted && !res.writableEnded) res.end();
    },
    abort() {
      if (!ended.signal.aborted) res.destroy();
    },
  };
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
export function createReadableSink(
  res?: NodeResponse,
  highWaterMark = 16 * 1024,
): SseSink & { readonly body: Readable } {
  const ended = new AbortController();
  let wakeWriter: (() => void) | undefined;
  const wake = (): void => {
    wakeWriter?.();
    wakeWriter = undefined;
  };
  const body = new Readable({ highWaterMark, read: wake });
  body.once('close', () => {
    wake();
    ended.abort();
  });

  return {
    body,
    signal: ended.signal,
    write: (chunk) => !ended.signal.aborted && body.push(chunk),
    ready() {
      if (ended.signal.aborted || body.readableLength < body.readableHighWaterMark) return Promise.resolve();
      return new Promise<void>((resolve) => {
        wakeWriter = resolve;
      });
    },
    close() {
      if (!body.readableEnded && !ended.signal.aborted) body.push(null);
    },
    abort() {
      body.destroy();
      res?.destroy();
    },
  };
}

/** What {@link createStreamBody} returns: the stream, and the body and headers to respond with. */
export interface StreamBody<Events extends object = EventMap> {
  /** The event stream to send on. */
  stream: SseStream<Events>;
  /** The response body: give it to the framework (e.g. Koa's `ctx.body`). */
  body: Readable;
  /** The response headers, event-stream headers included; status is 200. */
  headers: Record<string, string>;
}

/**
 * Opens an event stream as a response body, for frameworks that own the response (Koa):
 * set status 200 and `headers`, hand over `body`, and send on `stream`.
 *
 * @param req - the request, for `Last-Event-ID` and the method.
 * @param res - the response, cut off when the client is too slow.
 * @throws {@link SseError} for invalid options, before anything is created.
 */
export function createStreamBody<Events extends object = EventMap>(
  req: NodeRequest,
  res: NodeResponse,
  options: SseStreamOptions = {},
): StreamBody<Events> {
  checkStreamOptions(options);
  const sink = createReadableSink(res);
  const stream = new SseStream<Events>(sink, { ...options, lastEventId: lastEventIdOf(req) });
  if (req.method === 'HEAD') stream.close();
  return { stream, body: sink.body, headers: streamHeaders(options.headers) };
}

/**
 * Opens an event stream on a `node:http` or `node:http2` (compatibility API) request and
 * response. Status 200 and the event-stream headers are sent at once.
 *
 * @example
 * http.createServer((req, res) => {
 *   const stream = createStream(req, res, { retry: 2000 });
 *   const timer = setInterval(() => stream.send({ now: Date.now() }), 1000);
 *   stream.signal.addEventListener('abort', () => clearInterval(timer));
 * });
 * @throws {@link SseError} for invalid options, before anything is written.
 */
export function createStream<Events extends object = EventMap>(
  req: NodeRequest,
  res: NodeResponse,
  options: SseStreamOptions = {},
): SseStream<Events> {
  checkStreamOptions(options);
  const sink = createNodeSink(res, streamHeaders(options.headers));
  const stream = new SseStream<Events>(sink, { ...options, lastEventId: lastEventIdOf(req) });
  // A HEAD response has no body: end it with its head instead of holding the connection.
  if (req.method === 'HEAD') stream.close();
  return stream;
}

function lastEventIdOf(req: NodeRequest): string | undefined {
  const header = req.headers['last-event-id'];
  return readLastEventId(Array.isArray(header) ? header[0] : header, req.url);
}
