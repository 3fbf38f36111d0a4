// The stream counters, read by a metrics exporter: here prom-client, wired as the README shows.
import http from 'node:http';
import { connect } from 'node:net';
import { ChannelRegistry, readMetrics, type SseMetrics } from '@ssekit/core';
import { createStream, shutdown } from '@ssekit/core/node';
import { openEvents } from '@ssekit/testing';
import '@ssekit/testing/vitest';
import client from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { getRaw, listen, listenForTest, until } from '../packages/core/test/helpers.js';

/** The README's wiring: one prom-client metric per counter, read at each scrape. */
function registerSseMetrics(registry: client.Registry): void {
  const gauge = (name: string, help: string, read: (m: SseMetrics) => number) =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(readMetrics()));
      },
    });
  gauge('sse_open_streams', 'Event streams open now', (m) => m.openStreams);
  gauge('sse_streams_opened_total', 'Event streams opened', (m) => m.streamsOpened);
  gauge('sse_events_written_total', 'Events written or buffered', (m) => m.eventsWritten);
  gauge('sse_bytes_written_total', 'Bytes written or buffered', (m) => m.bytesWritten);
  gauge('sse_heartbeats_total', 'Heartbeats sent', (m) => m.heartbeats);
  gauge('sse_overflow_closes_total', 'Streams cut off for a slow client', (m) => m.overflowCloses);
  gauge('sse_stall_closes_total', 'Streams cut off for a client that stopped reading', (m) => m.stallCloses);
  gauge('sse_resumes_total', 'Subscriptions resumed from history', (m) => m.resumes);
  gauge('sse_gaps_total', 'Gap events sent', (m) => m.gaps);
}

describe('stream metrics', () => {
  it('count opens, events, bytes, heartbeats, cut-offs, resumes and gaps, and reach Prometheus', async () => {
    const before = readMetrics();
    const channels = new ChannelRegistry();
    const server = http.createServer((req, res) => {
      const stream = createStream(req, res, { heartbeat: 50, maxBufferedBytes: 1024 });
      if (req.url === '/flood') for (let i = 0; i < 2000; i++) stream.send('x'.repeat(1000));
      else channels.channel('news').subscribe(stream);
    });
    const { url, port } = await listenForTest(server);
    const first = await channels.channel('news').publish('one');
    await channels.channel('news').publish('two');
    const resumed = await openEvents(`${url}/news`, { lastEventId: first });
    const gapped = await openEvents(`${url}/news`, { lastEventId: 'unknown-id' });
    await expect(resumed).toEmit({ data: 'two' });
    await expect(gapped).toEmit({ event: 'ssekit-gap' });
    // A quiet stream gets heartbeats; a client that never reads is cut off.
    const quiet = await openEvents(`${url}/news`);
    const stalled = connect(port, '127.0.0.1');
    stalled.write('GET /flood HTTP/1.1\r\nHost: x\r\n\r\n');
    stalled.pause();
    await vi.waitFor(() => expect(quiet.comments.length).toBeGreaterThan(1));
    await until(() => (readMetrics().overflowCloses > before.overflowCloses ? true : undefined), 5_000);
    for (const reader of [resumed, gapped, quiet]) reader.close();
    stalled.destroy();

    const after = readMetrics();
    expect(after.streamsOpened - before.streamsOpened).toBe(4);
    expect(after.resumes - before.resumes).toBe(1);
    expect(after.gaps - before.gaps).toBe(1);
    expect(after.heartbeats).toBeGreaterThan(before.heartbeats);
    expect(after.overflowCloses - before.overflowCloses).toBe(1);
    expect(after.eventsWritten - before.eventsWritten).toBeGreaterThanOrEqual(2 + 1 + 2);
    expect(after.bytesWritten).toBeGreaterThan(before.bytesWritten);
    await until(() => (readMetrics().openStreams === before.openStreams ? true : undefined), 5_000);

    const prometheus = new client.Registry();
    registerSseMetrics(prometheus);
    const text = await prometheus.metrics();
    expect(text).toContain(`sse_gaps_total ${readMetrics().gaps}`);
    expect(text).toMatch(/^sse_open_streams \d+$/m);
    await channels.close();
  });

  it('count the retry hints of registry.close() and shutdown() as bytes, never as events', async () => {
    const registry = new ChannelRegistry();
    let opened = 0;
    const server = http.createServer((req, res) => {
      const stream = createStream(req, res, { heartbeat: false });
      if (req.url === '/channel') registry.channel('news').subscribe(stream);
      opened++;
    });
    const { url } = await listen(server);
    // Exact bytes are the point here: read raw.
    const bodies = [getRaw(`${url}/channel`), getRaw(`${url}/plain`)];
    await until(() => (opened === 2 ? true : undefined));
    const before = readMetrics();
    await shutdown(server, { registry, deadline: 1000 });
    const hints = (await Promise.all(bodies)).map(({ body }) => /retry: \d+\n$/.exec(body)?.[0] ?? '');
    const after = readMetrics();
    expect(hints.every((hint) => hint.length > 0)).toBe(true);
    expect(after.eventsWritten).toBe(before.eventsWritten);
    expect(after.bytesWritten - before.bytesWritten).toBe(hints.join('').length);
  });
});
