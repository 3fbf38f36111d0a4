import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { createResponse, createWebSink, SseError, SseStream, type SseStreamInit } from './index.js';

const decoder = new TextDecoder();

/** A stream on the real Web sink, with a reader standing in for the client. */
function open(init: SseStreamInit = {}, highWaterMark = 64) {
  const sink = createWebSink(undefined, highWaterMark);
  const stream = new SseStream(sink, { heartbeat: false, ...init });
  const reader = sink.body.getReader();
  const read = async () => {
    const { value, done } = await reader.read();
    return done ? null : decoder.decode(value);
  };
  const readAll = async () => {
    let all = '';
    for (let chunk = await read(); chunk !== null; chunk = await read()) all += chunk;
    return all;
  };
  return { sink, stream, reader, read, readAll };
}

const reasonCode = (stream: SseStream) => (stream.signal.reason as SseError).code;

afterEach(() => {
  vi.useRealTimers();
});

describe('SseStream', () => {
  it('opens with an empty comment so the response head goes out at once', async () => {
    const { read } = open();
    expect(await read()).toBe(':\n\n');
  });

  it('opens with the retry hint when one is set', async () => {
    const { read } = open({ retry: 2500 });
    expect(await read()).toBe('retry: 2500\n\n');
  });

  it('refuses invalid options before writing anything', () => {
    const sink = createWebSink();
    const write = vi.spyOn(sink, 'write');
    expect(() => new SseStream(sink, { retry: -1 })).toThrow(SseError);
    expect(() => new SseStream(sink, { heartbeat: 0 })).toThrow(/heartbeat/);
    expect(() => new SseStream(sink, { maxBufferedBytes: Number.NaN })).toThrow(/maxBufferedBytes/);
    expect(write).not.toHaveBeenCalled();
  });

  it('sends events, comments and pre-encoded frames in order', async () => {
    const { stream, read } = open();
    await read();
    expect(stream.send('a')).toBe(true);
    expect(stream.send({ n: 1 }, { event: 'tick', id: 1, retry: 10 })).toBe(true);
    expect(stream.comment('hi')).toBe(true);
    expect(stream.writeFrame(new TextEncoder().encode('data: raw\n\n'))).toBe(true);
    const chunks = [await read(), await read(), await read(), await read()];
    expect(chunks.join('')).toBe('data: a\n\nevent: tick\nid: 1\nretry: 10\ndata: {"n":1}\n\n: hi\n\ndata: raw\n\n');
  });

  it('throws for invalid input at the call site and writes nothing', async () => {
    const { stream, sink } = open();
    const write = vi.spyOn(sink, 'write');
    expect(() => stream.send('x', { event: 'a\nb' })).toThrow(SseError);
    expect(() => stream.send('x', { id: 'a\0' })).toThrow(SseError);
    expect(() => stream.send('x', { retry: -5 })).toThrow(SseError);
    expect(() => stream.send(1n)).toThrow(SseError);
    expect(write).not.toHaveBeenCalled();
  });

  it('closes once, ends the body after what was buffered, and refuses later writes', async () => {
    const { stream, readAll } = open({}, 1);
    stream.send('one');
    stream.send('two');
    expect(stream.bufferedBytes).toBeGreaterThan(0);
    stream.close();
    stream.close();
    expect(stream.closed).toBe(true);
    expect(reasonCode(stream)).toBe('STREAM_CLOSED');
    expect(stream.send('late')).toBe(false);
    expect(stream.comment()).toBe(false);
    expect(await readAll()).toBe(':\n\ndata: one\n\ndata: two\n\n');
  });

  it('buffers while the client is slow and sends the buffer as one chunk when it reads', async () => {
    const { stream, read } = open({}, 16);
    stream.send('0123456789abcdef'); // fills the body's queue
    stream.send('b1');
    stream.send('b2');
    expect(stream.bufferedBytes).toBe(2 * 'data: b1\n\n'.length);
    const drained = stream.drain();
    expect(await read()).toBe(':\n\n');
    expect(await read()).toBe('data: 0123456789abcdef\n\n');
    expect(await read()).toBe('data: b1\n\ndata: b2\n\n');
    await drained;
    expect(stream.bufferedBytes).toBe(0);
  });

  it('closes a stream whose client falls behind by more than maxBufferedBytes', async () => {
    const { stream, reader } = open({ maxBufferedBytes: 100 }, 16);
    let peak = 0;
    let accepted = 0;
    while (stream.send('x'.repeat(30))) {
      accepted++;
      peak = Math.max(peak, stream.bufferedBytes);
    }
    expect(peak).toBeLessThanOrEqual(100);
    expect(accepted).toBe(1 + Math.floor(100 / 38));
    expect(stream.closed).toBe(true);
    expect(reasonCode(stream)).toBe('BUFFER_OVERFLOW');
    expect(stream.bufferedBytes).toBe(0);
    await expect(reader.read()).rejects.toThrow(/too slowly/);
  });

  it("drops what does not fit with onOverflow: 'drop' and stays open", async () => {
    const { stream, read } = open({ maxBufferedBytes: 20, onOverflow: 'drop' }, 1);
    expect(stream.send('fits')).toBe(true);
    expect(stream.send('does not fit')).toBe(false);
    expect(stream.closed).toBe(false);
    await read();
    expect(await read()).toBe('data: fits\n\n');
    await stream.drain();
    expect(stream.send('later')).toBe(true);
  });

  it('asks an onOverflow function, with the sizes', () => {
    const onOverflow = vi.fn(() => 'drop' as const);
    const { stream } = open({ maxBufferedBytes: 0, onOverflow }, 1);
    expect(stream.send('x')).toBe(false);
    expect(onOverflow).toHaveBeenCalledWith({ stream, bufferedBytes: 0, frameBytes: 9 });
  });

  it('sends a heartbeat only after a silent period', async () => {
    vi.useFakeTimers();
    const { stream, read } = open({ heartbeat: 1000 }, 1 << 20);
    await read();
    vi.advanceTimersByTime(600);
    stream.send('busy');
    vi.advanceTimersByTime(600);
    expect(await read()).toBe('data: busy\n\n');
    vi.advanceTimersByTime(1000);
    expect(await read()).toBe(':\n\n');
    stream.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ends when the client goes away: signal aborts, timers stop, writes return false', async () => {
    vi.useFakeTimers();
    const { stream, reader } = open({ heartbeat: 1000 });
    expect(vi.getTimerCount()).toBe(1);
    await reader.cancel('bye');
    expect(stream.closed).toBe(true);
    expect(reasonCode(stream)).toBe('CLIENT_GONE');
    expect(vi.getTimerCount()).toBe(0);
    expect(stream.send('x')).toBe(false);
    await stream.drain();
  });

  it('types send against an event map', () => {
    const { stream } = open();
    const typed = stream as unknown as SseStream<{ tick: { n: number }; message: string }>;
    typed.send({ n: 1 }, { event: 'tick' });
    typed.send('plain');
    // @ts-expect-error data does not match the event
    typed.send({ n: 'one' }, { event: 'tick' });
    // @ts-expect-error unknown event name
    typed.send(1, { event: 'tock' });
    const untyped: SseStream = stream;
    untyped.send({ anything: true });
    expectTypeOf(typed.send).toBeFunction();
  });
});

