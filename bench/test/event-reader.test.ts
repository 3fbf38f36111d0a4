import { describe, expect, it } from 'vitest';
import { EventReader } from '../src/event-reader.js';

const HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n';

function chunk(text: string): string {
  return `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
}

function event(seq: number, t = 1700000000000.5): string {
  return `id: ${seq}\ndata: {"seq":${seq},"t":${t},"pad":"xx"}\n\n`;
}

/** Feeds `response` to a reader in pieces of `step` bytes; returns what it reported. */
function read(response: string, step = Number.POSITIVE_INFINITY) {
  const seen = { heads: 0, events: [] as (number | undefined)[], errors: [] as string[] };
  const reader = new EventReader(
    {
      onHead: () => seen.heads++,
      onEvent: (sentAt) => seen.events.push(sentAt),
      onError: (reason) => seen.errors.push(reason),
    },
    true,
  );
  const bytes = Buffer.from(response);
  for (let at = 0; at < bytes.length; at += step) reader.feed(bytes.subarray(at, at + step));
  return { ...seen, next: reader.next };
}

describe('the bench client’s event reader', () => {
  const good =
    HEAD + chunk(':\n\n') + chunk(event(0) + event(1)) + chunk(`: ping\n\n${event(2)}retry: 10\n\n`) + chunk(event(3));

  it('counts every event in order, wherever the reads split the bytes', () => {
    for (const step of [1, 2, 3, 7, 64, Number.POSITIVE_INFINITY]) {
      const seen = read(good, step);
      expect(seen).toEqual({
        heads: 1,
        events: [1700000000000.5, 1700000000000.5, 1700000000000.5, 1700000000000.5],
        errors: [],
        next: 4,
      });
    }
  });

  it('fails a lost, a repeated and a reordered event', () => {
    expect(read(HEAD + chunk(event(0) + event(2))).errors).toEqual(['a stream expected event 1 and got 2']);
    expect(read(HEAD + chunk(event(0) + event(0))).errors).toEqual(['a stream expected event 1 and got 0']);
    expect(read(HEAD + chunk(event(1) + event(0))).errors[0]).toBe('a stream expected event 0 and got 1');
  });

  it('fails a response that is not a chunked event stream', () => {
    expect(read('HTTP/1.1 503 Busy\r\n\r\n').errors[0]).toMatch(/unexpected response head/);
    expect(read('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n').errors).toEqual([
      'the response is not chunked',
    ]);
  });

  it('stops at the last chunk', () => {
    expect(read([HEAD, chunk(event(0)), '0\r\n\r\n', chunk(event(1))].join('')).next).toBe(1);
  });
});
