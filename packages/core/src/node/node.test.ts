import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { openEvents } from '@ssekit/testing';
import compression from 'compression';
import { EventSource, type EventSourceFetchInit } from 'eventsource';
import '@ssekit/testing/vitest';
import request from 'supertest';
import { Agent, fetch as undiciFetch } from 'undici';
import { describe, expect, it, vi } from 'vitest';
import { aborted, afterThisTest, getRaw, listenForTest, until } from '../../test/helpers.js';
import type { SseError, SseStream, SseStreamOptions } from '../index.js';
import { createStream } from './index.js';

/** A node:http server whose every request becomes a stream handed to `onStream`. */
function serve(onStream: (stream: SseStream, req: http.IncomingMessage) => void, options?: SseStreamOptions) {
  const server = http.createServer((req, res) => onStream(createStream(req, res, options), req));
  return listenForTest(server);
}

/** Sends `request` as it is over a plain socket; `response()` is every byte read so far. */
function rawRequest(port: number, request: string) {
  const socket = net.connect(port, '127.0.0.1');
  afterThisTest(() => socket.destroy());
  socket.write(request);
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  return { socket, response: () => Buffer.concat(received).toString('utf8') };
}

function eventSource(url: string, init?: ConstructorParameters<typeof EventSource>[1]) {
  const source = new EventSource(url, init);
  afterThisTest(() => source.close());
  return source;
}

const SCRIPT_BYTES =
  'retry: 1000\nevent: greeting\nid: 1\ndata: hello\ndata: world\n\ndata: {"n":2}\n\n: note\nid: 3\ndata: ünïcødé 😀\n\n';
function runScript(stream: SseStream) {
  stream.send('hello\nworld', { event: 'greeting', id: 1 });
  stream.send({ n: 2 });
  stream.comment('note');
  stream.send('ünïcødé 😀', { id: '3' });
  stream.close();
}

