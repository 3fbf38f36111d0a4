import type { Channel, ChannelMessage, ChannelRegistry } from './channel.js';
import { SseError } from './errors.js';
import type { SseStream } from './stream.js';

/** Whether a request may read a channel: `true`; or `false`/`403` (forbidden), `401` (not signed in). */
export type ChannelVerdict = boolean | 401 | 403;

/** A verdict as admission or the status of its refusal: `false` is a 403. */
export const refusalOf = (verdict: ChannelVerdict): true | 401 | 403 =>
  verdict === true ? true : verdict === 401 ? 401 : 403;

/**
 * Decides whether a request may subscribe to a channel, before any stream opens: `true`
 * admits it; `false` or `403` answers 403 (forbidden), `401` answers 401 (not signed in).
 * A browser's `EventSource` does not retry after either, which is what a refusal should be.
 */
export type ChannelAuthorizer<Request> = (request: Request) => ChannelVerdict | Promise<ChannelVerdict>;

/**
 * What a channel route answers a request with: a status without a stream (204 for a channel
 * ended for good, 400 for a name that is not well-formed Unicode, 401 or 403 for a refusal),
 * or a function that subscribes the stream it opens.
 */
export type ChannelAdmission =
  | { readonly status: 204 | 400 | 401 | 403 }
  | { readonly subscribe: (stream: SseStream) => () => void };

/**
 * What a channel route does with each request besides opening its stream: which events the
 * stream gets, and who may subscribe. Every adapter's `channel()` route takes these beside
 * its stream options, with `Request` the request as that framework gives it (Express's `req`,
 * Koa's `ctx`, Hono's `c`).
 */
export interface ChannelRouteOptions<Request> {
  /** Which events go to this request's stream, e.g. by user. Default: all. */
  filter?: (message: ChannelMessage, request: Request) => boolean;
  /**
   * Decides, before any stream opens, whether this request may subscribe: `true` admits it,
   * `false` or `403` answers 403, `401` answers 401. May be async (a session lookup).
   * Default: every request is admitted.
   */
  authorize?: ChannelAuthorizer<Request>;
}

/**
 * The shared part of every adapter's `channel()` route: names the request's channel at once
 * (so that a name function that throws still gets a normal error response), asks
 * `authorize`, if any, then either answers with a status (ended for good, malformed name or
 * refused) or subscribes the stream opened for it, with the filter bound to the request.
 * Synchronous without `authorize`.
 *
 * @param name - the channel, or a function of the request that names it.
 */
export function createChannelRoute<Request>(
  registry: ChannelRegistry,
  name: string | ((request: Request) => string),
  options: ChannelRouteOptions<Request> = {},
): (request: Request) => ChannelAdmission | Promise<ChannelAdmission> {
  const { filter, authorize } = options;
  return (request) => {
    const channelName = typeof name === 'string' ? name : name(request);
    const admit = (): ChannelAdmission => {
      if (registry.isEnded(channelName)) return { status: 204 };
      let target: Channel;
      try {
        target = registry.channel(channelName);
      } catch (error) {
        // A name made from the request (a JSON field, a path segment left undecoded) that no
        // broker can store is the client's error, not the app's.
        if (error instanceof SseError && error.code === 'INVALID_CHANNEL') return { status: 400 };
        throw error;
      }
      return {
        subscribe: (stream) => target.subscribe(stream, { filter: filter && ((message) => filter(message, request)) }),
      };
    };
    if (!authorize) return admit();
    return Promise.resolve(authorize(request)).then((verdict) => {
      const refusal = refusalOf(verdict);
      return refusal === true ? admit() : { status: refusal };
    });
  };
}

/** @deprecated use {@link createChannelRoute}, which takes `filter` and `authorize` in an options object. */
export function channelRoute<Request>(
  registry: ChannelRegistry,
  name: string | ((request: Request) => string),
  filter?: (message: ChannelMessage, request: Request) => boolean,
  authorize?: ChannelAuthorizer<Request>,
): (request: Request) => ChannelAdmission | Promise<ChannelAdmission> {
  return createChannelRoute(registry, name, { filter, authorize });
}
