import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import {
  type CorsOptions,
  createResponse,
  createWebSink,
  DEFAULT_HEARTBEAT_MS,
  MAX_LAST_EVENT_ID_LENGTH,
  readLastEventId,
  readMetrics,
  SseError,
  type SseSink,
  SseStream,
  type SseStreamInit,
} from './index.js';

const decoder = new TextDecoder();

/**
 * Streams that `open` made, with their readers: after each test the stream is closed and its
 * client leaves, so that nothing waits for it (heartbeat checks are shared per period).
 */
const opened: { stream: SseStream; reader: ReadableStreamDefaultReader<Uint8Array> }[] = [];

/** A stream on the real Web sink, with a reader standing in for the client. */
function open(init: SseStreamInit = {}, highWaterMark = 64) {
  const sink = createWebSink(undefined, highWaterMark);
  const stream = new SseStream(sink, { heartbeat: false, ...init });
  const reader = sink.body.getReader();
  opened.push({ stream, reader });
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
/** Lets the event loop go round once, as a client's I/O would. */
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

afterEach(async () => {
  for (const { stream, reader } of opened.splice(0)) {
    stream.close();
    await reader.cancel().catch(() => {});
  }
  vi.useRealTimers();
});

describe('SseStream', () => {
  it('opens with an empty comment so the response head goes out at once', async () => {
    const { read } = open();
    expect(await read()).toBe(':\n');
  });

  it('opens with the retry hint when one is set', async () => {
    const { read } = open({ retry: 2500 });
    expect(await read()).toBe('retry: 2500\n');
  });

  it('ends after its maxLifetime, spread over 90 to 110%, and leaves no timer when it ends first', async () => {
    vi.useFakeTimers();
    const { stream } = open({ maxLifetime: 1000 });
    vi.advanceTimersByTime(899);
    expect(stream.closed).toBe(false);
    vi.advanceTimersByTime(202);
    expect(stream.closed).toBe(true);
    expect(reasonCode(stream)).toBe('STREAM_CLOSED');
    // Its client took none of its last bytes: it is cut after the stall period of the default
    // heartbeat (this stream has none), and no timer stays.
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(4 * DEFAULT_HEARTBEAT_MS);
    expect(vi.getTimerCount()).toBe(0);
    const early = open({ maxLifetime: 60_000 });
    await early.read();
    expect(vi.getTimerCount()).toBe(1);
    early.stream.close();
    expect(vi.getTimerCount()).toBe(0);
    expect(() => open({ maxLifetime: 0 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('refuses an event over maxEventBytes, as encoded, and writes nothing', async () => {
    const { stream, read } = open({ maxEventBytes: 22 });
    await read();
    expect(stream.send('x'.repeat(14))).toBe(true); // "data: " + 14 + "\n\n": 22 bytes
    expect(await read()).toBe(`data: ${'x'.repeat(14)}\n\n`);
    expect(() => stream.send('x'.repeat(13), { id: 1 })).toThrow(expect.objectContaining({ code: 'EVENT_TOO_LARGE' }));
    expect(stream.send('ok')).toBe(true);
    expect(await read()).toBe('data: ok\n\n');
    expect(() => open({ maxEventBytes: 1.5 })).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
  });

  it('refuses invalid options before writing anything', () => {
    const sink = createWebSink();
    const write = vi.spyOn(sink, 'write');
    expect(() => new SseStream(sink, { retry: -1 })).toThrow(SseError);
    expect(() => new SseStream(sink, { heartbeat: 0 })).toThrow(/heartbeat/);
    expect(() => new SseStream(sink, { maxBufferedBytes: Number.NaN })).toThrow(/maxBufferedBytes/);
    // setInterval overflows past 2^31-1 ms and would fire every millisecond.
    expect(() => new SseStream(sink, { heartbeat: 2 ** 32 })).toThrow(/2\^31-1/);
    expect(write).not.toHaveBeenCalled();
  });

  it('refuses undefined data, which no client would dispatch', () => {
    const { stream, sink } = open();
    const write = vi.spyOn(sink, 'write');
    expect(() => stream.send(undefined, { event: 'ping' })).toThrow(expect.objectContaining({ code: 'INVALID_DATA' }));
    expect(write).not.toHaveBeenCalled();
  });

  it('starts no timer when the sink ends during the opening write', () => {
    vi.useFakeTimers();
    const ended = new AbortController();
    const sink: SseSink = {
      signal: ended.signal,
      write: () => {
        ended.abort();
        return false;
      },
      ready: () => Promise.resolve(),
      pendingBytes: 0,
      close: () => {},
      abort: () => {},
    };
    const stream = new SseStream(sink, { heartbeat: 1000 });
    expect(stream.closed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('ends and stops its heartbeat checks on close, even over a sink that never aborts its signal', () => {
    vi.useFakeTimers();
    const sink: SseSink = {
      signal: new AbortController().signal,
      write: () => true,
      ready: () => Promise.resolve(),
      pendingBytes: 0,
      close: () => {},
      abort: () => {},
    };
    const stream = new SseStream(sink, { heartbeat: 1000 });
    expect(vi.getTimerCount()).toBe(1);
    stream.close();
    expect(stream.closed).toBe(true);
    expect(stream.send('x')).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sends events, comments and pre-encoded frames in order', async () => {
    const { stream, read } = open();
    await read();
    expect(stream.send('a')).toBe(true);
    expect(stream.send({ n: 1 }, { event: 'tick', id: 1, retry: 10 })).toBe(true);
    expect(stream.comment('hi')).toBe(true);
    expect(stream.writeFrame(new TextEncoder().encode('data: raw\n\n'))).toBe(true);
    const chunks = [await read(), await read(), await read(), await read()];
    expect(chunks.join('')).toBe('data: a\n\nevent: tick\nid: 1\nretry: 10\ndata: {"n":1}\n\n: hi\ndata: raw\n\n');
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
    expect(await readAll()).toBe(':\ndata: one\n\ndata: two\n\n');
  });

  it('buffers while the client is slow and sends the buffer as one chunk when it reads', async () => {
    const { stream, read } = open({}, 16);
    stream.send('0123456789abcdef'); // fills the body's queue
    stream.send('b1');
    stream.send('b2');
    expect(stream.bufferedBytes).toBe(2 * 'data: b1\n\n'.length);
    const drained = stream.drain();
    expect(await read()).toBe(':\n');
    expect(await read()).toBe('data: 0123456789abcdef\n\n');
    expect(await read()).toBe('data: b1\n\ndata: b2\n\n');
    await drained;
    expect(stream.bufferedBytes).toBe(0);
  });

  it('ends a stream whose client falls behind by more than maxBufferedBytes, after what it accepted', async () => {
    const { stream, readAll } = open({ maxBufferedBytes: 100 }, 16);
    let peak = 0;
    let accepted = 0;
    // One event per turn of the event loop, and a client that reads nothing meanwhile: it is
    // falling behind, not being sent a burst.
    while (stream.send('x'.repeat(30))) {
      accepted++;
      peak = Math.max(peak, stream.bufferedBytes);
      await nextTurn();
    }
    expect(peak).toBeLessThanOrEqual(100);
    expect(accepted).toBe(1 + Math.floor(100 / 38));
    expect(stream.closed).toBe(true);
    expect(reasonCode(stream)).toBe('BUFFER_OVERFLOW');
    expect(stream.bufferedBytes).toBe(0);
    expect(stream.send('after')).toBe(false);
    // What `send` accepted reaches a client that reads, then the body ends.
    expect(await readAll()).toBe(`:\n${'data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n\n'.repeat(accepted)}`);
  });

  it('takes a burst within one turn up to maxBufferedBytes + maxEventBytes, then refuses the rest', async () => {
    const { stream, readAll } = open({ maxBufferedBytes: 100, maxEventBytes: 200 }, 16);
    let accepted = 0;
    while (stream.send('x'.repeat(30))) accepted++;
    // One event fills the body; the queue then takes 300 bytes' worth of 38-byte frames.
    expect(accepted).toBe(1 + Math.floor(300 / 38));
    expect(reasonCode(stream)).toBe('BUFFER_OVERFLOW');
    expect(await readAll()).toBe(`:\n${'data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n\n'.repeat(accepted)}`);
  });

  it('queues one frame of any size into an empty queue, and holds the next to the bound', async () => {
    const { stream, read, readAll } = open({ maxBufferedBytes: 10, maxEventBytes: 1000 }, 16);
    await read();
    expect(stream.send('a'.repeat(500))).toBe(true); // into the body, which is then full
    expect(stream.send('b'.repeat(500))).toBe(true); // an empty queue takes any one frame
    await nextTurn();
    expect(stream.send('c')).toBe(false); // the client took nothing: 508 + 9 is over the bound
    expect(await readAll()).toBe(`data: ${'a'.repeat(500)}\n\ndata: ${'b'.repeat(500)}\n\n`);
  });

  it('waits after close for a client that takes its last bytes, and cuts one that takes none for the stall period', async () => {
    vi.useFakeTimers();
    const stallMs = 4 * 1000; // the stall rule of a 1 s heartbeat
    const stalled = open({ heartbeat: 1000 }, 16);
    stalled.stream.send('x'.repeat(100));
    stalled.stream.close();
    vi.advanceTimersByTime(stallMs - 500);
    expect(vi.getTimerCount()).toBe(1); // still waiting for it
    vi.advanceTimersByTime(500);
    await expect(stalled.reader.read()).rejects.toThrow(/closed by the server/);
    expect(vi.getTimerCount()).toBe(0);

    const reading = open({ heartbeat: 1000 }, 16);
    reading.stream.send('y'.repeat(100));
    reading.stream.close();
    vi.advanceTimersByTime(stallMs - 500);
    expect(await reading.read()).toBe(':\n'); // it takes a little: it is waited for
    vi.advanceTimersByTime(stallMs - 500);
    expect(await reading.readAll()).toBe(`data: ${'y'.repeat(100)}\n\n`);
    expect(vi.getTimerCount()).toBe(0); // its last bytes taken, nothing is left to watch
  });

  it("drops what does not fit with onOverflow: 'drop' and stays open", async () => {
    const { stream, read } = open({ maxBufferedBytes: 20, onOverflow: 'drop' }, 1);
    expect(stream.send('fits')).toBe(true);
    await nextTurn();
    expect(stream.send('does not fit')).toBe(false);
    expect(stream.closed).toBe(false);
    await read();
    expect(await read()).toBe('data: fits\n\n');
    await stream.drain();
    expect(stream.send('later')).toBe(true);
  });

  it('asks an onOverflow function, with the sizes', async () => {
    const onOverflow = vi.fn(() => 'drop' as const);
    const { stream } = open({ maxBufferedBytes: 0, onOverflow }, 1);
    expect(stream.send('x')).toBe(true);
    await nextTurn();
    expect(stream.send('y')).toBe(false);
    expect(onOverflow).toHaveBeenCalledWith({ stream, bufferedBytes: 9, frameBytes: 9 });
  });

  it('sends heartbeats once per period while idle, so no silence lasts longer', () => {
    vi.useFakeTimers();
    const { sink } = open({ heartbeat: 1000 }, 1 << 20);
    const heartbeats: number[] = [];
    const start = Date.now();
    vi.spyOn(sink, 'write').mockImplementation(() => {
      heartbeats.push(Date.now());
      return true;
    });
    vi.advanceTimersByTime(5000);
    const gaps = heartbeats.slice(1).map((at, i) => at - (heartbeats[i] as number));
    expect(heartbeats[0]).toBe(start + 1000);
    expect(gaps).toEqual([1000, 1000, 1000, 1000]);
  });

  it('checks every stream of one heartbeat period with one timer, stopped with the last stream', async () => {
    vi.useFakeTimers();
    const streams = [open({ heartbeat: 1000 }), open({ heartbeat: 1000 }), open({ heartbeat: 3000 })];
    for (const { readAll } of streams) void readAll(); // clients that take every byte
    expect(vi.getTimerCount()).toBe(2);
    const heartbeats = streams.map(({ sink }) => {
      const write = vi.spyOn(sink, 'write');
      return () => write.mock.calls.filter(([chunk]) => decoder.decode(chunk) === ':\n').length;
    });
    await vi.advanceTimersByTimeAsync(3000);
    expect(heartbeats.map((count) => count())).toEqual([3, 3, 1]);
    streams[0]?.stream.close();
    expect(vi.getTimerCount()).toBe(2);
    streams[1]?.stream.close();
    streams[2]?.stream.close();
    expect(vi.getTimerCount()).toBe(0);
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
    expect(await read()).toBe(':\n');
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

  it('calls onClose once with the reason, at once for a stream that has ended, and not once removed', async () => {
    const { stream } = open();
    const reasons: string[] = [];
    stream.onClose((reason) => reasons.push(reason.code));
    const removed = vi.fn();
    stream.onClose(removed)();
    stream.close();
    stream.close();
    expect(reasons).toEqual(['STREAM_CLOSED']);
    expect(removed).not.toHaveBeenCalled();

    // The case a listener on `signal` misses: the stream ended before the handler ran.
    const late = vi.fn();
    stream.onClose(late);
    expect(late).toHaveBeenCalledTimes(1);
    expect(late.mock.calls[0]?.[0]).toBeInstanceOf(SseError);
    expect(late.mock.calls[0]?.[0]).toMatchObject({ code: 'STREAM_CLOSED' });
  });

  it('counts in readMetrics what it wrote or buffered, not frames dropped or sent after the end', async () => {
    const { stream } = open({ onOverflow: 'drop', maxBufferedBytes: 100 });
    const before = readMetrics();
    stream.send('x'.repeat(80)); // fills the sink
    stream.send('y'.repeat(50)); // waits in the buffer
    await nextTurn(); // the client had its chance and took nothing
    const kept = readMetrics();
    expect(kept.eventsWritten - before.eventsWritten).toBe(2);
    expect(kept.bytesWritten - before.bytesWritten).toBe(2 * '\n\n'.length + 'data: '.length * 2 + 80 + 50);
    expect(stream.send('z'.repeat(80))).toBe(false); // over the bound: dropped
    stream.close();
    expect(stream.send('after the end')).toBe(false);
    const after = readMetrics();
    expect(after.eventsWritten).toBe(kept.eventsWritten);
    expect(after.bytesWritten).toBe(kept.bytesWritten);
  });

  it('types send against an event map, declared as a type or an interface', () => {
    interface ChatEvents {
      joined: { user: string };
    }
    const chat = open().stream as unknown as SseStream<ChatEvents>;
    chat.send({ user: 'ann' }, { event: 'joined' });
    // @ts-expect-error ChatEvents has no unnamed (message) event
    chat.send('hello');
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

// A stream learns of its end from the sink, so that its `signal` (about 1 KB with a listener)
// is made only for code that reads it.
describe('SseStream end', () => {
  it('runs onClose listeners before the signal aborts, and a signal first read after the end is aborted', () => {
    const { stream } = open();
    const order: string[] = [];
    stream.onClose((reason) => order.push(`onClose ${reason.code}`));
    stream.signal.addEventListener('abort', () => order.push(`abort ${reasonCode(stream)}`));
    stream.close();
    expect(order).toEqual(['onClose STREAM_CLOSED', 'abort STREAM_CLOSED']);

    const unread = open().stream;
    unread.close();
    expect([unread.signal.aborted, reasonCode(unread)]).toEqual([true, 'STREAM_CLOSED']);
    expect(unread.signal).toBe(unread.signal);
  });

  it('ends on a sink that only has a signal, as custom sinks may', () => {
    const ended = new AbortController();
    const sink: SseSink = {
      signal: ended.signal,
      pendingBytes: 0,
      write: () => true,
      ready: () => Promise.resolve(),
      close: (reason) => ended.abort(reason),
      abort: (reason) => ended.abort(reason),
    };
    const stream = new SseStream(sink, { heartbeat: false });
    const reasons: string[] = [];
    stream.onClose((reason) => reasons.push(reason.code));
    ended.abort(new SseError('CLIENT_GONE', 'gone'));
    expect([stream.closed, reasons]).toEqual([true, ['CLIENT_GONE']]);
    expect(new SseStream(sink).closed).toBe(true);
  });

  it('removes one registration of a listener added twice', () => {
    const { stream } = open();
    const listener = vi.fn();
    stream.onClose(listener);
    const remove = stream.onClose(listener);
    remove();
    remove();
    stream.close();
    expect(listener).toHaveBeenCalledTimes(1);
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

  it('holds no memory per item sent', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const { stream, reader } = open({}, 1 << 20);
    void (async () => {
      while (!(await reader.read()).done);
    })();
    const heap: number[] = [];
    await stream.pipe(
      (async function* () {
        for (let i = 1; i <= 200_000; i++) {
          if (i % 50_000 === 0) {
            gc();
            heap.push(process.memoryUsage().heapUsed);
          }
          yield { data: i };
        }
      })(),
    );
    const growth = (heap[3] as number) - (heap[0] as number);
    console.log(`[pipe] heap growth over 150k items: ${(growth / 1e6).toFixed(2)} MB`);
    expect(growth).toBeLessThan(5e6);
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
    expect(await response.text()).toBe(':\n');
  });

  it('answers a cross-origin request per its Origin, echoing it (never "*") with credentials', () => {
    const headersFor = (cors: CorsOptions, origin?: string) =>
      Object.fromEntries(
        createResponse(new Request('http://x/e', { headers: origin ? { origin } : {} }), (stream) => stream.close(), {
          cors,
        }).headers,
      );
    const app = 'https://app.example';
    expect(headersFor({ origin: [app, 'https://b.example'] }, app)).toMatchObject({
      'access-control-allow-origin': app,
      vary: 'Origin',
    });
    expect(headersFor({ origin: app, credentials: true }, app)).toMatchObject({
      'access-control-allow-origin': app,
      'access-control-allow-credentials': 'true',
    });
    const refused = headersFor(
      { origin: (origin) => origin.endsWith('.example'), credentials: true },
      'https://evil.test',
    );
    expect(refused).toMatchObject({ vary: 'Origin' });
    expect(refused).not.toHaveProperty('access-control-allow-origin');
    expect(refused).not.toHaveProperty('access-control-allow-credentials');
    expect(headersFor({ origin: '*' }, app)).toMatchObject({ 'access-control-allow-origin': '*' });
    expect(() =>
      createResponse(new Request('http://x/e'), () => {}, { cors: { origin: '*', credentials: true } }),
    ).toThrow(expect.objectContaining({ code: 'INVALID_OPTION' }));
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

  it('ends a HEAD response at once', async () => {
    let stream!: SseStream;
    const response = createResponse(new Request('http://x/e', { method: 'HEAD' }), (s) => {
      stream = s;
    });
    expect(response.status).toBe(200);
    expect(stream.closed).toBe(true);
  });

  it('refuses invalid options with an SseError before it reads the request', () => {
    const request = new Request('http://x/e');
    expect(() => createResponse(request, () => {}, { highWaterMark: -1 })).toThrow(SseError);
    expect(() => createResponse(request, () => {}, { retry: 1.5 })).toThrow(SseError);
  });

  it('reports an onError that throws instead of leaving a rejection unhandled', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {});
    const response = createResponse(new Request('http://x/e'), () => Promise.reject(new Error('handler broke')), {
      onError: () => {
        throw new Error('onError broke');
      },
    });
    expect(await response.text()).toBe(':\n');
    expect(logged).toHaveBeenCalledWith(expect.any(String), expect.objectContaining({ message: 'onError broke' }));
    logged.mockRestore();
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

  it('hands waitUntil a promise that settles when the handler does, even when it fails', async () => {
    const kept: Promise<unknown>[] = [];
    const waitUntil = (promise: Promise<unknown>) => kept.push(promise);
    let finish!: () => void;
    createResponse(new Request('http://x/e'), () => new Promise<void>((resolve) => (finish = resolve)), { waitUntil });
    const onError = vi.fn();
    createResponse(new Request('http://x/e'), () => Promise.reject(new Error('broke')), { waitUntil, onError });
    expect(kept).toHaveLength(2);
    await expect(kept[1]).resolves.toBeUndefined();
    expect(onError).toHaveBeenCalledOnce();
    let settled = false;
    kept[0]?.then(() => {
      settled = true;
    });
    await Promise.resolve();
    expect(settled).toBe(false);
    finish();
    await kept[0];
    expect(settled).toBe(true);
    expect(() => createResponse(new Request('http://x/e'), () => {}, { waitUntil: 'no' as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_OPTION' }),
    );
  });

  it('reports a waitUntil that throws, and keeps the stream open', () => {
    const onError = vi.fn();
    let stream!: SseStream;
    const waitUntil = () => {
      throw new Error('no context');
    };
    const keep = (s: SseStream) => {
      stream = s;
    };
    const response = createResponse(new Request('http://x/e'), keep, { waitUntil, onError });
    opened.push({ stream, reader: (response.body as ReadableStream<Uint8Array>).getReader() });
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'no context' }));
    expect(stream.closed).toBe(false);
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
    expect(await response.text()).toBe(':\ndata: before\n\n');
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'handler broke' }));
  });
});

describe('readLastEventId', () => {
  it('reads UTF-8 ids that Node and fetch decoded as Latin-1', () => {
    const asLatin1 = (text: string) => String.fromCharCode(...new TextEncoder().encode(text));
    expect(readLastEventId(asLatin1('é-😀'), undefined)).toBe('é-😀');
    expect(readLastEventId('plain-42', undefined)).toBe('plain-42');
    // Not valid UTF-8: kept as it came.
    expect(readLastEventId('\u00e9', undefined)).toBe('\u00e9');
  });

  it('ignores an id no stream could have sent: too long, or with NUL, CR or LF', () => {
    const longest = 'x'.repeat(MAX_LAST_EVENT_ID_LENGTH);
    expect(readLastEventId(longest, undefined)).toBe(longest);
    expect(readLastEventId(`${longest}x`, undefined)).toBeUndefined();
    expect(readLastEventId(undefined, `/e?lastEventId=${longest}x`)).toBeUndefined();
    expect(readLastEventId(undefined, '/e?lastEventId=1%0Adata:%20forged')).toBeUndefined();
    expect(readLastEventId(undefined, '/e?lastEventId=1%00')).toBeUndefined();
    expect(readLastEventId('1\r', undefined)).toBeUndefined();
  });

  it('falls back to the lastEventId query parameter, percent-decoded', () => {
    expect(readLastEventId(undefined, '/e?x=1&lastEventId=%C3%A9')).toBe('é');
    expect(readLastEventId('', '/e?lastEventId=')).toBeUndefined();
    expect(readLastEventId(null, 'https://h/e')).toBeUndefined();
  });
});