describe('createStream on node:http', () => {
  it('answers 200 with the event-stream headers and the exact bytes', async () => {
    const { url } = await serve(runScript, { retry: 1000 });
    const { res, body } = await getRaw(url);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache, no-transform');
    expect(res.headers['x-accel-buffering']).toBe('no');
    expect(res.headers['content-length']).toBeUndefined();
    expect(body).toBe(SCRIPT_BYTES);
  });

  it('keeps headers set before it and adds the extra ones', async () => {
    const server = http.createServer((req, res) => {
      res.setHeader('x-request-id', 'abc');
      createStream(req, res, { headers: { 'Access-Control-Allow-Origin': '*' } }).close();
    });
    const { url } = await listenForTest(server);
    const { headers } = await openEvents(url);
    expect(headers.get('x-request-id')).toBe('abc');
    expect(headers.get('access-control-allow-origin')).toBe('*');
  });

  it('sends the head at once, before any event', async () => {
    const { url } = await serve(() => {});
    // The stream never sends an event: the reader opens on the head alone.
    const events = await openEvents(url);
    expect(events.status).toBe(200);
    expect(events).toHaveSseHeaders();
    await vi.waitFor(() => expect(events.comments).toEqual(['']));
    expect(events.received).toEqual([]);
  });

  it('sends events written together in one system call, each its own HTTP chunk', async () => {
    let writes = 0;
    const { port } = await serve((stream, req) => {
      // After the opening comment has gone, three events in one turn of the event loop.
      setTimeout(() => {
        // Every system call a socket makes starts in one of these two.
        const socket = req.socket as unknown as Record<'_write' | '_writev', (...args: unknown[]) => void>;
        for (const method of ['_write', '_writev'] as const) {
          const original = socket[method];
          socket[method] = function (this: unknown, ...args) {
            writes++;
            original.apply(this, args);
          };
        }
        stream.send('a');
        stream.send('b', { id: 2 });
        stream.comment();
      }, 20);
    });
    const { body } = await getRaw(`http://127.0.0.1:${port}/`, {}, (text) => text.endsWith('data: b\n\n:\n'));
    expect(body).toBe(':\ndata: a\n\nid: 2\ndata: b\n\n:\n');
    expect(writes).toBe(1);
  });

  it('writes nothing after the app ends the response itself, and skips empty frames', async () => {
    let stream!: SseStream;
    const server = http.createServer((req, res) => {
      stream = createStream(req, res);
      stream.writeFrame(new Uint8Array(0));
      stream.send('kept');
      setTimeout(() => {
        res.end();
        stream.send('late');
      }, 20);
    });
    const { port } = await listenForTest(server);
    const { response } = rawRequest(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => (response().endsWith('0\r\n\r\n') ? true : undefined));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(response().split('\r\n\r\n').slice(1).join('\r\n\r\n')).toBe('2\r\n:\n\r\nc\r\ndata: kept\n\n\r\n0\r\n\r\n');
    expect(stream.closed).toBe(true);
    expect((stream.signal.reason as SseError).code).toBe('STREAM_CLOSED');
  });

  it('sends an HTTP/1.0 client the frames unchunked, and ends by closing', async () => {
    const { port } = await serve(runScript, { retry: 1000 });
    const { socket, response } = rawRequest(port, 'GET / HTTP/1.0\r\n\r\n');
    await once(socket, 'end');
    const [head, body] = response().split('\r\n\r\n') as [string, string];
    expect(head).not.toMatch(/transfer-encoding/i);
    expect(body).toBe(SCRIPT_BYTES);
  });

  it('reads Last-Event-ID from the header, and from the query when the header is absent', async () => {
    const seen: (string | undefined)[] = [];
    const { url } = await serve((stream) => {
      seen.push(stream.lastEventId);
      stream.close();
    });
    await (await openEvents(`${url}/?lastEventId=q7`, { lastEventId: 'h9' })).waitForEnd();
    await (await openEvents(`${url}/?lastEventId=q7`)).waitForEnd();
    await (await openEvents(url)).waitForEnd();
    expect(seen).toEqual(['h9', 'q7', undefined]);
  });

  it('streams each event at once behind the compression middleware', async () => {
    const gzip = compression({ filter: () => true, threshold: 0 });
    let stream!: SseStream;
    const server = http.createServer((req, res) =>
      gzip(req as never, res as never, () => {
        stream = createStream(req, res, { heartbeat: false });
      }),
    );
    const { url } = await listenForTest(server);
    const chunks: Buffer[] = [];
    const res = await new Promise<http.IncomingMessage>((resolve) =>
      http.get(url, { headers: { 'accept-encoding': 'gzip' } }, resolve),
    );
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    // `compression` honours `Cache-Control: no-transform` and leaves the stream as it is; the
    // stream still calls the `res.flush()` it adds after every write.
    expect(res.headers['content-encoding']).toBeUndefined();
    const received = () => Buffer.concat(chunks).toString();
    for (const n of [1, 2, 3]) {
      stream.send(`event ${n}`);
      await until(() => (received().includes(`data: event ${n}\n\n`) ? true : undefined));
    }
    stream.close();
  });
});

describe('the eventsource client', () => {
  it('receives multi-line and unicode data, names, ids and retry, and resumes with Last-Event-ID', async () => {
    const connections: (string | undefined)[] = [];
    const { url } = await serve(
      (stream) => {
        connections.push(stream.lastEventId);
        if (stream.lastEventId === undefined) {
          stream.send('line one\r\nline two\rline three', { id: 'a1' });
          stream.send({ emoji: '🛰️', text: 'naïve' }, { event: 'json', id: 'a2' });
          stream.close();
        } else {
          stream.send(`resumed after ${stream.lastEventId}`, { id: 'a3', event: 'done' });
        }
      },
      { retry: 50 },
    );
    const source = eventSource(url);
    const received: { type: string; data: string; lastEventId: string }[] = [];
    const record = (event: MessageEvent) =>
      received.push({ type: event.type, data: event.data, lastEventId: event.lastEventId });
    source.addEventListener('message', record);
    source.addEventListener('json', record);
    source.addEventListener('done', record);
    await until(() => (received.length === 3 ? true : undefined));
    expect(received).toEqual([
      { type: 'message', data: 'line one\nline two\nline three', lastEventId: 'a1' },
      { type: 'json', data: '{"emoji":"🛰️","text":"naïve"}', lastEventId: 'a2' },
      { type: 'done', data: 'resumed after a2', lastEventId: 'a3' },
    ]);
    expect(connections).toEqual([undefined, 'a2']);
  });
});

