/**
 * Server-sent events for Fastify 5: the `ssekit` plugin, the `sse()` handler and `channel()` routes.
 *
 * @module @ssekit/fastify
 */
import type { IncomingMessage } from 'node:http';
import {
  type ChannelRegistry,
  type ChannelRouteOptions as CoreChannelRouteOptions,
  type ChannelsRouteOptions as CoreChannelsRouteOptions,
  createChannelRoute,
  createChannelsRoute,
  type EventMap,
  MAX_CHANGE_BYTES,
  readJsonBody,
  type SseStream,
  type SseStreamOptions,
  type UntypedSseStream,
} from '@ssekit/core';
import { checkShutdownOptions, createBodyOpener, type ShutdownOptions, shutdown } from '@ssekit/core/node';
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import fp from 'fastify-plugin';

export type { SseStream, SseStreamOptions } from '@ssekit/core';

declare module 'fastify' {
  interface FastifyReply {
    /**
     * The event stream that `sse()`, `channel()` or `channels()` opened for this request; on
     * other routes `null` (`undefined` without the `ssekit` plugin), whatever the type says.
     * For typed events: `const stream = reply.sse as SseStream<MyEvents>`.
     */
    sse: UntypedSseStream;
  }
}

/**
 * Options of the {@link ssekit} plugin: whether `fastify.close()` ends the open streams, and
 * how ({@link @ssekit/core/node!shutdown}'s `registry`, `retry` and `deadline`).
 */
export interface SsekitOptions extends ShutdownOptions {
  /**
   * End every open stream when the app closes, each client told when to come back (a `retry:`
   * line). Without it `fastify.close()` waits for every client to leave. Default `true`.
   */
  closeStreamsOnClose?: boolean;
}

/**
 * The plugin: decorates `reply.sse` and, unless `closeStreamsOnClose: false`, adds a
 * `preClose` hook that ends the open streams (core's `shutdown()` on `fastify.server`), so that
 * `fastify.close()` resolves instead of waiting for clients that never leave. Wrapped with
 * `fastify-plugin`: it applies to the whole app. The route helpers work without it; then
 * `close()` waits for the streams.
 *
 * @example
 * await app.register(ssekit, { retry: { min: 1000, max: 5000 } });
 */
export const ssekit: FastifyPluginCallback<SsekitOptions> = fp(
  async (fastify: FastifyInstance, { closeStreamsOnClose = true, ...shutdownOptions }: SsekitOptions) => {
    // Checked now: a mistake found only at close() would leave close() waiting on the streams.
    checkShutdownOptions(shutdownOptions);
    fastify.decorateReply('sse', null as unknown as UntypedSseStream);
    if (closeStreamsOnClose) fastify.addHook('preClose', () => shutdown(fastify.server, shutdownOptions));
  },
  { fastify: '5.x', name: '@ssekit/fastify' },
);

/**
 * Runs with the stream once it is open. It may return at once and keep the stream (a timer, a
 * subscription) or await a long loop; either way the response streams.
 */
export type SseHandler<Events extends object = EventMap> = (
  stream: SseStream<Events>,
  request: FastifyRequest,
  reply: FastifyReply,
) => void | Promise<void>;

/**
 * A route handler that answers with an event stream and hands it to `handler` (and puts it on
 * `reply.sse`). A handler, not a `preHandler` hook: a hook that sends ends the route there.
 * Fastify stays in charge of the response: the stream is the payload of `reply.send()`, so
 * `onSend` and `onResponse` hooks and the request log see it (status 200, `text/event-stream`).
 *
 * A client that leaves is no error: Fastify logs "stream closed prematurely" at `info`. What
 * `handler` throws before returning answers with the error's `statusCode` (else 500) through
 * Fastify's error handler, and a handler that sends its own answer before returning (a
 * refusal) keeps it; so refuse there, or in an `onRequest`/`preHandler` hook, not after an
 * `await`. What it rejects with later closes the stream and goes to `options.onError`, as does
 * what a callback of the options throws (default: the request's logger, at `error`).
 *
 * @example
 * app.get('/events', sse((stream) => {
 *   const timer = setInterval(() => stream.send({ now: Date.now() }), 1000);
 *   stream.onClose(() => clearInterval(timer));
 * }, { retry: 2000 }));
 * @throws {@link @ssekit/core!SseError} for invalid options, when the handler is created.
 */
export function sse<Events extends object = EventMap>(
  handler: SseHandler<Events>,
  options: SseStreamOptions<IncomingMessage> = {},
): RouteHandlerMethod {
  const open = createBodyOpener(options);
  return (request, reply) => {
    const { stream, send } = respondWithStream(request, reply, open, options.onError);
    // Run before the reply is sent, so that headers it sets are in the head.
    let result: void | Promise<void>;
    try {
      result = handler(stream as SseStream<Events>, request, reply);
    } catch (error) {
      stream.close();
      throw error;
    }
    // A handler that answered by itself (a refusal) keeps its answer; the stream goes unused.
    if (reply.sent) {
      stream.close();
      return reply;
    }
    send();
    if (isThenable(result)) Promise.resolve(result).catch((error) => failed(stream, request, error, options.onError));
    return reply;
  };
}

