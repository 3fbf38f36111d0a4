import { type Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { type Http2SecureServer, type Http2Server, Http2ServerRequest } from 'node:http2';
import type { ChannelRegistry } from '../channel.js';
import { SseError } from '../errors.js';
import { checkRetryRange, type RetryRange, randomRetry } from '../retry-range.js';
import type { SseStream } from '../stream.js';
import { webStreams } from '../web.js';
import type { NodeRequest, NodeResponse } from './types.js';
import { whenFinished } from './when-finished.js';

/** A `node:http`, `node:https` or `node:http2` server. */
export type NodeServer = HttpServer | Http2Server | Http2SecureServer;

/**
 * The streams opened on each server, held weakly (an ended stream is not kept alive here)
 * and swept of ended ones every {@link SWEEP_EVERY} opens, rather than with a listener per stream.
 */
const streamsByServer = new WeakMap<object, Set<WeakRef<SseStream>>>();
const responses = new WeakMap<SseStream, NodeResponse>();
const SWEEP_EVERY = 1024;
let untilSweep = SWEEP_EVERY;

/** @internal Remembers `stream` as one of its server's, for {@link shutdown}. */
export function trackStream(req: NodeRequest, res: NodeResponse | undefined, stream: SseStream): void {
  const server = (req.socket as { server?: object } | null)?.server;
  if (!server || stream.closed) return;
  let streams = streamsByServer.get(server);
  if (!streams) {
    streams = new Set();
    streamsByServer.set(server, streams);
  }
  streams.add(new WeakRef(stream));
  const response = res ?? responseOf(req);
  if (response) responses.set(stream, response);
  if (--untilSweep > 0) return;
  untilSweep = SWEEP_EVERY;
  for (const ref of streams) if (ref.deref()?.closed !== false) streams.delete(ref);
}

// `createResponse` streams served by a Node adapter are shut down with their server too.
// @hono/node-server keeps the Node request on the Request it hands the app, under a symbol
// of its own; the response is its to end, and `closeAllConnections` cuts what is left.
webStreams.opened = (request, stream) => {
  for (const key of Object.getOwnPropertySymbols(request)) {
    const value = (request as unknown as Record<symbol, unknown>)[key];
    if (value instanceof IncomingMessage || value instanceof Http2ServerRequest) {
      trackStream(value, undefined, stream);
      return;
    }
  }
};

/**
 * The response that Node writes on the request's connection. A Node adapter that serves
 * `createResponse` streams (@hono/node-server) does not hand it to us; Node (20, 24) keeps it
 * on the socket as `_httpMessage` from before the request handler runs.
 */
function responseOf(req: NodeRequest): NodeResponse | undefined {
  const current = (req.socket as { _httpMessage?: unknown } | null)?._httpMessage;
  return current instanceof ServerResponse ? current : undefined;
}

/**
 * Ends the connection of an HTTP/1.1 response once its last bytes are out: a keep-alive
 * connection would otherwise go idle and hold `server.close()` until it times out, and
 * `closeIdleConnections()` would cut responses that have ended but not yet been taken.
 */
function closeWhenFinished(res: NodeResponse | undefined): void {
  const socket = res && !('stream' in res) ? res.socket : undefined;
  if (res && socket) whenFinished(res, () => socket.end());
}

/** Options of {@link shutdown}. */
export interface ShutdownOptions {
  /** A registry whose channels' streams are closed too (`registry.close()`), with its own retry hints. */
  registry?: ChannelRegistry;
  /** Range, in ms, of the reconnection delay each client is told; random within it. Default 1 000–5 000. */
  retry?: RetryRange;
  /** Milliseconds to let clients take what is buffered for them before the rest is destroyed. Default 5 000. */
  deadline?: number;
}

/**
 * Checks {@link shutdown}'s options, for code that takes them long before it shuts down (a
 * framework plugin): so that a mistake fails at start-up, not when the server should stop.
 *
 * @returns the retry range, checked.
 * @throws {@link @ssekit/core!SseError} `INVALID_OPTION` for a retry range or deadline that is not one.
 */
export function checkShutdownOptions(options: ShutdownOptions = {}): RetryRange {
  const { retry, deadline = 5000 } = options;
  const range = checkRetryRange('retry', retry);
  if (!(Number.isSafeInteger(deadline) && deadline >= 0)) {
    throw new SseError('INVALID_OPTION', `deadline ${deadline} must be whole ms, 0 or more.`);
  }
  return range;
}

/**
 * Shuts an SSE server down in one call: stops accepting connections, tells every open
 * stream's client when to come back (a random `retry:` within `retry`, so that they do not
 * all come back at once) and ends the stream, waits up to `deadline` for what is buffered
 * to be taken, then destroys whatever is left. Resolves once `server.close()` completed.
 *
 * @example
 * process.on('SIGTERM', () => shutdown(server, { registry }).then(() => process.exit(0)));
 * @throws {@link @ssekit/core!SseError} `INVALID_OPTION` for a retry range or deadline that is not one.
 */
export async function shutdown(server: NodeServer, options: ShutdownOptions = {}): Promise<void> {
  const { registry, deadline = 5000 } = options;
  const range = checkShutdownOptions(options);
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  (server as HttpServer).closeIdleConnections?.();
  const open: { stream: SseStream; res: NodeResponse | undefined }[] = [];
  for (const ref of streamsByServer.get(server) ?? []) {
    const stream = ref.deref();
    if (stream && !stream.closed) open.push({ stream, res: responses.get(stream) });
  }
  streamsByServer.delete(server);
  for (const { res } of open) closeWhenFinished(res);
  // Channel streams get the registry's retry hints; the others get ours.
  const channelsClosed = registry?.close();
  for (const { stream } of open) stream.close({ retry: randomRetry(range) });
  await channelsClosed;
  const timer = setTimeout(() => {
    // Clients that have not taken their last bytes by now are not coming for them.
    (server as HttpServer).closeAllConnections?.();
    for (const { res } of open) if (res && !res.writableFinished) res.destroy();
  }, deadline);
  try {
    await closed;
  } finally {
    clearTimeout(timer);
  }
}
