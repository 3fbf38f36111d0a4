// Where a runtime differs from the Web standards that the rest of core relies on. Each
// difference is detected once, here, with the runtime and version it was seen on; the code
// that works around it reads these constants and nothing else about the runtime.

const userAgent = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent;

/**
 * workerd (Cloudflare Workers; seen on workerd 2026-11-17, compatibility date 2026-11-01)
 * ties timers and promises to the request that made them:
 * - a timer shared by the streams of several requests stops when the request that started
 *   it ends, and a stream whose own request has nothing pending is cancelled as "hung",
 *   with neither `cancel` nor an abort to tell it;
 * - it learns that a client left only when it next writes to it: for a quiet stream there
 *   is no `cancel`, and no `request.signal` abort even with the `enable_request_signal` flag.
 *
 * So on workerd every stream has a heartbeat timer of its own, and a quiet stream is sent a
 * heartbeat after at most {@link WORKERD_MAX_SILENCE_MS}, which is how a disconnect is
 * noticed within a second there too.
 */
export const TIMERS_PER_REQUEST = userAgent === 'Cloudflare-Workers';

/** On workerd, the longest silence of any stream, whatever its `heartbeat` option. */
export const WORKERD_MAX_SILENCE_MS = 500;

/**
 * Deno (seen on 2.9.6) prints a deprecation warning the first time a `request.signal` is
 * read, because `Deno.serve` also aborts it after every successful response. Deno cancels
 * the body of a client that left, which is all a stream needs, so the signal is not read.
 */
export const READ_REQUEST_SIGNAL = (globalThis as { Deno?: unknown }).Deno === undefined;
