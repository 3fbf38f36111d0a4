// One behaviour, every server: node:http, node:http2, Express 4 and 5, Koa 2 and 3, Fastify 5, Hono on
// @hono/node-server. Each test runs against each server kind, with real clients over loopback.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { SseError, SseStream } from '@ssekit/core';
import { type OpenOptions, openEvents } from '@ssekit/testing';
import { EventSource, type EventSourceFetchInit } from 'eventsource';
import { Agent, fetch as undiciFetch } from 'undici';
import '@ssekit/testing/vitest';
import { describe, expect, it, vi } from 'vitest';
import { aborted, afterThisTest, until } from '../../packages/core/test/helpers.js';
import { type OnStream, type ServeOptions, type ServerKind, serverKinds, tls } from './servers.js';

async function serve(kind: ServerKind, onStream: OnStream, options?: ServeOptions) {
  const served = await kind.serve(onStream, options);
  afterThisTest(served.close);
  return served;
}

/** The script every server must turn into exactly SCRIPT_BYTES. */
function runScript(stream: SseStream) {
  stream.send('hello\nworld', { event: 'greeting', id: 1 });
  stream.send({ n: 2, text: 'ünïcødé 😀' }, { id: '2' });
  stream.comment('note');
  stream.send(' spaced', { id: 3, retry: 500 });
  stream.close();
}
const SCRIPT_BYTES =
  'retry: 1000\nevent: greeting\nid: 1\ndata: hello\ndata: world\n\nid: 2\ndata: {"n":2,"text":"ünïcødé 😀"}\n\n: note\nid: 3\nretry: 500\ndata:  spaced\n\n';

/**
 * A response read raw as text, for the one check on exact bytes: the node:http client on
 * HTTP/1.1, the node:http2 client on HTTP/2.
 */
function openStream(kind: ServerKind, url: string, path: string) {
  let text = '';
  let close: () => void;
  let head: Promise<{ status: number }>;
  let ended: Promise<void>;
  if (kind.http2) {
    const session = http2.connect(url, { ca: tls.cert });
    const req = session.request({ ':path': path });
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
    });
    head = new Promise((resolve) => req.once('response', (h) => resolve({ status: Number(h[':status']) })));
    ended = new Promise((resolve) => req.once('close', resolve));
    close = () => {
      req.close();
      session.close();
    };
  } else {
    const req = http.get(`${url}${path}`, { agent: false });
    req.on('error', () => {});
    let response: () => void;
    // The response's own 'close' comes after its last 'data'; the request's may come before it.
    ended = new Promise((resolve) => {
      response = resolve;
    });
    head = new Promise((resolve) =>
      req.once('response', (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.once('close', response);
        resolve({ status: res.statusCode ?? 0 });
      }),
    );
    close = () => req.destroy();
  }
  afterThisTest(() => close());
  return { head, ended, text: () => text };
}

/** An undici agent that speaks HTTP/2 to the test servers, closed after the test. */
function h2Agent() {
  const agent = new Agent({ allowH2: true, connect: { ca: tls.cert } });
  afterThisTest(() => agent.close());
  return agent;
}

/**
 * Reads a route's events through @ssekit/testing; on HTTP/2 with undici's fetch and an HTTP/2
 * agent, as the global fetch neither speaks HTTP/2 nor takes the test certificate.
 */
async function events(kind: ServerKind, url: string, path: string, options: OpenOptions = {}) {
  let fetch: OpenOptions['fetch'];
  if (kind.http2) {
    const dispatcher = h2Agent();
    fetch = (url, init) => undiciFetch(url, { ...init, dispatcher });
  }
  const reader = await openEvents(`${url}${path}`, { ...options, fetch });
  // Closed before the agent, whose close() waits for its open requests.
  afterThisTest(() => reader.close());
  return reader;
}

function eventSource(kind: ServerKind, url: string) {
  let init: ConstructorParameters<typeof EventSource>[1];
  if (kind.http2) {
    const agent = h2Agent();
    init = {
      fetch: (input: string | URL, options?: EventSourceFetchInit) =>
        undiciFetch(input, { ...options, dispatcher: agent } as never) as never,
    };
  }
  const source = new EventSource(url, init);
  afterThisTest(() => source.close());
  return source;
}

