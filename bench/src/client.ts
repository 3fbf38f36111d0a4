/**
 * The load generator: a process of its own that opens the streams over loopback, reads
 * every event, and checks that each stream got every event exactly once and in order. It
 * speaks HTTP/1.1 over plain sockets (chunked bodies included) so that the client costs as
 * little CPU as it can and leaves the most for the server under test.
 */
import { connect, type Socket } from 'node:net';
import { EventReader } from './event-reader.js';
import type { ClientReport, FromClient, ToClient } from './shared.js';
import { now, tell } from './shared.js';

/**
 * The address to connect from, when set (`bench:scale`): loopback has about 28,000 ephemeral
 * ports per source address to one port, and all of 127/8 is loopback on Linux.
 */
const SOURCE_ADDRESS = process.env.SOURCE_ADDRESS;

/** Connections opened at a time: past the listen backlog, SYNs are dropped and retried 1 s later. */
const CONNECT_BATCH = 250;
/** Latency histogram: 0.1 ms buckets up to 60 s. */
const BUCKETS_PER_MS = 10;
const MAX_LATENCY_MS = 60_000;

interface Stream {
  socket: Socket;
  reader: EventReader;
  reads: boolean;
}

const streams: Stream[] = [];
let readers = 0;
let expectedEvents = 0;
let measureLatency = false;
let startedAt = 0;
let lastEventAt = 0;
let received = 0;
let complete = 0;
let failure: string | undefined;
let onAllComplete: (() => void) | undefined;
const latency = new Uint32Array(MAX_LATENCY_MS * BUCKETS_PER_MS + 1);

function fail(reason: string): void {
  failure ??= reason;
  onAllComplete?.();
}

function record(reader: EventReader, sentAt: number | undefined): void {
  received++;
  lastEventAt = now();
  if (sentAt !== undefined) {
    const bucket = Math.min(Math.max(Math.round((lastEventAt - sentAt) * BUCKETS_PER_MS), 0), latency.length - 1);
    latency[bucket] = (latency[bucket] as number) + 1;
  }
  if (reader.next === expectedEvents && ++complete === readers) onAllComplete?.();
}

function percentile(fraction: number): number {
  const total = latency.reduce((sum, count) => sum + count, 0);
  let seen = 0;
  for (let bucket = 0; bucket < latency.length; bucket++) {
    seen += latency[bucket] as number;
    if (seen >= total * fraction) return bucket / BUCKETS_PER_MS;
  }
  return MAX_LATENCY_MS;
}

function open(port: number, reads: boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, noDelay: true, localAddress: SOURCE_ADDRESS });
    const reader: EventReader = new EventReader(
      {
        onHead() {
          // A stalled client reads the head, then nothing more.
          if (!reads) socket.pause();
          resolve();
        },
        onEvent: (sentAt) => reads && record(reader, sentAt),
        onError: (reason) => reads && fail(reason),
      },
      measureLatency,
    );
    streams.push({ socket, reader, reads });
    socket.on('data', (bytes: Buffer) => reader.feed(bytes));
    socket.on('error', reject);
    socket.on('close', () => {
      reject(new Error('connection closed before the response head'));
      if (reads && startedAt > 0 && reader.next < expectedEvents) {
        fail(`a stream closed after ${reader.next} of ${expectedEvents} events`);
      }
    });
    socket.write(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAccept: text/event-stream\r\n\r\n`);
  });
}

async function openAll(port: number, count: number, reads: boolean): Promise<void> {
  for (let first = 0; first < count; first += CONNECT_BATCH) {
    const batch = Math.min(CONNECT_BATCH, count - first);
    await Promise.all(Array.from({ length: batch }, () => open(port, reads)));
  }
}

async function run(events: number, timeoutMs: number): Promise<ClientReport> {
  expectedEvents = events;
  startedAt = now();
  if (events > 0) {
    await new Promise<void>((resolve) => {
      onAllComplete = resolve;
      setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs).unref();
      if (complete === readers) resolve();
    });
  }
  const report: ClientReport = { received, elapsedMs: lastEventAt - startedAt };
  if (failure) {
    const short = streams.filter(({ reads, reader }) => reads && reader.next < events).length;
    report.failure = short > 0 ? `${failure}; ${short} of ${readers} streams short` : failure;
  }
  if (measureLatency) report.latency = { p50: percentile(0.5), p99: percentile(0.99), max: percentile(1) };
  return report;
}

process.on('message', (message: ToClient) => {
  const reply = (answer: FromClient) => tell(answer);
  if (message.type === 'connect') {
    readers = message.streams;
    measureLatency = message.latency;
    openAll(message.port, message.streams, true)
      .then(() => openAll(message.port, message.stalled, false))
      .then(() => reply({ type: 'connected' }))
      .catch((error: Error) => reply({ type: 'error', message: error.message }));
  } else {
    run(message.events, message.timeoutMs).then((report) => {
      reply({ type: 'done', report });
      for (const { socket } of streams) socket.destroy();
    });
  }
});
