/**
 * Event streams on Node's `http` and `http2` responses, and graceful shutdown of a server that serves them.
 *
 * @module @ssekit/core/node
 */
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import {
  checkStreamOptions,
  type EventMap,
  endedStream,
  endReason,
  readLastEventId,
  type SseError,
  type SseSink,
  SseStream,
  type SseStreamOptions,
} from '../index.js';
import { openingOf } from '../limits.js';
import { trackStream } from './shutdown.js';
import { whenFinished } from './when-finished.js';

/** A `node:http` or `node:http2` (compatibility API) response. */
export type NodeResponse = ServerResponse | Http2ServerResponse;
/** A `node:http` or `node:http2` (compatibility API) request. */
export type NodeRequest = IncomingMessage | Http2ServerRequest;

/** How long frames wait for others to the same socket, so that they leave in one system call. */
const FLUSH_WINDOW_MS = 1;
/** Sockets corked since the last flush, all uncorked by one timer. */
let corked = new Set<Socket>();

function flushAll(): void {
  const sockets = corked;
  corked = new Set();
  for (const socket of sockets) socket.uncork();
}

// Writing an event to a socket costs one system call, and at fan-out those calls are most of
// the CPU time. Events that reach the same socket within the window leave in one `writev`.
function coalesce(socket: Socket): void {
  if (corked.has(socket)) return;
  socket.cork();
  corked.add(socket);
  if (corked.size === 1) setTimeout(flushAll, FLUSH_WINDOW_MS);
}

function release(socket: Socket): void {
  if (corked.delete(socket)) socket.uncork();
}

/** Each frame as one HTTP/1.1 chunk, made once however many sockets it goes to. */
const chunks = new WeakMap<Uint8Array, Uint8Array>();
const CRLF = new Uint8Array([13, 10]);
const ascii = new TextEncoder();

function asChunk(frame: Uint8Array): Uint8Array {
  let chunk = chunks.get(frame);
  if (!chunk) {
    const size = ascii.encode(`${frame.byteLength.toString(16)}\r\n`);
    chunk = new Uint8Array(size.byteLength + frame.byteLength + 2);
    chunk.set(size);
    chunk.set(frame, size.byteLength);
    chunk.set(CRLF, size.byteLength + frame.byteLength);
    chunks.set(frame, chunk);
  }
  return chunk;
}

/**
 * The socket to write chunks to directly, when `res` is a plain chunked HTTP/1.1 response
 * whose head is out: `res.write` does the same framing, but costs as much again as the
 * system call on Express's responses. Anything that wraps `write` (compression) or another
 * framing (HTTP/1.0, HTTP/2) keeps `res.write`.
 */
function directSocket(res: NodeResponse): Socket | undefined {
  if ('stream' in res || res.write !== ServerResponse.prototype.write) return undefined;
  return (res as ServerResponse & { chunkedEncoding?: boolean }).chunkedEncoding
    ? (res.socket ?? undefined)
    : undefined;
}

/**
 * Creates a sink over a Node response. The head (status 200 and `headers`) goes out with
 * the first write instead of `flushHeaders()`: at 10k streams that halved peak memory.
 * On HTTP/1.1, later frames go to the socket as chunks, and frames within about a
 * millisecond of each other leave in one system call (see `coalesce`).
 * After every write it calls `res.flush()` when present, which compression middleware adds
 * so that each event leaves at once instead of when the response ends.
 */
export function createNodeSink(res: NodeResponse, headers: Record<string, string>): SseSink {
  return new NodeSink(res, headers);
}

// A class, not a closure per method: at 10k streams every object per stream counts.
class NodeSink implements SseSink {
  readonly #ended = new AbortController();
  // Checked on every write: a plain field is cheaper than `signal.aborted`.
  #done = false;
  /** The response has closed: its bytes are out, or it was destroyed. */
  #transportClosed = false;
  readonly #res: NodeResponse;
  /** The head to send with the first write; let go of once sent. */
  #headers: Record<string, string> | undefined;
  // Compression middleware (e.g. `compression` for Express) adds a `flush` method before us.
  readonly #flush: (() => void) | undefined;
  #needsDrain = false;
  #drained = false;
  #socket: Socket | undefined;
  #wakeWriter: (() => void) | undefined;

