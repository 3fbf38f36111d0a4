import { SseError } from './errors.js';

/**
 * Longest delay, in ms, that a timer waits: `setTimeout` and `setInterval` hold it in 32 bits
 * and fire at once past it (Node, browsers, workerd). Every option that sets a timer stays
 * within it.
 *
 * @see https://developer.mozilla.org/en-US/docs/Web/API/Window/setTimeout#maximum_delay_value
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Whether `ms` is a delay a timer can wait: a number of ms more than 0 and at most {@link MAX_TIMER_MS}. */
export function isTimerDelay(ms: unknown): ms is number {
  return typeof ms === 'number' && ms > 0 && ms <= MAX_TIMER_MS;
}

/**
 * Checks a limit that counts things (bytes, replays): a whole number, 1 or more, or
 * `undefined` for its default.
 *
 * @param name - the option's name, for the error message.
 * @param unit - what it counts, for the error message (`'bytes'`), or none.
 * @throws {@link SseError} `INVALID_OPTION` for anything else.
 */
export function checkCountLimit(name: string, count: number | undefined, unit?: string): void {
  if (count !== undefined && !(Number.isSafeInteger(count) && count > 0)) {
    const whole = unit ? `a whole number of ${unit}` : 'a whole number';
    throw new SseError('INVALID_OPTION', `${name} ${String(count)} must be ${whole}, 1 or more.`);
  }
}

/** How much history a channel keeps for clients that reconnect with `Last-Event-ID`. */
export interface HistoryOptions {
  /** Most events kept per channel. Default 1 000; 0 keeps none (where the broker allows it). */
  size?: number;
  /**
   * Milliseconds after which an event is dropped from history, more than 0 and at most
   * 2^31-1 ({@link MAX_TIMER_MS}). Default: kept until pushed out by `size`.
   */
  maxAge?: number;
}

/** Default of {@link HistoryOptions.size}. */
export const DEFAULT_HISTORY_SIZE = 1000;

/** What {@link checkHistoryOptions} needs to know of the broker. */
export interface HistoryLimits {
  /**
   * Smallest `size` the broker can keep: 0 for one that delivers events without history
   * (`MemoryBroker`), 1 for one whose history is also how events travel (Redis streams).
   * Default 0.
   */
  minSize?: 0 | 1;
  /** Why `minSize` is 1, for the error message. */
  reason?: string;
}

/**
 * Checks history options, for `MemoryBroker` and brokers of other packages alike, so that one
 * history means the same on every broker: `size` a whole number of events, `minSize` or more;
 * `maxAge` a number of ms more than 0 and at most 2^31-1 ({@link MAX_TIMER_MS}; fractions
 * allowed, as for any timer).
 *
 * @returns the size (default 1 000) and the age limit, if any.
 * @throws {@link SseError} `INVALID_OPTION` for a size or age that is not one.
 */
export function checkHistoryOptions(
  history: HistoryOptions = {},
  limits: HistoryLimits = {},
): { size: number; maxAge: number | undefined } {
  const { size = DEFAULT_HISTORY_SIZE, maxAge } = history;
  const { minSize = 0, reason } = limits;
  if (!(Number.isSafeInteger(size) && size >= minSize) || !(maxAge === undefined || isTimerDelay(maxAge))) {
    throw new SseError(
      'INVALID_OPTION',
      `history { size: ${size}, maxAge: ${maxAge} } needs a whole size of ${minSize} or more${reason ? ` (${reason})` : ''} and a maxAge of more than 0 and at most 2^31-1 ms.`,
    );
  }
  return { size, maxAge };
}
