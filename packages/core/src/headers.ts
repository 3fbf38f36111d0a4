import { SseError } from './errors.js';

/**
 * The response headers of every event stream, as docs/proxies.md ("What a stream needs from
 * every hop") lists them; `test/conformance` checks that every adapter sends them.
 *
 * - `charset=utf-8` in lower case: the event-stream format is always UTF-8 and some
 *   browsers reject any other spelling.
 * - `no-transform` keeps proxies from compressing or re-chunking the stream;
 *   `X-Accel-Buffering: no` turns off nginx's response buffering.
 * - No `Connection`, `Keep-Alive` or `Transfer-Encoding`: HTTP/2 forbids them and Node
 *   already manages them on HTTP/1.1.
 *
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#text/event-stream
 */
export const SSE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
});

/**
 * Which other origins may read a stream: what a cross-origin `EventSource` needs. The
 * browser sends no preflight for it (a GET with no custom header), so the stream's own
 * response carries the answer.
 */
export interface CorsOptions {
  /**
   * The origins allowed, exactly as browsers send them (`https://app.example`): one, a list,
   * or a function of the request's `Origin`. `'*'` allows any origin, but never with
   * `credentials`.
   */
  origin: string | readonly string[] | ((origin: string) => boolean);
  /**
   * Allows `new EventSource(url, { withCredentials: true })`, which sends cookies: the
   * allowed origin is echoed (never `*`) with `Access-Control-Allow-Credentials: true`.
   */
  credentials?: boolean;
}

/** @internal Throws {@link SseError} `INVALID_OPTION` for a CORS policy browsers would refuse. */
export function checkCors(cors: CorsOptions | undefined): void {
  if (cors === undefined) return;
  const { origin } = cors;
  const valid =
    typeof origin === 'function' ||
    (typeof origin === 'string' && origin !== '') ||
    (Array.isArray(origin) && origin.every((entry) => typeof entry === 'string'));
  if (!valid) {
    throw new SseError('INVALID_OPTION', 'cors.origin must be an origin, a list of origins, a function, or "*".');
  }
  if (cors.credentials && (origin === '*' || (Array.isArray(origin) && origin.includes('*')))) {
    throw new SseError(
      'INVALID_OPTION',
      'cors: browsers refuse "*" with credentials; list the origins allowed, or pass a function.',
    );
  }
}

function corsHeaders(cors: CorsOptions, origin: string | undefined): Record<string, string> {
  if (cors.origin === '*') return { 'access-control-allow-origin': '*' };
  // The answer depends on the request's Origin: caches must keep one per origin.
  const headers: Record<string, string> = { vary: 'Origin' };
  if (origin === undefined) return headers;
  const allowed =
    typeof cors.origin === 'function'
      ? cors.origin(origin)
      : typeof cors.origin === 'string'
        ? cors.origin === origin
        : cors.origin.includes(origin) || cors.origin.includes('*');
  if (!allowed) return headers;
  headers['access-control-allow-origin'] = origin;
  if (cors.credentials) headers['access-control-allow-credentials'] = 'true';
  return headers;
}

/**
 * @internal The response headers of a stream: `extra` (names lower-cased, so that no
 * runtime sends a header twice), then the CORS answer for the request's `origin`, overridden
 * by {@link SSE_HEADERS}.
 */
export function streamHeaders(
  extra: Record<string, string> | undefined,
  cors?: CorsOptions,
  origin?: string,
): Record<string, string> {
  const headers: Record<string, string> = {};
  if (extra) for (const [name, value] of Object.entries(extra)) headers[name.toLowerCase()] = value;
  if (cors) Object.assign(headers, corsHeaders(cors, origin));
  return Object.assign(headers, SSE_HEADERS);
}
