/**
 * Server-sent events for Hono on Node, Bun, Deno and Cloudflare Workers: `sse()` handlers and `channel()` routes.
 *
 * @module @ssekit/hono
 */
import {
  type ChannelRegistry,
  type ChannelRouteOptions as CoreChannelRouteOptions,
  type ChannelsRouteOptions as CoreChannelsRouteOptions,
  type CreateResponseOptions,
  createChannelRoute,
  createChannelsRoute,
  createResponder,
  type EventMap,
  readJsonBody,
  type SseStream,
} from '@ssekit/core';
import type { Context, Env, Handler } from 'hono';

export type { CreateResponseOptions, SseStream } from '@ssekit/core';

/**
 * Runs with the stream as soon as the response exists. It may return at once and keep the
 * stream (a timer, a subscription) or await a long loop; either way the response streams.
 */
export type SseHandler<E extends Env, P extends string, Events extends object> = (
  stream: SseStream<Events>,
  c: Context<E, P>,
) => void | Promise<void>;

/**
 * A Hono handler that answers with an event stream and hands it to `handler`, with the
 * context. Web APIs only: the same code runs on Node (`@hono/node-server`), Bun, Deno and
 * Cloudflare Workers. For typed events, annotate the stream: `(stream: SseStream<MyEvents>, c)`.
 *
 * A handler that throws or rejects closes the stream and is reported to `options.onError`
 * (default: `console.error`); it cannot reach `app.onError`, as the response is already sent.
 * On Cloudflare Workers the handler is kept running with the execution context's `waitUntil`,
 * so that it still sees the client leave (workerd drops a request's timers otherwise).
 *
 * @example
 * app.get('/events', sse(async (stream, c) => {
 *   for (let n = 1; !stream.closed; n++) {
 *     stream.send({ n }, { event: 'tick', id: n });
 *     await new Promise((resolve) => setTimeout(resolve, 1000));
 *   }
 * }));
 * @throws {@link @ssekit/core!SseError} for invalid options, when the handler is created.
 */
export function sse<E extends Env = Env, P extends string = string, Events extends object = EventMap>(
  handler: SseHandler<E, P, Events>,
  options: CreateResponseOptions = {},
): Handler<E, P> {
  const respond = createResponder(options);
  return (c) => respond<Events>(c.req.raw, (stream) => handler(stream, c), options.waitUntil ?? waitUntilOf(c));
}

/**
 * The `waitUntil` of the Workers execution context, which keeps a handler running after its
 * client left (see `CreateResponseOptions.waitUntil`). Hono's getter throws on runtimes
 * that have no execution context.
 */
function waitUntilOf(c: Context): ((promise: Promise<unknown>) => void) | undefined {
  try {
    const context = c.executionCtx;
    return typeof context.waitUntil === 'function' ? (promise) => context.waitUntil(promise) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Options of {@link channel}: the response's, and the route's own `filter` and `authorize`,
 * which get Hono's context `c`.
 *
 * @see {@link @ssekit/core!ChannelRouteOptions} for `filter` and `authorize`.
 */
export interface ChannelRouteOptions<E extends Env, P extends string>
  extends CreateResponseOptions,
    CoreChannelRouteOptions<Context<E, P>> {}

/**
 * A Hono handler that opens an event stream and subscribes it to a channel of `registry`,
 * resuming after the client's `Last-Event-ID` from the channel's history.
 *
 * @param name - the channel, or a function of the context that names it.
 * @example
 * app.get('/rooms/:room/events', channel(registry, (c) => `room:${c.req.param('room')}`));
 * @throws {@link @ssekit/core!SseError} for invalid options, when the handler is created.
 */
export function channel<E extends Env = Env, P extends string = string>(
  registry: ChannelRegistry,
  name: string | ((c: Context<E, P>) => string),
  options: ChannelRouteOptions<E, P> = {},
): Handler<E, P> {
  const { filter, authorize, ...responseOptions } = options;
  const respond = createResponder(responseOptions);
  const route = createChannelRoute(registry, name, { filter, authorize });
  return async (c) => {
    const admission = await route(c);
    if ('status' in admission) return c.body(null, admission.status);
    return respond(c.req.raw, (stream) => void admission.subscribe(stream));
  };
}

/**
 * Options of {@link channels}: the response's, and the route's `key`, `authorize` and
 * `maxChannels`, which get Hono's `c`. `channels` defaults to the `channels` query parameter.
 *
 * @see {@link @ssekit/core!ChannelsRouteOptions}
 */
export interface ChannelsOptions<E extends Env = Env, P extends string = string>
  extends CreateResponseOptions,
    CoreChannelsRouteOptions<Context<E, P>> {}

/**
 * Handlers for many channels over one connection: `events` opens a stream that follows the
 * channels asked for (each authorized alone, refused ones listed in the opening
 * `ssekit-stream` event) and resumes them all from one `Last-Event-ID`; `subscriptions` takes
 * a JSON `{ stream, subscribe?, unsubscribe? }` (at most 16 KiB) and answers with what it did.
 * A call that reaches another instance is relayed to the one that holds the stream, through
 * a broker that spans them; with the default `MemoryBroker` (one isolate on Workers), it must
 * reach the isolate that holds it.
 *
 * @example
 * const feed = channels(registry, { key, authorize: (channel, c) => mayRead(c.get('user'), channel) });
 * app.get('/events', feed.events);
 * app.post('/events/subscriptions', feed.subscriptions);
 * @throws {@link @ssekit/core!SseError} for invalid options, when the handlers are created.
 */
export function channels<E extends Env = Env, P extends string = string>(
  registry: ChannelRegistry,
  options: ChannelsOptions<E, P>,
): { events: Handler<E, P>; subscriptions: Handler<E, P> } {
  const respond = createResponder(options);
  const route = createChannelsRoute<Context<E, P>>(registry, options, (c) => c.req.url);
  return {
    events: (c) => respond(c.req.raw, (stream) => route.open(c, stream)),
    subscriptions: async (c) => {
      const answer = await route.change(c, await readJsonBody(c.req.raw.body));
      // On Workers, the channels this call added catch up after it answered.
      if ('settled' in answer && answer.settled) waitUntilOf(c)?.(answer.settled);
      return c.json(answer.body, answer.status);
    },
  };
}