describe.each(serverKinds)('$name', (kind) => {
  it('turns a fixed script into exactly the same bytes', async () => {
    const { url } = await serve(kind, runScript, { retry: 1000 });
    const stream = openStream(kind, url, '/script');
    expect((await stream.head).status).toBe(200);
    await stream.ended;
    expect(stream.text()).toBe(SCRIPT_BYTES);
  });

  it('sends the event-stream headers at once, and no connection-specific header on HTTP/2', async () => {
    const { url } = await serve(kind, () => {});
    const stream = await events(kind, url, '/open');
    expect(stream.status).toBe(200);
    expect(stream).toHaveSseHeaders();
    if (kind.http2) {
      for (const name of ['connection', 'keep-alive', 'transfer-encoding']) expect(stream.headers.get(name)).toBeNull();
    }
    // The head comes before any event: the first bytes are a bare `:` comment.
    await until(() => (stream.comments.length > 0 ? true : undefined));
    expect(stream.comments).toEqual(['']);
    expect(stream.received).toEqual([]);
  });

  it('gives the eventsource client the same events, ids and lastEventId, and resumes after a reconnect', async () => {
    const seen: (string | undefined)[] = [];
    const { url } = await serve(
      kind,
      (stream) => {
        seen.push(stream.lastEventId);
        if (stream.lastEventId === undefined) runScript(stream);
        else stream.send(`after ${stream.lastEventId}`, { event: 'resumed', id: 4 });
      },
      { retry: 1000 },
    );
    const source = eventSource(kind, `${url}/events`);
    const received: [string, string, string][] = [];
    const record = (event: MessageEvent) => received.push([event.type, event.data, event.lastEventId]);
    for (const type of ['greeting', 'message', 'resumed']) source.addEventListener(type, record);
    await until(() => (received.length === 4 ? true : undefined));
    expect(received).toEqual([
      ['greeting', 'hello\nworld', '1'],
      ['message', '{"n":2,"text":"ünïcødé 😀"}', '2'],
      ['message', ' spaced', '3'],
      ['resumed', 'after 3', '4'],
    ]);
    expect(seen).toEqual([undefined, '3']);
  });

  it('reads Last-Event-ID from the header, and from the query parameter', async () => {
    const seen: (string | undefined)[] = [];
    const { url } = await serve(kind, (stream) => {
      seen.push(stream.lastEventId);
      stream.close();
    });
    const ends = async (path: string, headers?: Record<string, string>) =>
      (await events(kind, url, path, { headers })).waitForEnd();
    expect(await ends('/e?lastEventId=q1', { 'last-event-id': 'h1' })).toBe(true);
    expect(await ends('/e?lastEventId=q2')).toBe(true);
    expect(await ends('/e')).toBe(true);
    expect(seen).toEqual(['h1', 'q2', undefined]);
  });

  it('aborts the signal when the client disconnects and clears its heartbeat timer', async () => {
    // The heartbeat checks every heartbeat/2 ms; an odd period singles out this stream's
    // timer among the ones the frameworks and clients keep.
    const heartbeat = 12_346;
    const setIntervalSpy = vi.spyOn(globalThis, 'setInterval');
    const clearIntervalSpy = vi.spyOn(globalThis, 'clearInterval');
    afterThisTest(() => vi.restoreAllMocks());
    let stream: SseStream | undefined;
    const { url } = await serve(
      kind,
      (s) => {
        stream = s;
      },
      { heartbeat },
    );
    const client = await events(kind, url, '/events');
    const opened = await until(() => stream);
    await until(() => (client.comments.length > 0 ? true : undefined));
    expect(client.comments).toEqual(['']);
    const timers = setIntervalSpy.mock.results.filter((_, i) => setIntervalSpy.mock.calls[i]?.[1] === heartbeat / 2);
    expect(timers).toHaveLength(1);
    expect(clearIntervalSpy).not.toHaveBeenCalledWith(timers[0]?.value);

    const started = performance.now();
    client.close();
    await aborted(opened.signal, 2_000);
    console.log(`[${kind.name}] disconnect → signal: ${(performance.now() - started).toFixed(1)} ms`);
    expect((opened.signal.reason as SseError).code).toBe('CLIENT_GONE');
    expect(clearIntervalSpy).toHaveBeenCalledWith(timers[0]?.value);
    expect(opened.send('late')).toBe(false);
  });

  it('holds a client that stops reading to maxBufferedBytes, then cuts it off', async () => {
    const maxBufferedBytes = 64 * 1024;
    let peak = 0;
    let sent = 0;
    let slow: SseStream | undefined;
    const served = await serve(
      kind,
      (stream) => {
        slow = stream;
        const payload = 'x'.repeat(1000);
        const started = Date.now();
        const produce = () => {
          for (let i = 0; i < 20 && stream.send(payload); i++) {
            sent++;
            peak = Math.max(peak, stream.bufferedBytes);
          }
          // Bounded: 50 MB or 10 s at the most.
          if (!stream.closed && sent < 50_000 && Date.now() - started < 10_000) setImmediate(produce);
        };
        produce();
      },
      // A short heartbeat: a client that takes nothing is cut a stall period (4 s) after its end.
      { maxBufferedBytes, heartbeat: 1000 },
    );
    const { url, connections } = served;
    // The client sends its request, then reads nothing.
    let cutOff: () => Promise<boolean>;
    if (kind.http2) {
      const session = http2.connect(url, { ca: tls.cert });
      afterThisTest(() => session.destroy());
      const req = session.request({ ':path': '/slow' });
      req.pause();
      cutOff = async () => req.closed;
    } else {
      const { port } = new URL(url);
      const socket = net.connect(Number(port), '127.0.0.1');
      afterThisTest(() => socket.destroy());
      socket.pause();
      socket.write('GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      cutOff = async () => (await connections()) === 0;
    }
    const stream = await until(() => slow);
    await aborted(stream.signal, 15_000);
    console.log(
      `[${kind.name}] slow client: closed after ${sent} events of 1 kB; peak buffered ${peak} of ${maxBufferedBytes} bytes`,
    );
    expect((stream.signal.reason as SseError).code).toBe('BUFFER_OVERFLOW');
    expect(peak).toBeLessThanOrEqual(maxBufferedBytes);
    expect(peak).toBeGreaterThan(maxBufferedBytes - 1100);
    // Its connection (its HTTP/2 stream) is cut, not left open for a client that never reads:
    // the stream ended after what it had accepted, and a client that takes none of it for the
    // stall period is cut.
    const endedAt = performance.now();
    for (let tries = 0; !(await cutOff()); tries++) {
      expect(tries).toBeLessThan(1000);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    console.log(
      `[${kind.name}] slow client: connection cut ${(performance.now() - endedAt).toFixed(0)} ms after the end`,
    );
  });

  it('delivers each event before the next is sent, behind the compression middleware', async () => {
    let stream: SseStream | undefined;
    const { url } = await serve(
      kind,
      (s) => {
        stream = s;
      },
      { compress: true, heartbeat: false },
    );
    const client = await events(kind, url, '/events', { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    // Every middleware honours `Cache-Control: no-transform`: the stream is left as it is. (fetch
    // would decompress a compressed body, but it keeps the Content-Encoding header that says so.)
    expect(client.headers.get('content-encoding')).toBeNull();
    const opened = await until(() => stream);
    const latencies: number[] = [];
    for (let n = 1; n <= 5; n++) {
      const sentAt = performance.now();
      opened.send(`event ${n}`);
      expect(await client.next()).toMatchObject({ event: 'message', data: `event ${n}` });
      latencies.push(performance.now() - sentAt);
    }
    console.log(
      `[${kind.name}] compressed route, send → receive: ${latencies.map((ms) => ms.toFixed(1)).join(', ')} ms`,
    );
  });
});