describe('createStream on node:http2', () => {
  const tls = {
    key: readFileSync(new URL('../../test/fixtures/localhost-key.pem', import.meta.url)),
    cert: readFileSync(new URL('../../test/fixtures/localhost-cert.pem', import.meta.url)),
  };

  const versions: string[] = [];
  function serveHttp2(onStream: (stream: SseStream) => void) {
    const server = http2.createSecureServer(tls, (req, res) => {
      versions.push(req.httpVersion);
      onStream(createStream(req, res, { retry: 1000 }));
    });
    return listenForTest(server, 'https');
  }

  it('sends the same bytes, and no connection-specific header', async () => {
    const { url } = await serveHttp2(runScript);
    const session = http2.connect(url, { ca: tls.cert });
    afterThisTest(() => session.close());
    const request = session.request({ ':path': '/' });
    const [headers] = (await once(request, 'response')) as [http2.IncomingHttpHeaders];
    let body = '';
    request.setEncoding('utf8');
    request.on('data', (chunk: string) => {
      body += chunk;
    });
    await once(request, 'end');
    expect(headers[':status']).toBe(200);
    expect(headers['content-type']).toBe('text/event-stream; charset=utf-8');
    for (const name of ['connection', 'keep-alive', 'transfer-encoding', 'content-length']) {
      expect(headers[name]).toBeUndefined();
    }
    expect(body).toBe(SCRIPT_BYTES);
  });

  it('serves the eventsource client over HTTP/2', async () => {
    const streams: SseStream[] = [];
    const { url } = await serveHttp2((stream) => {
      streams.push(stream);
      stream.send('over h2', { event: 'hello', id: '1' });
    });
    const agent = new Agent({ allowH2: true, connect: { ca: tls.cert } });
    afterThisTest(() => agent.close());
    versions.length = 0;
    const source = eventSource(url, {
      fetch: (input: string | URL, init?: EventSourceFetchInit) =>
        undiciFetch(input, { ...init, dispatcher: agent } as never) as never,
    });
    const event = await new Promise<MessageEvent>((resolve) => source.addEventListener('hello', resolve));
    expect(event.data).toBe('over h2');
    expect(event.lastEventId).toBe('1');
    expect(versions).toEqual(['2.0']);
    source.close();
    await aborted(streams[0]?.signal as AbortSignal);
  });
});

describe('a client that goes away', () => {
  it('aborts the signal promptly and releases the timer and listeners', async () => {
    const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const timersBefore = activeTimers();
    const clearIntervalSpy = vi.spyOn(globalThis, 'clearInterval');
    afterThisTest(() => vi.restoreAllMocks());
    let stream!: SseStream;
    let res!: http.ServerResponse;
    let abortedAt = 0;
    const listenersBefore: Record<string, number> = {};
    const server = http.createServer((req, response) => {
      res = response;
      for (const name of ['close', 'drain', 'error']) listenersBefore[name] = res.listenerCount(name);
      stream = createStream(req, res, { heartbeat: 60_000 });
      stream.signal.addEventListener('abort', () => {
        abortedAt = performance.now();
      });
    });
    const { url } = await listenForTest(server);
    // The client reads the opening comment, then disconnects. supertest's client keeps no
    // timer of its own that the count of active timers below would see.
    const events = await openEvents(request(url).get('/'));
    await vi.waitFor(() => expect(events.comments).toEqual(['']));
    events.close();
    const closedAt = performance.now();
    await aborted(stream.signal, 1_000);
    console.log(`[disconnect] signal aborted ${(abortedAt - closedAt).toFixed(1)} ms after the client closed`);

    expect((stream.signal.reason as SseError).code).toBe('CLIENT_GONE');
    expect(clearIntervalSpy).toHaveBeenCalledTimes(1);
    await until(() => (activeTimers() <= timersBefore ? true : undefined), 1_000);
    for (const name of ['close', 'drain', 'error']) expect(res.listenerCount(name)).toBe(listenersBefore[name]);
    expect(stream.send('after')).toBe(false);
    expect(stream.comment()).toBe(false);
    expect(() => stream.close()).not.toThrow();
    await stream.drain();
  });
});

describe('a client that left before the stream opened', () => {
  it('ends the stream at once, e.g. after slow async middleware', async () => {
    let stream!: SseStream;
    const server = http.createServer((req, res) => {
      req.socket.on('close', () => {
        stream = createStream(req, res);
      });
    });
    const { url } = await listenForTest(server);
    const req = http.get(url);
    req.on('error', () => {});
    setTimeout(() => req.destroy(), 20);
    await until(() => stream);
    expect(stream.closed).toBe(true);
    expect((stream.signal.reason as SseError).code).toBe('CLIENT_GONE');
    expect(stream.send('x')).toBe(false);
  });
});

