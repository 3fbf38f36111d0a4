import { SseError } from './errors.js';

/**
 * Turns a non-string `data` value into the text of an event. The result may contain line
 * breaks (they become several `data:` lines); it must be a string.
 */
export type Serializer = (data: unknown) => string;

/** One event of the stream, as the application means it. */
export interface SseEvent<Data = unknown> {
  /**
   * The payload. A string goes as it is; anything else goes through the serializer (JSON
   * by default). Omit it for a frame that only sets `id` or `retry`: clients dispatch no
   * event for a frame without data. An empty string is a real, empty event.
   */
  data?: Data;
  /** The event type (`addEventListener(type)` on the client); no CR, LF or NUL. Default `message`. */
  event?: string;
  /** Sets the client's last event id, sent back as `Last-Event-ID` on reconnect; no CR, LF or NUL. */
  id?: string | number;
  /** Reconnection delay in milliseconds the client should use from now on; a non-negative integer. */
  retry?: number;
}

/** Options of {@link encode}. */
export interface EncodeOptions {
  /** Serializer for non-string data. Default `JSON.stringify`. */
  serializer?: Serializer;
}

const utf8 = new TextEncoder();
const LINE_BREAK = /\r\n|\r|\n/;
const HAS_LINE_BREAK = /[\r\n]/;
const HAS_LINE_BREAK_OR_NUL = /[\r\n\0]/;

/** The default serializer: JSON. */
export const jsonSerializer: Serializer = (data) => JSON.stringify(data);

/**
 * Encodes one complete event-stream frame, ending with the blank line that makes the client
 * dispatch it. Invalid fields throw {@link SseError} before anything is produced. A frame
 * with nothing but `retry` is one line without the blank line: a client applies `retry:` as
 * soon as it reads it, and clients that dispatch an event on every blank line (such as
 * `@microsoft/fetch-event-source`) would otherwise see an empty message.
 *
 * Line breaks in data (LF, CRLF or a lone CR) become separate `data:` lines, which the client
 * joins with LF: the format cannot carry a CR. Strings are encoded as UTF-8; a lone surrogate (which UTF-8 cannot carry) becomes U+FFFD,
 * as with every Web API that encodes text.
 *
 * @example
 * encode({ event: 'tick', id: '7', data: { n: 1 } }) // "event: tick\nid: 7\ndata: {\"n\":1}\n\n"
 * @see https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
 */
export function encode(event: SseEvent, options?: EncodeOptions): Uint8Array {
  return utf8.encode(formatEvent(event, options?.serializer ?? jsonSerializer));
}

/**
 * Encodes comment lines. Clients ignore comments; they keep idle connections open through
 * proxies and runtimes that close silent ones. Line breaks in `text` start new comment lines.
 * No blank line follows: a spec-compliant client needs none after a comment, and clients that
 * dispatch an event on every blank line (such as `@microsoft/fetch-event-source`) would
 * otherwise see an empty message for each comment.
 *
 * @example
 * encodeComment() // ":\n"
 */
export function encodeComment(text = ''): Uint8Array {
  return utf8.encode(formatComment(text));
}

/** @internal The text of {@link encodeComment}. */
export function formatComment(text: string): string {
  return text === '' ? ':\n' : prefixLines(': ', text);
}

/** @internal The text of {@link encode}; shared by streams and channels. */
export function formatEvent(event: SseEvent, serializer: Serializer): string {
  let frame = '';
  if (event.event !== undefined) frame += `event: ${checkEventName(event.event)}\n`;
  if (event.id !== undefined) frame += `id: ${checkId(event.id)}\n`;
  if (event.retry !== undefined) frame += `retry: ${checkRetry(event.retry)}\n`;
  if (event.data !== undefined) {
    const text = typeof event.data === 'string' ? event.data : serialize(event.data, serializer);
    frame += prefixLines('data: ', text);
  } else if (event.event === undefined && event.id === undefined && event.retry !== undefined) {
    // Nothing to dispatch: the line alone sets the client's reconnection time.
    return frame;
  }
  return `${frame}\n`;
}

// A space always follows the colon: clients strip exactly one, so a value that itself
// starts with a space keeps it.
function prefixLines(prefix: string, text: string): string {
  if (!HAS_LINE_BREAK.test(text)) return `${prefix}${text}\n`;
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += `${prefix}${line}\n`;
  return out;
}

/** @internal Runs the serializer, turning its failures into `SERIALIZE_FAILED`. */
export function serialize(data: unknown, serializer: Serializer): string {
  let text: unknown;
  try {
    text = serializer(data);
  } catch (cause) {
    throw new SseError(
      'SERIALIZE_FAILED',
      `could not serialize the event data (${describe(cause)}). Send a string, a JSON-serializable value (no BigInt, no cycles), or pass a serializer that handles this value.`,
      { cause },
    );
  }
  if (typeof text !== 'string') {
    throw new SseError(
      'SERIALIZE_FAILED',
      `the serializer returned ${text === undefined ? 'undefined' : typeof text} instead of a string (JSON.stringify does for undefined, functions and symbols). Send a string or a serializable value.`,
    );
  }
  return text;
}

/** @internal */
export function checkEventName(name: string): string {
  if (typeof name !== 'string' || HAS_LINE_BREAK_OR_NUL.test(name)) {
    throw new SseError(
      'INVALID_EVENT',
      `event name ${JSON.stringify(name)} is not a string without CR, LF or NUL; a CR or LF would end the field early, and no page can listen for a type with a NUL. Use a name without CR, LF or NUL.`,
    );
  }
  return name;
}

/** @internal */
export function checkId(id: string | number): string {
  const text = typeof id === 'number' ? String(id) : id;
  if (typeof text !== 'string' || HAS_LINE_BREAK_OR_NUL.test(text)) {
    throw new SseError(
      'INVALID_ID',
      `event id ${JSON.stringify(id)} must be a string or number without CR, LF or NUL; clients would cut it at a line break and ignore it with a NUL. Use another id.`,
    );
  }
  return text;
}

/** @internal */
export function checkRetry(retry: number): number {
  if (!Number.isSafeInteger(retry) || retry < 0) {
    throw new SseError(
      'INVALID_RETRY',
      `retry ${String(retry)} must be a non-negative integer number of milliseconds; clients ignore anything but ASCII digits.`,
    );
  }
  return retry;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
