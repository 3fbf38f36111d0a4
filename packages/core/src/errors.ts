/**
 * What went wrong, as a stable string that code can switch on.
 *
 * - `INVALID_EVENT`: an event name contains CR or LF.
 * - `INVALID_ID`: an id contains CR, LF or NUL.
 * - `INVALID_RETRY`: a retry is not a non-negative safe integer.
 * - `INVALID_DATA`: a stream was asked to send `undefined` as data.
 * - `SERIALIZE_FAILED`: the serializer threw or did not return a string.
 * - `INVALID_OPTION`: an option of a stream or sink is out of range.
 * - `REGISTRY_CLOSED`: a publish after `ChannelRegistry.close()`.
 * - `STREAM_CLOSED`, `CLIENT_GONE`, `BUFFER_OVERFLOW`, `CLIENT_STALLED`: why a stream ended; these are
 *   only ever the `reason` of {@link SseStream.signal}, never thrown.
 */
export type SseErrorCode =
  | 'INVALID_EVENT'
  | 'INVALID_ID'
  | 'INVALID_RETRY'
  | 'INVALID_DATA'
  | 'SERIALIZE_FAILED'
  | 'INVALID_OPTION'
  | 'REGISTRY_CLOSED'
  | 'STREAM_CLOSED'
  | 'CLIENT_GONE'
  | 'BUFFER_OVERFLOW'
  | 'CLIENT_STALLED';

/**
 * The one error class of ssekit. Thrown at the call site for programmer mistakes (an
 * invalid field, an unserializable value), before anything is written; never thrown
 * because a client went away.
 */
export class SseError extends Error {
  override readonly name = 'SseError';

  /** @param code - stable machine-readable cause. @param message - what to do about it. */
  constructor(
    readonly code: SseErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`[ssekit] ${message}`, options);
  }
}
