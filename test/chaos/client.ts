// A chaos client: an `eventsource` EventSource (it reconnects by itself and sends
// Last-Event-ID), given a fetch over node:http so that each attempt has a connection of its
// own, named in an `x-chaos-conn` header the proxy reads, and so that how each connection
// ended is known exactly: the body completed (the server ended the stream), it was cut
// short, or the request never got an answer.
import http from 'node:http';
import { EventSource } from 'eventsource';

type FetchLike = NonNullable<ConstructorParameters<typeof EventSource>[1]>['fetch'];

export interface ConnectionLog {
  /** `<client>.<attempt>`, as the proxy knows it. */
  id: string;
  attempt: number;
  startedAt: number;
  /** The Last-Event-ID header EventSource sent (none on the first attempt). */
  lastEventId?: string;
  status?: number;
  respondedAt?: number;
  events: number;
  firstId?: string;
  lastId?: string;
  /**
   * `complete`: the body ended cleanly (the server ended the stream); `cut-short`: the
   * connection closed before the body ended; `no-response`: the request failed before an
   * answer; `closed-by-client`: the client left at the end of the run.
   */
  end?: 'complete' | 'cut-short' | 'no-response' | 'closed-by-client';
  /**
   * The last bytes of the body (up to 160, as Latin-1). A stream that ssekit ended cleanly
   * ends on a blank line; anything else after the last event says how it was ended.
   */
  tail?: string;
  endAt?: number;
  error?: string;
}

export interface ReceivedEvent {
  id: string;
  /** The sequence number in the event's tag. */
  seq: number;
}

export interface ChaosClientOptions {
  index: number;
  channel: string;
  app: string;
  port: number;
  /** The channel's first event, before the run: the first request resumes after it. */
  epoch: string;
  clock: () => number;
}

const abortError = () => Object.assign(new Error('aborted by the client'), { name: 'AbortError' });

export class ChaosClient {
  readonly index: number;
  readonly channel: string;
  readonly app: string;
  readonly received: ReceivedEvent[] = [];
  /** Events whose data did not match their tag (a frame mangled on the way). */
  readonly corrupt: { id: string; data: string }[] = [];
  /** `ssekit-gap` events: their data, and how many events came before each (what it follows). */
  readonly gaps: { data: string; after: number }[] = [];
  readonly connections: ConnectionLog[] = [];
  /** Set when EventSource gave up for good (a status other than 200, a wrong content type). */
  failed: string | undefined;
  readonly #source: EventSource;
  readonly #clock: () => number;
  #current: ConnectionLog | undefined;
  #closing = false;

  constructor(options: ChaosClientOptions) {
    this.index = options.index;
    this.channel = options.channel;
    this.app = options.app;
    this.#clock = options.clock;
    const url = `http://127.0.0.1:${options.port}/events/${encodeURIComponent(options.channel)}?lastEventId=${encodeURIComponent(options.epoch)}`;
    this.#source = new EventSource(url, { fetch: this.#fetch });
    this.#source.onmessage = (event) => this.#onEvent(event.lastEventId, event.data);
    this.#source.addEventListener('ssekit-gap', (event) =>
      this.gaps.push({ data: event.data, after: this.received.length }),
    );
    this.#source.onerror = (event) => {
      if (this.#source.readyState === EventSource.CLOSED && !this.#closing) {
        this.failed = `EventSource gave up: ${event.message ?? 'error'} (code ${event.code ?? '-'})`;
      }
    };
  }

  get reconnects(): number {
    return Math.max(0, this.connections.length - 1);
  }

  get lastId(): string | undefined {
    return this.received[this.received.length - 1]?.id;
  }

  close(): void {
    this.#closing = true;
    this.#source.close();
  }

  #onEvent(id: string, data: string): void {
    const bar = data.indexOf('|');
    const [tag = '', pad = ''] = data.slice(0, bar).split(':');
    const hash = tag.lastIndexOf('#');
    const seq = Number(tag.slice(hash + 1));
    if (bar < 0 || tag.slice(0, hash) !== this.channel || data.length !== bar + 1 + Number(pad)) {
      this.corrupt.push({ id, data: data.slice(0, 120) });
    }
    this.received.push({ id, seq });
    const connection = this.#current;
    if (connection) {
      connection.events++;
      connection.firstId ??= id;
      connection.lastId = id;
    }
  }

  #fetch: FetchLike = (url, init) =>
    new Promise((resolve, reject) => {
      const attempt = this.connections.length + 1;
      const log: ConnectionLog = {
        id: `${this.index}.${attempt}`,
        attempt,
        startedAt: this.#clock(),
        lastEventId: init.headers['Last-Event-ID'],
        events: 0,
      };
      this.connections.push(log);
      const signal = init.signal as AbortSignal | undefined;
      const end = (how: NonNullable<ConnectionLog['end']>, error?: string) => {
        if (log.end) return;
        log.end = signal?.aborted ? 'closed-by-client' : how;
        log.endAt = this.#clock();
        if (error) log.error = error;
      };
      const req = http.request(url, {
        agent: false,
        headers: { ...init.headers, 'x-chaos-conn': log.id },
      });
      let failure: string | undefined;
      req.on('error', (error: NodeJS.ErrnoException) => {
        failure ??= error.code ?? error.message;
        if (log.status === undefined) {
          end('no-response', failure);
          reject(signal?.aborted ? abortError() : error);
        }
      });
      signal?.addEventListener('abort', () => req.destroy(abortError()), { once: true });
      req.on('response', (res) => {
        log.status = res.statusCode;
        log.respondedAt = this.#clock();
        this.#current = log;
        let ended = false;
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            res.on('data', (chunk: Buffer) => {
              log.tail = ((log.tail ?? '') + chunk.subarray(-160).toString('latin1')).slice(-160);
              controller.enqueue(new Uint8Array(chunk));
            });
            res.on('error', (error: NodeJS.ErrnoException) => {
              failure ??= error.code ?? error.message;
            });
            res.on('end', () => {
              ended = true;
              end('complete');
              controller.close();
            });
            res.on('close', () => {
              if (ended) return;
              end('cut-short', failure ?? 'closed');
              // Not an AbortError, unless the client left: EventSource then reconnects.
              controller.error(signal?.aborted ? abortError() : new Error(`cut short (${failure ?? 'closed'})`));
            });
          },
          cancel() {
            res.destroy();
          },
        });
        resolve({
          status: res.statusCode ?? 0,
          url: String(url),
          redirected: false,
          headers: {
            get: (name: string) => {
              const value = res.headers[name.toLowerCase()];
              return Array.isArray(value) ? value.join(', ') : (value ?? null);
            },
          },
          body,
        });
      });
      req.end();
    });
}
