import { SseError } from './errors.js';
import { checkRetryRange, type RetryRange, randomRetry } from './retry-range.js';

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
  // A method, so that a limiter typed for a framework's request (Express's, a subtype of
  // Node's) fits where Node's request is what gets passed, as it is at run time.
  key?(request: Request): string | undefined;
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

/** @internal A slot taken for a stream, with the function that gives it back; or why none was given. */
export type Slot =
  | { readonly ok: true; readonly release: () => void }
  | { readonly ok: false; readonly refusal: Refusal };

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
  readonly #key: ConnectionLimitOptions<Request>['key'];
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
   * @internal Takes a slot for `request`, keyed by `key` or the given default, with the
   * function that gives it back (call it once, when the stream ends); or refuses it.
   */
  acquire(request: Request, defaultKey: string | undefined): Slot {
    const key = this.#key ? this.#key(request) : defaultKey;
    if (this.#open >= this.#total) return this.#refusal(503);
    const ofKey = key === undefined ? 0 : (this.#byKey.get(key) ?? 0);
    if (key !== undefined && ofKey >= this.#perKey) return this.#refusal(429);
    this.#open++;
    if (key !== undefined) this.#byKey.set(key, ofKey + 1);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.#open--;
      if (key === undefined) return;
      const left = (this.#byKey.get(key) ?? 1) - 1;
      if (left === 0) this.#byKey.delete(key);
      else this.#byKey.set(key, left);
    };
    return { ok: true, release };
  }

  #refusal(status: 429 | 503): Slot {
    const retryMs = randomRetry(this.#retry);
    return { ok: false, refusal: { status: this.#refuse === 'retry' ? 200 : status, retryMs } };
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
