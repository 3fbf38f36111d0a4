/**
 * Server-sent events for Koa 2 and 3: the `sse()` middleware and `channel()` routes.
 *
 * @module @ssekit/koa
 */
import type { IncomingMessage } from 'node:http';
import {
  type ChannelRegistry,
  type ChannelRouteOptions as CoreChannelRouteOptions,
  type ChannelsRouteOptions as CoreChannelsRouteOptions,
  createChannelRoute,
  createChannelsRoute,
  readJsonBody,
  type SseStream,
  type SseStreamOptions,
  type UntypedSseStream,
} from '@ssekit/core';
import { createBodyOpener } from '@ssekit/core/node';
import type { Context, Middleware } from 'koa';

export type { SseStream, SseStreamOptions } from '@ssekit/core';

/**
 * What `sse()` adds to the context. Koa's default context gets it by declaration merging;
 * an app with its own context type adds it: `new Koa<State, MyContext & SseContext>()`.
 */
export interface SseContext {
  /** The event stream that the `sse()` middleware opened for this request. */
  sse: UntypedSseStream;
}

declare module 'koa' {
  interface DefaultContext {
    /**
     * The event stream that the `sse()` middleware opened for this request. For typed
     * events: `const stream = ctx.sse as SseStream<MyEvents>`.
     */
    sse: UntypedSseStream;
  }
}

/**
 * Middleware that opens an event stream on `ctx.sse`. Koa stays in charge of the response:
 * status 200, the event-stream headers and a streaming `ctx.body` are set before `next()`,
 * so upstream middleware (loggers, metrics) sees them, and Koa starts sending once the
 * middleware chain returns. So return from your handler, keeping the stream, rather than
 * awaiting it: the client receives nothing until the chain is done.
 *
 * A client that disconnects is not reported as an error on the app (Koa 3 would report
 * the body's premature close through `ctx.onerror` otherwise). What a callback of the
 * options (`cors.origin`, the limiter's `key`, `onOverflow`) or an `onClose` listener throws
 * goes to the app's `'error'` event, unless `options.onError` is given.
 *
 * @example
 * router.get('/events', sse({ retry: 2000 }), (ctx) => {
 *   const timer = setInterval(() => ctx.sse.send({ now: Date.now() }), 1000);
 *   ctx.sse.onClose(() => clearInterval(timer));
 * });
 * @throws {@link @ssekit/core!SseError} for invalid options, when the middleware is created.
 */
export function sse(options: SseStreamOptions<IncomingMessage> = {}): Middleware {
  const open = createBodyOpener(options);
  return async (ctx, next) => {
    ctx.sse = respondWithStream(ctx, open, options.onError);
    await next();
  };
}

/**
 * Options of {@link channel}: the stream's, and the route's own `filter` and `authorize`,
 * which get Koa's `ctx`.
 *
 * @see {@link @ssekit/core!ChannelRouteOptions} for `filter` and `authorize`.
 */
export interface ChannelRouteOptions extends SseStreamOptions<IncomingMessage>, CoreChannelRouteOptions<Context> {}

/**
 * Middleware that opens an event stream and subscribes it to a channel of `registry`,
 * resuming after the client's `Last-Event-ID` from the channel's history.
 *
 * @param name - the channel, or a function of the context that names it.
 * @example
 * router.get('/rooms/:room/events', channel(registry, (ctx) => `room:${ctx.params.room}`));
 * @throws {@link @ssekit/core!SseError} for invalid options, when the middleware is created.
 */
export function channel(
  registry: ChannelRegistry,
  name: string | ((ctx: Context) => string),
  options: ChannelRouteOptions = {},
): Middleware {
  const { filter, authorize, ...streamOptions } = options;
  const open = createBodyOpener(streamOptions);
  const route = createChannelRoute(registry, name, { filter, authorize });
  return async (ctx) => {
    const admission = await route(ctx);
    if ('status' in admission) {
      // An empty body, as from every adapter; Koa would send the status text otherwise.
      // (The explicit null first: set after a status, it would turn the status into 204.)
      ctx.body = null;
      ctx.status = admission.status;
    } else admission.subscribe(respondWithStream(ctx, open, options.onError));
  };
}

/**
 * Options of {@link channels}: the stream's, and the route's `key`, `authorize` and
 * `maxChannels`, which get Koa's `ctx`. `channels` defaults to the `channels` query parameter.
 *
 * @see {@link @ssekit/core!ChannelsRouteOptions}
 */
export interface ChannelsOptions extends SseStreamOptions<IncomingMessage>, CoreChannelsRouteOptions<Context> {}

/**
 * Middleware for many channels over one connection: `events` opens a stream that follows the
 * channels asked for (each authorized alone, refused ones listed in the opening
 * `ssekit-stream` event) and resumes them all from one `Last-Event-ID`; `subscriptions` takes
 * a JSON `{ stream, subscribe?, unsubscribe? }` (`ctx.request.body` from a body parser, or
 * read here, at most 16 KiB) and answers with what it did.
 *
 * @example
 * const feed = channels(registry, { key, authorize: (channel, ctx) => mayRead(ctx.state.user, channel) });
 * router.get('/events', feed.events);
 * router.post('/events/subscriptions', feed.subscriptions);
 * @throws {@link @ssekit/core!SseError} for invalid options, when the middleware is created.
 */
export function channels(
  registry: ChannelRegistry,
  options: ChannelsOptions,
): { events: Middleware; subscriptions: Middleware } {
  const open = createBodyOpener(options);
  const route = createChannelsRoute<Context>(registry, options, (ctx) => ctx.url);
  return {
    events: async (ctx) => {
      await route.open(ctx, respondWithStream(ctx, open, options.onError));
    },
    subscriptions: async (ctx) => {
      const parsed = (ctx.request as { body?: unknown }).body;
      const answer = await route.change(ctx, parsed === undefined ? await readJsonBody(ctx.req) : parsed);
      ctx.status = answer.status;
      ctx.body = answer.body;
    },
  };
}

// Koa stays in charge: status, headers and a streaming body, sent when the chain returns.
// What a callback throws is the app's error, told where Koa tells its errors.
function respondWithStream(
  ctx: Context,
  open: ReturnType<typeof createBodyOpener>,
  onError: (error: unknown) => void = (error) => ctx.app.emit('error', error, ctx),
): SseStream {
  const { stream, body, headers, status } = open(ctx.req, ctx.res, onError);
  ctx.status = status;
  ctx.set(headers);
  ctx.body = body;
  const onerror = ctx.onerror;
  // A client that leaves, however it leaves (FIN, RST, a socket that times out), is how an
  // event stream ends, and Koa reports what its connection says then (ECONNRESET, a premature
  // close, a write after the end) as an error. So an error that comes once the stream has
  // ended is not the app's. The connection can report it a moment before the stream learns
  // of the end: an error on an open stream is decided after the I/O under way.
  ctx.onerror = (error) => {
    if (error == null) return onerror.call(ctx, error);
    if (stream.closed) return;
    setImmediate(() => {
      if (!stream.closed) onerror.call(ctx, error);
    });
  };
  return stream;
}
