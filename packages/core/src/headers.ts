/**
 * The response headers of every event stream (invariant 6 of DESIGN.md).
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
 * @internal The response headers of a stream: `extra` (names lower-cased, so that no
 * runtime sends a header twice) overridden by {@link SSE_HEADERS}.
 */
export function streamHeaders(extra: Record<string, string> | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (extra) for (const [name, value] of Object.entries(extra)) headers[name.toLowerCase()] = value;
  return Object.assign(headers, SSE_HEADERS);
}
