/**
 * vitest matchers for event streams: `import '@ssekit/testing/vitest'` once (in a test file or
 * a setup file) and `expect(reader)` gains {@link SseMatchers}.
 *
 * @module @ssekit/testing/vitest
 */
import { expect } from 'vitest';
import { EventReader, type ReceivedEvent } from './index.js';

/** The matchers this entry adds to vitest's `expect`. */
export interface SseMatchers<R = unknown> {
  /**
   * Reads events until one matches `event` (its fields compared as `toMatchObject` does), within
   * the reader's timeout. The events before it are read too.
   */
  toEmit(event: Partial<ReceivedEvent>): Promise<R>;
  /** The next events match `events`, in order, with none between them. */
  toEmitInOrder(events: Partial<ReceivedEvent>[]): Promise<R>;
  /** The stream ends (the server closes it) within `ms` milliseconds; the events before the end are read. */
  toEndWithin(ms: number): Promise<R>;
  /**
   * The response has the headers of an event stream that proxies pass through at once:
   * `Content-Type: text/event-stream; charset=utf-8`, `Cache-Control: no-cache, no-transform`,
   * `X-Accel-Buffering: no`, and no `Content-Length`. Works on a reader and on a `Response`.
   */
  toHaveSseHeaders(): R;
}

declare module 'vitest' {
  // biome-ignore lint/suspicious/noExplicitAny: must repeat vitest's own declaration to merge with it.
  interface Matchers<T = any> extends SseMatchers<T> {}
}

const SSE_HEADERS: Record<string, string | null> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
  'content-length': null,
};

function readerOf(received: unknown): EventReader {
  if (received instanceof EventReader) return received;
  throw new TypeError(`expected a reader from openEvents(), got ${String(received)}`);
}

expect.extend({
  async toEmit(received: unknown, expected: Partial<ReceivedEvent>) {
    const reader = readerOf(received);
    const before = reader.read.length;
    const match = await reader
      .until((event) => this.equals(event, expect.objectContaining(expected)))
      .catch(() => null);
    const read = reader.read.slice(before);
    return {
      pass: match !== null,
      message: () =>
        `expected the stream ${this.isNot ? 'not ' : ''}to emit ${this.utils.printExpected(expected)}\n` +
        `Read ${read.length} event(s) while waiting: ${this.utils.printReceived(read)}`,
      actual: read,
      expected,
    };
  },

  async toEmitInOrder(received: unknown, expected: Partial<ReceivedEvent>[]) {
    const reader = readerOf(received);
    const before = reader.read.length;
    const failure = await reader.take(expected.length).then(
      () => undefined,
      (error: Error) => error.message,
    );
    const read = reader.read.slice(before);
    const pass =
      !failure &&
      this.equals(
        read,
        expected.map((event) => expect.objectContaining(event)),
      );
    return {
      pass,
      message: () =>
        `expected the stream ${this.isNot ? 'not ' : ''}to emit these events in order` +
        (failure ? ` (${failure.split('.')[0]})` : '') +
        `\n${this.utils.diff(expected, read) ?? ''}`,
      actual: read,
      expected,
    };
  },

  async toEndWithin(received: unknown, ms: number) {
    const reader = readerOf(received);
    const pass = await reader.waitForEnd(ms);
    return {
      pass,
      message: () => `expected the stream ${this.isNot ? 'not ' : ''}to end within ${ms} ms. ${reader.describe()}`,
    };
  },

  toHaveSseHeaders(received: unknown) {
    const headers = received instanceof Response ? received.headers : readerOf(received).headers;
    const actual = Object.fromEntries(Object.keys(SSE_HEADERS).map((name) => [name, headers.get(name)]));
    return {
      pass: this.equals(actual, SSE_HEADERS),
      message: () =>
        `expected ${this.isNot ? 'other than ' : ''}the headers of an event stream\n${this.utils.diff(SSE_HEADERS, actual) ?? ''}`,
      actual,
      expected: SSE_HEADERS,
    };
  },
});
