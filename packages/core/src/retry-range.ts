import { SseError } from './errors.js';

/** A range of reconnection delays, in ms: each client is told a random one within it. */
export interface RetryRange {
  min: number;
  max: number;
}

/**
 * @internal The range, checked: whole ms with 0 <= min <= max. Missing ends default to 1 000
 * and 5 000, so that clients sent away together come back spread over four seconds.
 * @throws {@link SseError} `INVALID_OPTION`, naming the option, for a range that is not one.
 */
export function checkRetryRange(option: string, range: Partial<RetryRange> = {}): RetryRange {
  const { min = 1000, max = 5000 } = range;
  if (!(Number.isSafeInteger(min) && Number.isSafeInteger(max) && min >= 0 && max >= min)) {
    throw new SseError('INVALID_OPTION', `${option} { min: ${min}, max: ${max} } must be whole ms, 0 <= min <= max.`);
  }
  return { min, max };
}

/** @internal A random delay within `range`, so that clients do not all come back at once. */
export function randomRetry({ min, max }: RetryRange): number {
  return min + Math.floor(Math.random() * (max - min + 1));
}
