/**
 * What the bench's three kinds of process (runner, server, load generator) agree on: the
 * scenarios, the messages they exchange over IPC, and the event every variant publishes.
 */

/** How a server's publisher paces events. */
export type Pace =
  /** One event per macrotask (`setImmediate` between events). */
  | { kind: 'macrotask' }
  /** Bursts of `size` events, then whatever backpressure the library offers, then a macrotask. */
  | { kind: 'burst'; size: number }
  /** A steady rate, each event at its scheduled time. */
  | { kind: 'rate'; perSecond: number };

export interface Scenario {
  name: string;
  title: string;
  /** Streams that read every event. */
  streams: number;
  /** Events published, 0 for an idle scenario. */
  events: number;
  pace: Pace;
  /** Extra streams that stop reading once open: the slow-consumer scenario. */
  stalled?: number;
  /** Also run once without the stalled streams, to compare the readers' rate. */
  compareWithoutStalled?: boolean;
  /** Bytes of padding in each event's data (default 64, for events of about 100 bytes). */
  padBytes?: number;
  /** Give up on a run after this long. */
  timeoutMs: number;
}

/** What the load generator reports for one run. */
export interface ClientReport {
  /** Events received by the reading streams, in total. */
  received: number;
  /** Milliseconds from the start signal to the last event of the last stream. */
  elapsedMs: number;
  /** Why the run is invalid (lost, repeated or reordered events, a timeout), if it is. */
  failure?: string;
  /** Publish→receive latency in ms, when the scenario is paced by rate. */
  latency?: { p50: number; p99: number; max: number };
}

/** What a server reports for one run. */
export interface ServerReport {
  /** CPU seconds (user + system) from the start signal to this report. */
  cpuSeconds: number;
  /** Peak resident set size of the whole process life, in bytes. */
  peakRss: number;
  /** Highest (heap used + array buffers) seen while publishing, above the level before it. */
  peakHeldBytes: number;
  /** Most bytes seen waiting for one client: socket buffer plus the library's own queue. */
  maxClientBacklog: number;
  /**
   * After two GCs, for the idle scenario: resident set size, heap in use, and heap that V8 has
   * committed (`heapTotal`: in use, plus free space it keeps).
   */
  idle?: {
    rssBefore: number;
    rssAfter: number;
    heapBefore: number;
    heapAfter: number;
    committedBefore: number;
    committedAfter: number;
  };
}

export type ToServer =
  | { type: 'count' }
  | { type: 'baseline' }
  | { type: 'start'; events: number; pace: Pace; padBytes: number }
  | { type: 'report'; idle: boolean };

export type FromServer =
  | { type: 'listening'; port: number }
  | { type: 'count'; open: number }
  | { type: 'baseline' }
  | { type: 'published' }
  | { type: 'report'; report: ServerReport };

export type ToClient =
  | { type: 'connect'; port: number; streams: number; stalled: number; latency: boolean }
  | { type: 'start'; events: number; timeoutMs: number };

export type FromClient =
  | { type: 'connected' }
  | { type: 'done'; report: ClientReport }
  | { type: 'error'; message: string };

/** The event every variant publishes: `{"seq":…,"t":…,"pad":"…"}`, about 100 bytes of JSON. */
export interface BenchEvent {
  seq: number;
  /** Publish time, ms since the epoch with sub-ms precision, for latency. */
  t: number;
  pad: string;
}

/** The padding of events of about 100 bytes. */
export const DEFAULT_PAD_BYTES = 64;

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function benchEvent(seq: number, pad: string): BenchEvent {
  return { seq, t: now(), pad };
}

/** Sends a message to the parent process and resolves once it is handed over. */
export function tell(message: FromServer | FromClient): void {
  process.send?.(message);
}
