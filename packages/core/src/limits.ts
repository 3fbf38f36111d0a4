import { SseError } from './errors.js';
import { streamHeaders } from './headers.js';
import { checkRetryRange, type RetryRange, randomRetry } from './retry-range.js';
import { reportError, type SseStreamOptions } from './stream.js';

/** Options of {@link ConnectionLimiter}. */
export interface ConnectionLimitOptions<Request> {
  /** Most streams open at once, in all. Default: no limit. */
  total?: number;
  /** Most streams open at once per client key. Default: no limit. */
  perKey?: number;
  /**
   * The client's key: by default its remote address on Node, none on fetch-style runtimes
   * (which do not show it to the request); e.g. `(req) => userIdOf(req)`. One that throws
   * gets its request a 500 with an empty body, and the error goes to the stream's `onError`.
   */
  key?: (request: Request) => string | undefined;
  /**
   * How a request over a limit is answered, before any stream is registered:
   * - `'retry'` (default): status 200, a random `retry:` hint within `retry`, and an
   *   immediate end. A browser's `EventSource` comes back by itself after the hint, where
   *   any other status would stop it for good.
   * - `'status'`: 503 over `total`, 429 over `perKey`, with `Retry-After`, for clients that
   *   are not browsers.
   */
  refuse?: 'retry' | 'status';
  /** Range, in ms, of the retry hint (and `Retry-After`, rounded up to seconds). Default 1 000–5 000. */
  retry?: RetryRange;
}

/** What a request over a limit is answered with. */
export interface Refusal {
  readonly status: 200 | 429 | 503;
  /** The reconnection delay to tell the client, in ms. */
  readonly retryMs: number;
}

/**
 * Bounds how many event streams are open, in all and per client, so that an SSE endpoint
 * cannot be used to exhaust a server's memory or sockets. Pass one as the `limit` option of
 * the streams it should count; a stream's slot is released when it ends, by either side.
 *
 * @example
 * const limit = new ConnectionLimiter({ total: 10_000, perKey: 10 });
 * app.get('/events', sse({ limit }), handler);
 */
export class ConnectionLimiter<Request = unknown> {
  readonly #total: number;
  readonly #perKey: number;
  readonly #key: ((request: Request) => string | undefined) | undefined;
  readonly #refuse: 'retry' | 'status';
  readonly #retry: RetryRange;
  readonly #byKey = new Map<string, number>();
  #open = 0;

  /** @throws {@link SseError} `INVALID_OPTION` for limits or a retry range that are not ones. */
  constructor(options: ConnectionLimitOptions<Request> = {}) {
    const { total = Number.POSITIVE_INFINITY, perKey = Number.POSITIVE_INFINITY } = options;
    const count = (n: number) => n === Number.POSITIVE_INFINITY || (Number.isSafeInteger(n) && n >= 0);
    if (!count(total) || !count(perKey)) {
      throw new SseError(
        'INVALID_OPTION',
        `limits { total: ${total}, perKey: ${perKey} } must be whole numbers, 0 or more.`,
      );
    }
    this.#total = total;
    this.#perKey = perKey;
    this.#key = options.key;
    this.#refuse = options.refuse ?? 'retry';
    this.#retry = checkRetryRange('retry', options.retry);
  }

  /** Streams open now under this limiter. */
  get open(): number {
    return this.#open;
  }

  /**
   * @internal Takes a slot for `request`, keyed by `key` or the given default: a function
   * that gives it back (call it once, when the stream ends), or the {@link Refusal}.
   */
  acquire(request: Request, defaultKey: string | undefined): (() => void) | Refusal {
    const key = this.#key ? this.#key(request) : defaultKey;
    if (this.#open >= this.#total) return this.#refusal(503);
    const ofKey = key === undefined ? 0 : (this.#byKey.get(key) ?? 0);
    if (key !== undefined && ofKey >= this.#perKey) return this.#refusal(429);
    this.#open++;
    if (key !== undefined) this.#byKey.set(key, ofKey + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#open--;
      if (key === undefined) return;
      const left = (this.#byKey.get(key) ?? 1) - 1;
      if (left === 0) this.#byKey.delete(key);
      else this.#byKey.set(key, left);
    };
  }

  #refusal(status: 429 | 503): Refusal {
    const retryMs = randomRetry(this.#retry);
    return { status: this.#refuse === 'retry' ? 200 : status, retryMs };
  }
}

/** @internal How a refused request is answered, the same on every runtime. */
export function refusalResponse(
  refusal: Refusal,
  streamHeaders: Record<string, string>,
): { status: number; headers: Record<string, string>; body: string } {
  if (refusal.status === 200) return { status: 200, headers: streamHeaders, body: `retry: ${refusal.retryMs}\n` };
  const headers = {
    'retry-after': String(Math.ceil(refusal.retryMs / 1000)),
    'content-type': 'text/plain; charset=utf-8',
  };
  return {
    status: refusal.status,
    headers,
    body: refusal.status === 429 ? 'Too many streams for this client.' : 'Too many streams.',
  };
}

/**
 * @internal How a request is answered before its stream opens, the same on every runtime:
 * with the stream's headers and the limiter slot to give back when it ends, or without a stream.
 */
export type Opening =
  | { readonly headers: Record<string, string>; readonly release: (() => void) | undefined }
  | { readonly status: number; readonly headers: Record<string, string>; readonly body: string };

/**
 * @internal Runs the callbacks a request meets before its stream opens (`cors.origin`, the
 * limiter's `key`). One that throws gets the request a 500 with an empty body and goes to
 * `onError`: the sinks' creators are called from request handlers with no error path
 * (node:http, a bare `fetch` handler), where a throw would end the process.
 */
export function openingOf(
  request: unknown,
  origin: string | undefined,
  defaultKey: string | undefined,
  options: SseStreamOptions,
): Opening {
  let headers: Record<string, string>;
  let slot: ReturnType<ConnectionLimiter['acquire']> | undefined;
  try {
    headers = streamHeaders(options.headers, options.cors, origin);
    slot = options.limit?.acquire(request as never, defaultKey);
  } catch (error) {
    reportError(options.onError, error, 'a callback failed before the stream opened; answered 500');
    return { status: 500, headers: {}, body: '' };
  }
  if (slot && typeof slot !== 'function') return refusalResponse(slot, headers);
  return { headers, release: slot };
}