/**
 * Options of {@link channel}: the stream's, and the route's own `filter` and `authorize`,
 * which get Fastify's request.
 *
 * @see {@link @ssekit/core!ChannelRouteOptions} for `filter` and `authorize`.
 */
export interface ChannelRouteOptions
  extends SseStreamOptions<IncomingMessage>,
    CoreChannelRouteOptions<FastifyRequest> {}

/**
 * A route handler that opens an event stream and subscribes it to a channel of `registry`,
 * resuming after the client's `Last-Event-ID` from the channel's history. A refusal of
 * `authorize` is answered with its status and an empty body; a name function or `authorize`
 * that throws goes to Fastify's error handler, before any stream opens.
 *
 * @param name - the channel, or a function of the request that names it.
 * @example
 * app.get('/rooms/:room/events', channel(registry, (request) => `room:${(request.params as { room: string }).room}`));
 * @throws {@link @ssekit/core!SseError} for invalid options, when the handler is created.
 */
export function channel(
  registry: ChannelRegistry,
  name: string | ((request: FastifyRequest) => string),
  options: ChannelRouteOptions = {},
): RouteHandlerMethod {
  const { filter, authorize, ...streamOptions } = options;
  const open = createBodyOpener(streamOptions);
  const route = createChannelRoute(registry, name, { filter, authorize });
  return async (request, reply) => {
    const admission = await route(request);
    if ('status' in admission) return reply.code(admission.status).send();
    const { stream, send } = respondWithStream(request, reply, open, options.onError);
    try {
      admission.subscribe(stream);
    } catch (error) {
      stream.close();
      throw error;
    }
    return send();
  };
}

/**
 * Options of {@link channels}: the stream's, and the route's `key`, `authorize` and
 * `maxChannels`, which get Fastify's request. `channels` defaults to the `channels` query
 * parameter, comma-separated.
 *
 * @see {@link @ssekit/core!ChannelsRouteOptions}
 */
export interface ChannelsOptions extends SseStreamOptions<IncomingMessage>, CoreChannelsRouteOptions<FastifyRequest> {}

/**
 * Route handlers for many channels over one connection: `events` opens a stream that follows
 * the channels asked for (each authorized alone, refused ones listed in the opening
 * `ssekit-stream` event) and resumes them all from one `Last-Event-ID`; `subscriptions` takes
 * a JSON `{ stream, subscribe?, unsubscribe? }` (`request.body` as Fastify parsed it, or read
 * here; at most 16 KiB by its `Content-Length`) and answers with what it did. A failure once the stream is open
 * closes it and goes to `options.onError`.
 *
 * @example
 * const feed = channels(registry, { key, authorize: (channel, request) => mayRead(request.user, channel) });
 * app.get('/events', feed.events);
 * app.post('/events/subscriptions', feed.subscriptions);
 * @throws {@link @ssekit/core!SseError} for invalid options, when the handlers are created.
 */
export function channels(
  registry: ChannelRegistry,
  options: ChannelsOptions,
): { events: RouteHandlerMethod; subscriptions: RouteHandlerMethod } {
  const open = createBodyOpener(options);
  const route = createChannelsRoute<FastifyRequest>(registry, options, (request) => request.url);
  return {
    events(request, reply) {
      const { stream, send } = respondWithStream(request, reply, open, options.onError);
      send();
      route.open(request, stream).catch((error) => failed(stream, request, error, options.onError));
      return reply;
    },
    async subscriptions(request, reply) {
      // The raw bytes when no parser took them; a body Fastify parsed is held to the same
      // 16 KiB (Fastify's own limit is 1 MiB), by its length: a longer one is answered 400.
      const body =
        request.body === undefined
          ? await readJsonBody(request.raw)
          : Number(request.headers['content-length'] ?? 0) > MAX_CHANGE_BYTES
            ? undefined
            : typeof request.body === 'string'
              ? parseJson(request.body) // sent as text/plain, which Fastify parses as text
              : request.body;
      const answer = await route.change(request, body);
      return reply.code(answer.status).send(answer.body);
    },
  };
}

// Fastify stays in charge: status, headers and a stream payload, which it pipes to the
// response once `send` is called. What a callback throws goes to the request's logger.
function respondWithStream(
  request: FastifyRequest,
  reply: FastifyReply,
  open: ReturnType<typeof createBodyOpener>,
  onError: (error: unknown) => void = (error) => request.log.error({ err: error }, 'ssekit: a stream callback failed'),
): { stream: UntypedSseStream; send: () => FastifyReply } {
  const { stream, body, headers, status } = open(request.raw, reply.raw, onError);
  reply.code(status).headers(headers);
  reply.sse = stream;
  return { stream, send: () => reply.send(body) };
}

function failed(
  stream: SseStream,
  request: FastifyRequest,
  error: unknown,
  onError: (error: unknown) => void = (error) =>
    request.log.error({ err: error }, 'ssekit: a route failed after its stream opened'),
): void {
  stream.close();
  try {
    onError(error);
  } catch (thrown) {
    // An onError that throws must not become an unhandled rejection, which ends the process.
    request.log.error({ err: thrown }, 'ssekit: onError threw');
  }
}

function isThenable(value: unknown): value is PromiseLike<void> {
  return typeof (value as PromiseLike<void> | undefined)?.then === 'function';
}

/** A subscribe call's body from text: JSON, or undefined (answered 400). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