  constructor(res: NodeResponse, headers: Record<string, string>) {
    this.#res = res;
    this.#headers = headers;
    this.#flush = (res as NodeResponse & { flush?: () => void }).flush;
    res.on('drain', this.#wake);
    res.on('close', this.#onClose);
    // A write racing a reset connection reports an error here; it means the client is gone.
    res.on('error', this.#onClose);
    // The client may have left while async middleware ran: 'close' has fired already then.
    if ('stream' in res ? res.stream.destroyed : res.destroyed || res.writableEnded) this.#onClose();
  }

  get signal(): AbortSignal {
    return this.#ended.signal;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#done) return false;
    const socket = this.#socket;
    if (socket) {
      // An empty chunk is the last one: it would end the body.
      if (chunk.byteLength === 0) return !this.#needsDrain;
      // After a drain, the stream writes what it queued meanwhile: that goes out at once, or
      // it would take room in the socket's buffer from the events that follow.
      if (this.#drained) this.#drained = false;
      else coalesce(socket);
      this.#needsDrain = !socket.write(asChunk(chunk));
      // A full buffer goes out now: the window never holds more than the socket's mark.
      if (this.#needsDrain) release(socket);
      return !this.#needsDrain;
    }
    const res = this.#res as ServerResponse;
    const head = this.#headers;
    if (head) {
      res.writeHead(200, head);
      this.#headers = undefined;
    }
    this.#needsDrain = !res.write(chunk);
    this.#flush?.call(res);
    // Once the head is out, the framing is settled: chunked HTTP/1.1 or not.
    if (head) {
      this.#socket = directSocket(res);
      if (this.#socket) {
        // Past this point `res` does not know of our writes, so it never emits 'drain'.
        res.off('drain', this.#wake);
        this.#socket.on('drain', this.#wake);
        // The app (or a middleware) may end the response itself: a chunk after its last one
        // would be read as the start of the next response on the connection. 'prefinish'
        // comes from within `res.end()`; reading `res.writableEnded` on every write instead
        // cost as much as the write on Express's responses.
        res.on('prefinish', this.#onEndedByApp);
      }
    }
    return !this.#needsDrain;
  }

  ready(): Promise<void> {
    if (!this.#needsDrain || this.#done) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.#wakeWriter = resolve;
    });
  }

  get pendingBytes(): number {
    if (this.#transportClosed) return 0;
    // A stand-in response (a test double) that does not report its buffer is taken to have none.
    return (this.#socket ?? this.#res).writableLength ?? 0;
  }

  close(reason: SseError, onTaken?: () => void): void {
    if (this.#done) return;
    this.#end(reason);
    // What waits in a corked socket leaves now, ahead of the end of the response.
    if (this.#socket) release(this.#socket);
    if (!this.#res.writableEnded) this.#res.end();
    if (onTaken) whenFinished(this.#res, onTaken);
  }

  abort(reason: SseError): void {
    if (this.#transportClosed) return;
    if (!this.#done) this.#end(reason);
    this.#res.destroy();
  }

  readonly #wake = (): void => {
    this.#drained = this.#needsDrain;
    this.#needsDrain = false;
    this.#wakeWriter?.();
    this.#wakeWriter = undefined;
  };

  #end(reason: SseError): void {
    this.#done = true;
    this.#wake();
    this.#ended.abort(reason);
  }

  readonly #onEndedByApp = (): void => {
    if (!this.#done) this.#end(endReason('STREAM_CLOSED'));
  };

  // The response is done: its listeners go, and the stream ends if it has not yet.
  readonly #onClose = (): void => {
    this.#transportClosed = true;
    const res = this.#res;
    res.off('drain', this.#wake);
    res.off('close', this.#onClose);
    res.off('error', this.#onClose);
    this.#socket?.off('drain', this.#wake);
    res.off('prefinish', this.#onEndedByApp);
    if (!this.#done) this.#end(endReason('CLIENT_GONE'));
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
  const end = (reason: SseError): void => {
    if (ended.signal.aborted) return;
    wake();
    ended.abort(reason);
  };
  const body = new Readable({ highWaterMark, read: wake });
  body.once('close', () => end(endReason('CLIENT_GONE')));
  // Some frameworks learn that the connection ended before they destroy the body.
  res?.once('close', () => end(endReason('CLIENT_GONE')));

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
    get pendingBytes() {
      const inBody = body.destroyed ? 0 : body.readableLength;
      if (!res) return inBody;
      return res.destroyed || res.writableFinished ? 0 : inBody + res.writableLength;
    },
    close(reason, onTaken) {
      if (ended.signal.aborted) return;
      if (!body.readableEnded) body.push(null);
      end(reason);
      if (!onTaken) return;
      if (res) whenFinished(res, onTaken);
      else body.once('close', onTaken);
    },
    abort(reason) {
      end(reason);
      body.destroy();
      if (!res?.writableFinished) res?.destroy();
    },
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

export { type NodeServer, type ShutdownOptions, shutdown } from './shutdown.js';
