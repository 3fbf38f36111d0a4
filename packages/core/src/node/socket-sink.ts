import { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { endReason, type SseError } from '../errors.js';
import { SinkState, type SseSink } from '../sink.js';
import type { NodeResponse } from './types.js';
import { whenFinished } from './when-finished.js';

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

/**
 * Where the response's and the socket's listeners find their sink: the listeners are
 * functions shared by every sink (`this` is the emitter), not closures per stream.
 */
const sinkOf = Symbol('ssekit.sink');
type Carrier = { [sinkOf]?: NodeSink | undefined };

function onDrain(this: Carrier): void {
  this[sinkOf]?.wake();
}

function onPrefinish(this: Carrier): void {
  this[sinkOf]?.end(endReason('STREAM_CLOSED'));
}

function onClose(this: Carrier): void {
  this[sinkOf]?.responseClosed();
}

// A class, not a closure per method: at 10k streams every object per stream counts.
class NodeSink extends SinkState implements SseSink {
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

  constructor(res: NodeResponse, headers: Record<string, string>) {
    super();
    this.#res = res;
    this.#headers = headers;
    this.#flush = (res as NodeResponse & { flush?: () => void }).flush;
    (res as Carrier)[sinkOf] = this;
    res.on('drain', onDrain);
    res.on('close', onClose);
    // A write racing a reset connection reports an error here; it means the client is gone.
    res.on('error', onClose);
    // The client may have left while async middleware ran: 'close' has fired already then.
    if ('stream' in res ? res.stream.destroyed : res.destroyed || res.writableEnded) this.responseClosed();
  }

  write(chunk: Uint8Array): boolean {
    if (this.ended) return false;
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
        res.off('drain', onDrain);
        (this.#socket as Carrier)[sinkOf] = this;
        this.#socket.on('drain', onDrain);
        // The app (or a middleware) may end the response itself: a chunk after its last one
        // would be read as the start of the next response on the connection. 'prefinish'
        // comes from within `res.end()`; reading `res.writableEnded` on every write instead
        // cost as much as the write on Express's responses.
        res.on('prefinish', onPrefinish);
      }
    }
    return !this.#needsDrain;
  }

  ready(): Promise<void> {
    return this.waitForRoom(this.#needsDrain);
  }

  get pendingBytes(): number {
    if (this.#transportClosed) return 0;
    // A stand-in response (a test double) that does not report its buffer is taken to have none.
    return (this.#socket ?? this.#res).writableLength ?? 0;
  }

  close(reason: SseError, onTaken?: () => void): void {
    if (this.ended) return;
    this.end(reason);
    // What waits in a corked socket leaves now, ahead of the end of the response.
    if (this.#socket) release(this.#socket);
    if (!this.#res.writableEnded) this.#res.end();
    if (onTaken) whenFinished(this.#res, onTaken);
  }

  abort(reason: SseError): void {
    if (this.#transportClosed) return;
    this.end(reason);
    this.#res.destroy();
  }

  /** The transport takes bytes again. */
  wake(): void {
    this.#drained = this.#needsDrain;
    this.#needsDrain = false;
    this.wakeWriter();
  }

  /** The response is done: its listeners go, and the stream ends if it has not yet. */
  responseClosed(): void {
    this.#transportClosed = true;
    const res = this.#res;
    res.off('drain', onDrain);
    res.off('close', onClose);
    res.off('error', onClose);
    res.off('prefinish', onPrefinish);
    (res as Carrier)[sinkOf] = undefined;
    if (this.#socket) {
      this.#socket.off('drain', onDrain);
      (this.#socket as Carrier)[sinkOf] = undefined;
    }
    this.end(endReason('CLIENT_GONE'));
  }
}