describe('SseStream.pipe', () => {
  it('sends every item and resolves when the source ends, leaving the stream open', async () => {
    const { stream, read } = open({}, 1 << 20);
    await stream.pipe([{ data: 'a' }, { data: 1, event: 'n', id: '1' }]);
    expect(stream.closed).toBe(false);
    await read();
    expect(`${await read()}${await read()}`).toBe('data: a\n\nevent: n\nid: 1\ndata: 1\n\n');
  });

  it('waits for a slow client between items', async () => {
    const { stream, read } = open({}, 16);
    let produced = 0;
    const piping = stream.pipe(
      (async function* () {
        while (produced < 5) {
          produced++;
          yield { data: 'x'.repeat(20) };
        }
      })(),
    );
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(produced).toBe(1);
    expect(stream.bufferedBytes).toBe(0);
    for (let i = 0; i < 6; i++) await read();
    await piping;
    expect(produced).toBe(5);
  });

  it('stops the source when the client leaves, even while it waits for the next item', async () => {
    const { stream, reader } = open({}, 1 << 20);
    let stopped = false;
    const piping = stream.pipe(
      (async function* () {
        try {
          for (;;) {
            yield { data: 'tick' };
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
        } finally {
          stopped = true;
        }
      })(),
    );
    await new Promise((resolve) => setTimeout(resolve, 25));
    await reader.cancel();
    await piping;
    await vi.waitFor(() => expect(stopped).toBe(true));
  });

  it('rejects with the error of a failing source', async () => {
    const { stream } = open();
    const failing = (async function* () {
      yield { data: 1 };
      throw new Error('source broke');
    })();
    await expect(stream.pipe(failing)).rejects.toThrow('source broke');
  });
});

describe('createResponse', () => {
  it('answers 200 with the event-stream headers and extra headers in lower case', async () => {
    const response = createResponse(new Request('http://x/events'), (stream) => stream.close(), {
      headers: { 'Access-Control-Allow-Origin': 'https://a.example', 'Content-Type': 'text/plain' },
    });
    expect(response.status).toBe(200);
    expect(Object.fromEntries(response.headers)).toEqual({
      'access-control-allow-origin': 'https://a.example',
      'cache-control': 'no-cache, no-transform',
      'content-type': 'text/event-stream; charset=utf-8',
      'x-accel-buffering': 'no',
    });
    expect(await response.text()).toBe(':\n\n');
  });

  it('reads Last-Event-ID from the header first, then the query', () => {
    const seen: (string | undefined)[] = [];
    const handler = (stream: SseStream) => {
      seen.push(stream.lastEventId);
      stream.close();
    };
    createResponse(new Request('http://x/e?lastEventId=q', { headers: { 'last-event-id': 'h' } }), handler);
    createResponse(new Request('http://x/e?lastEventId=q'), handler);
    createResponse(new Request('http://x/e'), handler);
    expect(seen).toEqual(['h', 'q', undefined]);
  });

  it('ends the stream when the request is aborted', async () => {
    const controller = new AbortController();
    let stream!: SseStream;
    createResponse(new Request('http://x/e', { signal: controller.signal }), (s) => {
      stream = s;
    });
    controller.abort();
    expect(stream.closed).toBe(true);
    expect(reasonCode(stream)).toBe('CLIENT_GONE');
  });

  it('closes the stream and reports a failing handler to onError', async () => {
    const onError = vi.fn();
    const response = createResponse(
      new Request('http://x/e'),
      async (stream) => {
        stream.send('before');
        throw new Error('handler broke');
      },
      { onError },
    );
    expect(await response.text()).toBe(':\n\ndata: before\n\n');
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'handler broke' }));
  });
});
