/**
 * What went wrong, as a stable string that code can switch on.
 *
 * - `INVALID_EVENT`: an event name contains CR, LF or NUL.
 * - `INVALID_ID`: an id contains CR, LF or NUL.
 * - `INVALID_RETRY`: a retry is not a non-negative safe integer.
 * - `INVALID_DATA`: a stream was asked to send `undefined` as data.
 * - `EVENT_TOO_LARGE`: an event is over a stream's `maxEventBytes` once encoded, or its data
 *   over a registry's `maxDataBytes` once serialized.
 * - `SERIALIZE_FAILED`: the serializer threw or did not return a string.
 * - `INVALID_OPTION`: an option of a stream or sink is out of range.
 * - `INVALID_CHANNEL`: a channel name is not a well-formed Unicode string (it holds a lone
 *   surrogate, which would reach a networked broker as U+FFFD and meet another channel), or a
 *   stream of many channels was given one with a line break (its data lines name the channel).
 * - `TOO_MANY_CHANNELS`: a stream of many channels would follow more than its `maxChannels`,
 *   or more than its resume cursor has room for.
 * - `REGISTRY_CLOSED`: a publish after `ChannelRegistry.close()`.
 * - `BROKER_UNAVAILABLE`: a networked broker cannot reach its server (at start-up, or for a
 *   publish during an outage); the message names the server.
 * - `REPLAY_OVERTAKEN`: history dropped events that a replay under way had not sent yet (the
 *   client read slower than history turned over). Brokers throw it from a replay's pages; the
 *   channel ends that stream with a retry hint, and the client resumes and is told of the gap.
 * - `STREAM_CLOSED`, `CLIENT_GONE`, `BUFFER_OVERFLOW`, `CLIENT_STALLED`: why a stream ended; these are
 *   only ever the `reason` of {@link SseStream.signal}, never thrown.
 */
export type SseErrorCode =
  | 'INVALID_EVENT'
  | 'INVALID_ID'
  | 'INVALID_RETRY'
  | 'INVALID_DATA'
  | 'EVENT_TOO_LARGE'
  | 'SERIALIZE_FAILED'
  | 'INVALID_OPTION'
  | 'INVALID_CHANNEL'
  | 'TOO_MANY_CHANNELS'
  | 'REGISTRY_CLOSED'
  | 'BROKER_UNAVAILABLE'
  | 'REPLAY_OVERTAKEN'
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

/** The codes a stream's `signal` is aborted with. */
export type EndCode = 'STREAM_CLOSED' | 'CLIENT_GONE' | 'BUFFER_OVERFLOW' | 'CLIENT_STALLED';

const END_MESSAGES: Record<EndCode, string> = {
  STREAM_CLOSED: 'the stream was closed by the server',
  CLIENT_GONE: 'the client disconnected',
  BUFFER_OVERFLOW: 'the client read too slowly and the buffer bound was reached',
  CLIENT_STALLED: 'the client took no bytes for about four heartbeat periods',
};

/**
 * The reason an event stream's signal is aborted with. Sinks use it for `CLIENT_GONE` when
 * their transport ends by itself; `cause` is what the runtime reported, if anything.
 */
export function endReason(code: EndCode, cause?: unknown): SseError {
  return new SseError(code, END_MESSAGES[code], cause === undefined ? undefined : { cause });
}
