import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { streamHeaders } from '../headers.js';
import { type EventMap, readLastEventId, type SseSink, SseStream, type SseStreamOptions } from '../index.js';
import { checkStreamOptions } from '../stream.js';

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
  const header = req.headers['last-event-id'];
  const lastEventId = readLastEventId(Array.isArray(header) ? header[0] : header, req.url);
  const stream = new SseStream<Events>(createNodeSink(res, streamHeaders(options.headers)), {
    ...options,
    lastEventId,
  });
  // A HEAD response has no body: end it with its head instead of holding the connection.
  if (req.method === 'HEAD') stream.close();
  return stream;
}
