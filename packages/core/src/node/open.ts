import { Readable } from 'node:stream';
import {
  checkStreamOptions,
  type EventMap,
  endedStream,
  readLastEventId,
  SseStream,
  type SseStreamOptions,
} from '../index.js';
import { openingOf } from '../limits.js';
import { createReadableSink } from './readable-sink.js';
import { trackStream } from './shutdown.js';
import { createNodeSink } from './socket-sink.js';
import type { NodeRequest, NodeResponse } from './types.js';

/** What {@link createStreamBody} returns: the stream, and the body and headers to respond with. */
export interface StreamBody<Events extends object = EventMap> {
  /** The event stream to send on. */
  stream: SseStream<Events>;
  /** The response body: give it to the framework (e.g. Koa's `ctx.body`). */
  body: Readable;
  /** The response headers, event-stream headers included. */
  headers: Record<string, string>;
  /**
   * The response status: 200; 429 or 503 for a request refused by the stream's `limit`; 500
   * when `cors.origin` or the limiter's `key` threw (reported to `onError`).
   */
  status: number;
}

/**
 * Opens an event stream as a response body, for frameworks that own the response (Koa):
 * set `status` and `headers`, hand over `body`, and send on `stream` (already ended when
 * `status` is not 200, as {@link createStream} answers).
 *
 * @param req - the request, for `Last-Event-ID` and the method.
 * @param res - the response, cut off when the client is too slow.
 * @throws {@link @ssekit/core!SseError} for invalid options, before anything is created.
 */
export function createStreamBody<Events extends object = EventMap>(
  req: NodeRequest,
  res: NodeResponse,
  options: SseStreamOptions = {},
): StreamBody<Events> {
  checkStreamOptions(options);
  const opening = openingOf(req, req.headers.origin, req.socket?.remoteAddress, options);
  if ('status' in opening) {
    const { status, headers, body } = opening;
    return { stream: endedStream<Events>(), body: Readable.from([body]), headers, status };
  }
  const sink = createReadableSink(res);
  const stream = new SseStream<Events>(sink, { ...options, lastEventId: lastEventIdOf(req) });
  if (req.method === 'HEAD') stream.close();
  trackStream(req, res, stream as unknown as SseStream);
  if (opening.release) stream.onClose(opening.release);
  return { stream, body: sink.body, headers: opening.headers, status: 200 };
}

/**
 * Opens an event stream on a `node:http` or `node:http2` (compatibility API) request and
 * response. Status 200 and the event-stream headers are sent at once. A request that a
 * `limit` refuses, or whose `cors.origin` or limiter `key` throws (500, empty body, error to
 * `onError`), is answered at once and gets a stream that has already ended: nothing that a
 * callback throws escapes a `node:http` request listener, where it would end the process.
 *
 * @example
 * http.createServer((req, res) => {
 *   const stream = createStream(req, res, { retry: 2000 });
 *   const timer = setInterval(() => stream.send({ now: Date.now() }), 1000);
 *   stream.onClose(() => clearInterval(timer));
 * });
 * @throws {@link @ssekit/core!SseError} for invalid options, before anything is written.
 */
export function createStream<Events extends object = EventMap>(
  req: NodeRequest,
  res: NodeResponse,
  options: SseStreamOptions = {},
): SseStream<Events> {
  checkStreamOptions(options);
  const opening = openingOf(req, req.headers.origin, req.socket?.remoteAddress, options);
  if ('status' in opening) {
    res.writeHead(opening.status, opening.headers);
    res.end(opening.body);
    return endedStream<Events>();
  }
  const sink = createNodeSink(res, opening.headers);
  const stream = new SseStream<Events>(sink, { ...options, lastEventId: lastEventIdOf(req) });
  // A HEAD response has no body: end it with its head instead of holding the connection.
  if (req.method === 'HEAD') stream.close();
  trackStream(req, res, stream as unknown as SseStream);
  if (opening.release) stream.onClose(opening.release);
  return stream;
}

function lastEventIdOf(req: NodeRequest): string | undefined {
  const header = req.headers['last-event-id'];
  return readLastEventId(Array.isArray(header) ? header[0] : header, req.url);
}
