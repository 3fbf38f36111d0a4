/**
 * Server-sent events for Express 4 and 5: the `sse()` middleware and `channel()` routes.
 *
 * @module @ssekit/express
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type ChannelAdmission,
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
import { createStreamOpener } from '@ssekit/core/node';

export type { SseStream, SseStreamOptions } from '@ssekit/core';

declare global {
  namespace Express {
    interface Response {
      /**
       * The event stream that the `sse()` middleware opened for this request. For typed
       * events: `const stream = res.sse as SseStream<MyEvents>`.
       */
      sse: UntypedSseStream;
    }
  }
}

/** An Express (4 or 5) middleware; typed structurally so that no Express types are required. */
export type SseMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/** An Express error middleware (four parameters), typed structurally like {@link SseMiddleware}. */
export type SseErrorMiddleware = (
  error: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/**
 * Error middleware for routes behind `sse()`. Once a stream is open its head is sent, so no
 * error page can follow: this closes the stream cleanly (the client reconnects) and reports
 * the error to `onError`. Errors of responses without a stream go on to the next handler.
 *
 * @param onError - where errors of streaming routes go. Default: `console.error`.
 * @example
 * app.get('/events', sse(), handler);
 * app.use(sseErrors((error) => logger.error(error)));
 */
export function sseErrors(
  onError: (error: unknown) => void = (error) =>
    console.error('[ssekit] a route failed after its stream opened:', error),
): SseErrorMiddleware {
  return (error, _req, res, next) => {
    const stream = (res as ServerResponse & { sse?: SseStream }).sse;
    if (!stream) return next(error);
    stream.close();
    onError(error);
  };
}

/**
 * Middleware that opens an event stream (status 200, headers sent at once) and puts it on
 * `res.sse` for the handlers after it.
 *
 * Errors a later handler passes to Express (thrown, or rejected in Express 5) reach Express's
 * error handling: add {@link sseErrors} to close the stream cleanly; without it, Express's
 * default handler cuts the connection (the head is already sent), which also ends the stream
 * and releases its timers. On Express 4, catch rejections of async handlers yourself, as
 * for any Express 4 route.
 *
 * @example
 * app.get('/events', sse({ retry: 2000 }), (req, res) => {
 *   const timer = setInterval(() => res.sse.send({ now: Date.now() }), 1000);
 *   res.sse.onClose(() => clearInterval(timer));
 * });
 * @throws {@link @ssekit/core!SseError} for invalid options, when the middleware is created.
 */
export function sse(options: SseStreamOptions<IncomingMessage> = {}): SseMiddleware {
  const open = createStreamOpener(options);
  return (req, res, next) => {
    (res as ServerResponse & { sse: SseStream }).sse = open(req, res);
    next();
  };
}

/** The request as the `channel()` helper's callbacks see it: Node's, plus Express's parsed parts. */
export type ChannelRequest = IncomingMessage & { params: Record<string, string>; query: Record<string, unknown> };

/**
 * Options of {@link channel}: the stream's, and the route's own `filter` and `authorize`,
 * which get the Express request.
 *
 * @see {@link @ssekit/core!ChannelRouteOptions} for `filter` and `authorize`.
 */
export interface ChannelRouteOptions
  extends SseStreamOptions<IncomingMessage>,
    CoreChannelRouteOptions<ChannelRequest> {}

/**
 * A route handler that opens an event stream and subscribes it to a channel of `registry`,
 * resuming after the client's `Last-Event-ID` from the channel's history. A name function or
 * `authorize` that throws or rejects goes to `next(error)`, before any stream opens.
 *
 * @param name - the channel, or a function of the request that names it.
 * @example
 * const registry = new ChannelRegistry();
 * app.get('/rooms/:room/events', channel(registry, (req) => `room:${req.params.room}`));
 * app.post('/rooms/:room', express.json(), async (req, res) => {
 *   res.json({ id: await registry.channel(`room:${req.params.room}`).publish(req.body) });
 * });
 * @throws {@link @ssekit/core!SseError} for invalid options, when the handler is created.
 */
export function channel(
  registry: ChannelRegistry,
  name: string | ((req: ChannelRequest) => string),
  options: ChannelRouteOptions = {},
): SseMiddleware {
  const { filter, authorize, ...streamOptions } = options;
  const open = createStreamOpener(streamOptions);
  const route = createChannelRoute(registry, name, { filter, authorize });
  return (req, res, next) => {
    const answer = (admission: ChannelAdmission): void => {
      if ('status' in admission) {
        res.statusCode = admission.status;
        res.end();
      } else admission.subscribe(open(req, res));
    };
    const admission = route(req as ChannelRequest);
    // What `answer` throws goes to Express too: a rejection left unhandled ends the process.
    if (admission instanceof Promise) admission.then(answer).catch(next);
    else answer(admission);
  };
}

/**
 * Options of {@link channels}: the stream's, and the route's `key`, `authorize` and
 * `maxChannels`. `channels` defaults to the `channels` query parameter, comma-separated.
 *
 * @see {@link @ssekit/core!ChannelsRouteOptions}
 */
export interface ChannelsOptions extends SseStreamOptions<IncomingMessage>, CoreChannelsRouteOptions<ChannelRequest> {}

/** An Express handler whose request may carry a parsed `body` (from `express.json()`), typed structurally. */
export type JsonHandler = (
  req: IncomingMessage & { body?: unknown },
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/**
 * Routes for many channels over one connection: `events` opens a stream that follows the
 * channels the request asks for (each authorized alone, refused ones listed in the opening
 * `ssekit-stream` event), and resumes them all from one `Last-Event-ID`; `subscriptions`
 * takes a JSON `{ stream, subscribe?, unsubscribe? }` (read by `express.json()` if it runs
 * first, else by itself, at most 16 KiB) to change an open stream's channels, and answers with
 * what it did. Errors go to `next(error)`.
 *
 * @example
 * const feed = channels(registry, { key, authorize: (channel, req) => mayRead(req.user, channel) });
 * app.get('/events', feed.events);
 * app.post('/events/subscriptions', feed.subscriptions);
 * @throws {@link @ssekit/core!SseError} for invalid options, when the routes are created.
 */
export function channels(
  registry: ChannelRegistry,
  options: ChannelsOptions,
): { events: SseMiddleware; subscriptions: JsonHandler } {
  const open = createStreamOpener(options);
  const route = createChannelsRoute<ChannelRequest>(registry, options, (req) => req.url);
  return {
    events: (req, res, next) => {
      route.open(req as ChannelRequest, open(req, res)).catch(next);
    },
    subscriptions: (req, res, next) => {
      (req.body === undefined ? readJsonBody(req) : Promise.resolve(req.body))
        .then((body) => route.change(req as ChannelRequest, body))
        .then(({ status, body }) => {
          res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        })
        .catch(next);
    },
  };
}
