import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkStreamOptions, type SseStream, type SseStreamOptions } from '@ssekit/core';
import { createStream } from '@ssekit/core/node';

export type { SseStream, SseStreamOptions } from '@ssekit/core';

declare global {
  namespace Express {
    interface Response {
      /**
       * The event stream that the `sse()` middleware opened for this request. For typed
       * events: `const stream = res.sse as SseStream<MyEvents>`.
       */
      sse: SseStream;
    }
  }
}

/** An Express (4 or 5) middleware; typed structurally so that no Express types are required. */
export type SseMiddleware = (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void;

/**
 * Middleware that opens an event stream (status 200, headers sent at once) and puts it on
 * `res.sse` for the handlers after it.
 *
 * Errors a later handler passes to Express (thrown, or rejected in Express 5) reach Express's
 * error handling; since the head is already sent, Express's default handler ends the
 * connection, which ends the stream and releases its timers. On Express 4, catch rejections
 * of async handlers yourself, as for any Express 4 route.
 *
 * @example
 * app.get('/events', sse({ retry: 2000 }), (req, res) => {
 *   const timer = setInterval(() => res.sse.send({ now: Date.now() }), 1000);
 *   res.sse.signal.addEventListener('abort', () => clearInterval(timer));
 * });
 * @throws {@link SseError} for invalid options, when the middleware is created.
 */
export function sse(options: SseStreamOptions = {}): SseMiddleware {
  checkStreamOptions(options);
  return (req, res, next) => {
    (res as ServerResponse & { sse: SseStream }).sse = createStream(req, res, options);
    next();
  };
}