describe('a HEAD request', () => {
  it('gets the head and an ended response', async () => {
    let stream!: SseStream;
    const { url } = await serve((s) => {
      stream = s;
    });
    const res = await new Promise<http.IncomingMessage>((resolve) =>
      http.request(url, { method: 'HEAD' }, resolve).end(),
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream.closed).toBe(true);
  });
});

describe('a client that stops reading', () => {
  it('is cut off after four silent heartbeat periods when the producer waits for it', async () => {
    let stream!: SseStream;
    const { port } = await serve(
      (s) => {
        stream = s;
        void s.pipe(
          (async function* () {
            for (let i = 0; i < 100_000; i++) yield { data: 'x'.repeat(1000) };
          })(),
        );
      },
      { heartbeat: 50 },
    );
    const stalled = net.connect(port, '127.0.0.1');
    afterThisTest(() => stalled.destroy());
    stalled.pause();
    stalled.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await until(() => stream);
    await aborted(stream.signal, 5_000);
    expect((stream.signal.reason as SseError).code).toBe('CLIENT_STALLED');
    expect(stream.bufferedBytes).toBe(0);
  });

  it('stays within maxBufferedBytes, then closes, while another client receives everything', async () => {
    const maxBufferedBytes = 256 * 1024;
    const streams = new Map<string, SseStream>();
    // A short heartbeat, so that the slow client is cut soon after its stream ends (below).
    const { port, url, server } = await serve((stream, req) => streams.set(req.url ?? '', stream), {
      maxBufferedBytes,
      heartbeat: 1000,
    });
    let open = 0;
    const connections = () => {
      server.getConnections((_, count) => {
        open = count;
      });
      return open;
    };

    // The slow client sends its request, then never reads a byte.
    const slow = net.connect(port, '127.0.0.1');
    afterThisTest(() => slow.destroy());
    slow.pause();
    slow.write('GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');

    const events = 20_000;
    let fastReceived = 0;
    let fastOrdered = true;
    const fast = eventSource(`${url}/fast`);
    fast.onmessage = (event) => {
      fastOrdered &&= event.lastEventId === String(fastReceived);
      fastReceived++;
    };
    const [slowStream, fastStream] = await until(() =>
      streams.size === 2 ? [streams.get('/slow'), streams.get('/fast')] : undefined,
    );
    if (!slowStream || !fastStream) throw new Error('both clients should be connected');

    // One broadcast loop, as an app would run it: it never waits for any client.
    const payload = 'x'.repeat(1000);
    let peak = 0;
    let overflowAt = -1;
    const started = performance.now();
    for (let id = 0; id < events; id++) {
      slowStream.send(payload, { id });
      fastStream.send(payload, { id });
      peak = Math.max(peak, slowStream.bufferedBytes);
      if (overflowAt < 0 && slowStream.closed) overflowAt = id;
      if (id % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
    }
    await until(() => (fastReceived === events ? true : undefined), 20_000);
    const seconds = (performance.now() - started) / 1000;
    console.log(
      `[slow client] peak bufferedBytes ${peak} of ${maxBufferedBytes}; overflow after ${overflowAt} events (~${((overflowAt * 1010) / 1e6).toFixed(1)} MB held by the kernel and Node); fast client got ${fastReceived}/${events} in order at ${Math.round(fastReceived / seconds)} events/s (${((fastReceived * 1010) / 1e6 / seconds).toFixed(1)} MB/s)`,
    );

    expect(peak).toBeLessThanOrEqual(maxBufferedBytes);
    expect(peak).toBeGreaterThan(maxBufferedBytes - 1100);
    expect(slowStream.closed).toBe(true);
    expect((slowStream.signal.reason as SseError).code).toBe('BUFFER_OVERFLOW');
    expect(fastStream.closed).toBe(false);
    expect(fastOrdered).toBe(true);
    // The slow client's connection was cut, not left open forever: its stream ended after what
    // it had accepted, and a client that takes none of it for the stall period is cut.
    await until(() => (slowStream.signal.aborted && connections() === 1 ? true : undefined), 10_000);
  });
});
