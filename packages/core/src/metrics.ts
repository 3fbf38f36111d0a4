/**
 * What every event stream in this process has done, for a metrics exporter to read on each
 * scrape (Prometheus, OpenTelemetry): plain numbers, counted as it happens at the cost of an
 * addition, so that reading them costs the streams nothing.
 */
export interface SseMetrics {
  /** Streams open now (a gauge). */
  readonly openStreams: number;
  /** Streams opened since start. */
  readonly streamsOpened: number;
  /** Events written or buffered (`send`, `writeFrame`, `pipe`, channel deliveries). */
  readonly eventsWritten: number;
  /** Bytes written or buffered: events, comments, heartbeats and retry hints. */
  readonly bytesWritten: number;
  /** Heartbeat comments sent to quiet streams. */
  readonly heartbeats: number;
  /** Streams ended for a client that read too slowly: its buffer overflowed (`BUFFER_OVERFLOW`) under `onOverflow: 'close'`. */
  readonly overflowCloses: number;
  /** Streams cut off for a client that took nothing for the stall period (`CLIENT_STALLED`). */
  readonly stallCloses: number;
  /** Channel subscriptions that resumed after a `Last-Event-ID` from history. */
  readonly resumes: number;
  /** Gap events (`ssekit-gap`) sent, for ids that history could not cover. */
  readonly gaps: number;
}

/** @internal The counters, written by streams and channels. */
export const counters: { -readonly [K in keyof SseMetrics]: number } = {
  openStreams: 0,
  streamsOpened: 0,
  eventsWritten: 0,
  bytesWritten: 0,
  heartbeats: 0,
  overflowCloses: 0,
  stallCloses: 0,
  resumes: 0,
  gaps: 0,
};

/**
 * A snapshot of this process's stream counters.
 *
 * @example
 * // prom-client: read at each scrape.
 * new client.Gauge({ name: 'sse_open_streams', help: 'Open event streams', collect() { this.set(readMetrics().openStreams); } });
 */
export function readMetrics(): SseMetrics {
  return { ...counters };
}
