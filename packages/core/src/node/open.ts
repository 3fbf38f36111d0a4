import { Readable } from 'node:stream';
import type { EventMap, SseSink, SseStream, SseStreamOptions } from '../index.js';
import { prepareOpening, type StreamRequest } from '../open.js';
import { createReadableSink, type ReadableSink } from './readable-sink.js';
import { trackStream } from './shutdown.js';
import { createNodeSink } from './socket-sink.js';
import type { NodeRequest, NodeResponse } from './types.js';

/**
 * Checks `options` once and returns a function that opens a stream per request as
 * {@link createStream} does: for adapters, whose bad options then fail at start-up.
 *
 * @throws {@link @ssekit/core!SseError} for invalid options.
 */
export function createStreamOpener(
  options: SseStreamOptions<NodeRequest> = {},
): <Events extends object = EventMap>(req: NodeRequest, res: NodeResponse) => SseStream<Events> {
  const open = prepareOpening(options);
  return <Events extends object>(req: NodeRequest, res: NodeResponse) => {
    const opening = open<Events, SseSink>(requestOf(req, res), (headers) => createNodeSink(res, headers));
    if (!opening.ok) {
      res.writeHead(opening.status, opening.headers);
      res.end(opening.body);
    }
    return opening.stream;
  };
}

/**
 * Checks `options` once and returns a function that opens a stream body per request as
 * {@link createStreamBody} does. `onError` replaces the option's for that request (Koa
 * tells the app's `'error'` event).
 *
 * @throws {@link @ssekit/core!SseError} for invalid options.
 */
export function createBodyOpener(
  options: SseStreamOptions<NodeRequest> = {},
): <Events extends object = EventMap>(
  req: NodeRequest,
  res: NodeResponse,
  onError?: (error: unknown) => void,
) => StreamBody<Events> {
  const open = prepareOpening(options);
  return <Events extends object>(req: NodeRequest, res: NodeResponse, onError?: (error: unknown) => void) => {
    const opening = open<Events, ReadableSink>({ ...requestOf(req, res), onError }, () => createReadableSink(res));
    if (!opening.ok) {
      const { stream, status, headers, body } = opening;
      return { stream, body: Readable.from([body]), headers, status };
    }
    return { stream: opening.stream, body: opening.sink.body, headers: opening.headers, status: 200 };
  };
}

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
  options: SseStreamOptions<NodeRequest> = {},
): StreamBody<Events> {
  return createBodyOpener(options)<Events>(req, res);
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
  options: SseStreamOptions<NodeRequest> = {},
): SseStream<Events> {
  return createStreamOpener(options)<Events>(req, res);
}

function requestOf(req: NodeRequest, res: NodeResponse): StreamRequest<NodeRequest> {
  const lastEventId = req.headers['last-event-id'];
  return {
    request: req,
    method: req.method,
    url: req.url,
    origin: req.headers.origin,
    lastEventId: Array.isArray(lastEventId) ? lastEventId[0] : lastEventId,
    // Read only when a limiter asks: Node caches the peer's address on the socket for as long
    // as it lives (an object and a string, about 90 bytes per stream).
    get remoteAddress() {
      return req.socket?.remoteAddress;
    },
    track: (stream) => trackStream(req, res, stream),
  };
}
