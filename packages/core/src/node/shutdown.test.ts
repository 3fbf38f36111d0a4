import http from 'node:http';
import net from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { type EventReader, openEvents } from '@ssekit/testing';
import { describe, expect, it } from 'vitest';
import { listenForTest } from '../../test/helpers.js';
import { ChannelRegistry, createResponse } from '../index.js';
import { createStream, shutdown } from './index.js';

/** Reads `events` to the end: the server's end, not a cut connection. */
async function readToEnd(events: EventReader): Promise<EventReader> {
  expect(await events.waitForEnd()).toBe(true);
  expect(events.dropped).toBe(false);
  return events;
}

describe('shutdown', () => {
  it('sends every client away with a spread-out retry, waits for readers, and destroys the stalled', async () => {
    const registry = new ChannelRegistry();
    let flooded: http.ServerResponse | undefined;
    const server = http.createServer((req, res) => {
      if (req.url === '/flood') flooded = res;
      const stream = createStream(req, res, { heartbeat: false, maxBufferedBytes: 64 << 20 });
      if (req.url === '/channel') registry.channel('news').subscribe(stream);
      else if (req.url === '/flood') for (let i = 0; i < 256; i++) stream.send('x'.repeat(16 * 1024));
      else stream.send('hello');
    });
    const { url, port } = await listenForTest(server);
    // A client that asks for a stream, then never reads: 4 MB wait for it.
    const stalled = net.connect(port, '127.0.0.1');
    stalled.write('GET /flood HTTP/1.1\r\nHost: x\r\n\r\n');
    stalled.pause();
    const [readers, subscribers] = await Promise.all([
      Promise.all(Array.from({ length: 50 }, () => openEvents(`${url}/plain`))),
      Promise.all(Array.from({ length: 5 }, () => openEvents(`${url}/channel`))),
      new Promise((resolve) => setTimeout(resolve, 300)),
    ]);

    const started = Date.now();
    await shutdown(server, { registry, deadline: 500 });
    const took = Date.now() - started;

    expect(server.listening).toBe(false);
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(3_000);

    // Each stream's last field is its retry hint: the event before it carries none.
    const retries: number[] = [];
    for (const events of await Promise.all(readers.map(readToEnd))) {
      expect(events.received).toEqual([{ event: 'message', data: 'hello', id: undefined, retry: undefined }]);
      retries.push(events.retry ?? Number.NaN);
    }
    for (const retry of retries) expect(retry).toBeGreaterThanOrEqual(1000);
    for (const retry of retries) expect(retry).toBeLessThanOrEqual(5000);
    expect(new Set(retries).size).toBeGreaterThan(10);
    for (const events of await Promise.all(subscribers.map(readToEnd))) {
      expect(events.received).toEqual([]);
      expect(events.retry).toBeGreaterThan(0);
    }
    // The stalled client's response was destroyed at the deadline, its bytes dropped.
    expect(flooded?.destroyed).toBe(true);
    expect(flooded?.writableFinished).toBe(false);
    stalled.destroy();
  });

  it('refuses a retry range or deadline that is not one', async () => {
    const server = http.createServer();
    await expect(shutdown(server, { retry: { min: 5, max: 1 } })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
    await expect(shutdown(server, { deadline: -1 })).rejects.toMatchObject({ code: 'INVALID_OPTION' });
  });
});

describe('shutdown of a fetch-style server on Node', () => {
  it('sends createResponse streams served by @hono/node-server away with a retry hint', async () => {
    const server = createAdaptorServer({
      fetch: (request: Request) => createResponse(request, () => {}, { heartbeat: false }),
    }) as http.Server;
    const { url } = await listenForTest(server);
    // Open once their heads arrived: no need to wait longer before shutting down.
    const streams = await Promise.all(Array.from({ length: 5 }, () => openEvents(url)));
    const started = Date.now();
    await shutdown(server, { deadline: 5_000 });
    // Each stream ended after its hint, and its connection with it: nothing waited for the deadline.
    expect(Date.now() - started).toBeLessThan(2_000);
    // The opening comment, then the hint, and nothing else.
    for (const events of await Promise.all(streams.map(readToEnd))) {
      expect(events.comments).toEqual(['']);
      expect(events.received).toEqual([]);
      expect(events.retry).toBeGreaterThan(0);
    }
  });
});
