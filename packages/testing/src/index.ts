/**
 * Read server-sent events in tests: from a supertest request, a Hono app, a `Response` or a
 * URL, with timeouts that say what arrived, resume with `Last-Event-ID` and cleanup after each
 * vitest test.
 *
 * @module @ssekit/testing
 */
import { createParser } from 'eventsource-parser';

// Captured when this module loads, so that a test's `vi.useFakeTimers()` (which fakes the
// clock too) cannot stop the reader's own timeouts from firing, and so hang the test.
const { setTimeout: realSetTimeout, clearTimeout: realClearTimeout } = globalThis;
const { now } = Date;

/** The default of {@link OpenOptions.timeout}, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 2_000;

/** An event as the reader received it. */
export interface ReceivedEvent<Name extends string = string, Data = unknown> {
  /** The `event:` field; `'message'` when the event has none, as in browsers. */
  event: Name;
  /** The `data:` lines joined by `\n`, parsed as JSON when {@link OpenOptions.json} is set. */
  data: Data;
  /** The `id:` field of this event, if it had one. */
  id: string | undefined;
  /** The `retry:` field (milliseconds) received since the previous event, if any. */
  retry: number | undefined;
}

/** The events of an app's event map (`{ tick: { n: number } }`), one union member per name. */
export type EventOf<Events extends object> = {
  [Name in keyof Events & string]: ReceivedEvent<Name, Events[Name]>;
}[keyof Events & string];

/** Options of {@link openEvents}. */
export interface OpenOptions {
  /** Request headers, added to those the source already has. Default none. */
  headers?: Record<string, string>;
  /** Sent as the `Last-Event-ID` header, to start after that event. Default none. */
  lastEventId?: string;
  /** Parse each event's data as JSON; data that is not JSON fails the read. Default `false`. */
  json?: boolean;
  /**
   * How long opening may wait for the response head, and one read (`next()`, `take(n)`,
   * `until()`, ...) for its events, in milliseconds. Default 2 000.
   */
  timeout?: number;
  /** The path to request from a Hono app (or any `{ fetch }` handler). Default `'/'`. */
  path?: string;
  /**
   * The `fetch` a URL is requested with, e.g. undici's with a dispatcher for HTTP/2 or a test
   * certificate. Default the global `fetch`.
   */
  fetch?: FetchFunction;
}

/**
 * A `fetch` as {@link OpenOptions.fetch} calls it: a URL, the headers and the signal of the
 * reader. Its response needs only what the reader reads, so that the `Response` of another copy
 * of undici (the npm package's) fits as well as the global one.
 */
export type FetchFunction = (
  url: string,
  init: { headers: Record<string, string>; signal: AbortSignal },
) => FetchedResponse | Promise<FetchedResponse>;

/** The parts of a `Response` the reader reads. */
export interface FetchedResponse {
  status: number;
  headers: { forEach(callback: (value: string, name: string) => void): void };
  body: { getReader(): ReadableStreamDefaultReader<Uint8Array> } | null;
}

/** Options of {@link EventReader.reconnect}. */
export interface ReconnectOptions {
  /**
   * How the last event id travels: the `Last-Event-ID` header, as `EventSource` sends it, or the
   * `lastEventId` query parameter, as a page that opens a new `EventSource` must. Default `'header'`.
   */
  via?: 'header' | 'query';
}

/** What {@link EventReader.collect} stops at: a number of events, a matching event, or a time. */
export type CollectUntil<Event> =
  | { count: number }
  | { until: (event: Event) => boolean }
  /** All events that arrive within this many milliseconds (or until the stream ends). */
  | { ms: number };

/** The parts of a supertest `Test` the reader uses (supertest 7). */
export interface SupertestRequest {
  app: unknown;
  method: string;
  url: string;
  /** The headers set with `.set()`; superagent keeps them here. */
  header?: Record<string, string>;
  buffer(value: boolean): this;
  // `never`: any parser signature supertest's own types declare is accepted.
  parse(parser: (res: never, done: never) => void): this;
  set(name: string, value: string): this;
  end(callback: (error: unknown, response?: { on(event: 'error', listener: () => void): void }) => void): this;
}

/** A Node response as supertest hands it out. */
interface NodeResponse {
  statusCode?: number;
  /** Whether the whole response arrived, its end included. */
  complete: boolean;
  rawHeaders: string[];
  on(event: 'data', listener: (chunk: Uint8Array | string) => void): void;
  on(event: 'close' | 'error', listener: () => void): void;
  destroy(): void;
}

/** A Hono app, or any handler of Web `Request`s. */
export interface FetchHandler {
  fetch(request: Request): Response | Promise<Response>;
}

/** What {@link openEvents} reads from. */
export type EventSourceLike = SupertestRequest | FetchHandler | Response | Promise<Response> | string | URL;

/** One HTTP response being read. */
interface Connection {
  status: number;
  headers: Headers;
  body: AsyncIterable<Uint8Array>;
  close(): void;
}

/** Opens the request again with these extra headers (and query parameters). */
type Opener = (headers: Record<string, string>, query: Record<string, string>) => Promise<Connection>;

const isSupertest = (source: object): source is SupertestRequest =>
  'parse' in source && 'buffer' in source && 'url' in source && 'app' in source;

const withQuery = (path: string, query: Record<string, string>) => {
  const url = new URL(path, 'http://localhost');
  for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
  return url;
};

function webConnection(response: FetchedResponse, abort: AbortController): Connection {
  const headers = new Headers();
  response.headers.forEach((value, name) => {
    headers.append(name, value);
  });
  return {
    status: response.status,
    headers,
    body: chunks(response.body, abort),
    close: () => abort.abort(),
  };
}

async function* chunks(body: FetchedResponse['body'], abort: AbortController) {
  if (!body) return;
  const reader = body.getReader();
  abort.signal.addEventListener('abort', () => reader.cancel().catch(() => {}));
  try {
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) yield chunk.value;
  } catch (error) {
    // A cancel from close() ends the body with an abort error; that is the end, not a failure.
    if (!abort.signal.aborted) throw error;
  }
}

/** The body of a Node response as a Web stream, listened to at once: superagent starts it flowing. */
function nodeBody(res: NodeResponse): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      res.on('data', (chunk) =>
        controller.enqueue(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : chunk),
      );
      // A drop is an 'error' and then a 'close' of an incomplete response; it errors the
      // body, as fetch does.
      res.on('error', () => {});
      res.on('close', () => {
        try {
          if (res.complete) controller.close();
          else controller.error(new Error('the connection dropped before the response ended'));
        } catch {
          // Already closed by a cancel.
        }
      });
    },
    cancel: () => res.destroy(),
  });
}

function supertestOpener(test: SupertestRequest): Opener {
  // The path as given to supertest: the URL is completed with a port only once it listens.
  const url = new URL(test.url);
  const path = url.pathname + url.search;
  const Test = test.constructor as new (app: unknown, method: string, path: string) => SupertestRequest;
  const send = (request: SupertestRequest) =>
    new Promise<Connection>((resolve, reject) => {
      // Unbuffered with a parser of our own: supertest hands the response over as its head
      // arrives, and the events are read from it as they come, until close().
      request
        .buffer(false)
        .parse((res: NodeResponse) => {
          const headers = new Headers();
          for (let i = 0; i < res.rawHeaders.length; i += 2)
            headers.append(res.rawHeaders[i] ?? '', res.rawHeaders[i + 1] ?? '');
          const abort = new AbortController();
          resolve({
            status: res.statusCode ?? 0,
            headers,
            body: chunks(nodeBody(res), abort),
            close: () => abort.abort(),
          });
        })
        .end((error, response) => {
          if (error) reject(error);
          // superagent's response repeats the body's errors; a drop is the body's to report.
          response?.on('error', () => {});
        });
    });
  let first: SupertestRequest | undefined = test;
  return (headers, query) => {
    // The first request is the caller's; a reconnect sends a copy, as a Test is sent once.
    const target = withQuery(path, query);
    const request = first ?? new Test(test.app, test.method, target.pathname + target.search);
    first = undefined;
    for (const [name, value] of Object.entries({ ...test.header, ...headers })) request.set(name, value);
    return send(request);
  };
}

function fetchOpener(fetcher: FetchFunction, base: string | URL): Opener {
  return async (headers, query) => {
    const abort = new AbortController();
    const response = await fetcher(withQuery(String(base), query).href, { headers, signal: abort.signal });
    return webConnection(response, abort);
  };
}

function opener(source: EventSourceLike, options: OpenOptions): Opener {
  if (typeof source === 'string' || source instanceof URL) {
    return fetchOpener(options.fetch ?? fetch, source);
  }
  if (source instanceof Response || source instanceof Promise) {
    let response: Promise<Response> | undefined = Promise.resolve(source);
    return async () => {
      if (!response)
        throw new Error('reconnect() needs a source it can request again: a URL, supertest request or app');
      const abort = new AbortController();
      const connection = webConnection(await response, abort);
      response = undefined;
      return connection;
    };
  }
  if (isSupertest(source)) return supertestOpener(source);
  const app = source;
  const base = new URL(options.path ?? '/', 'http://localhost');
  return fetchOpener((url, init) => app.fetch(new Request(url, init)), base);
}

/**
 * Reads the events of one response, in order. Each read waits at most
 * {@link OpenOptions.timeout} and then fails with the events received so far.
 */
export class EventReader<Event extends ReceivedEvent = ReceivedEvent> {
  /** The response's status code. */
  readonly status: number;
  /** The response's headers. */
  readonly headers: Headers;
  /** Every event received, read or not yet. */
  readonly received: Event[] = [];
  /** The events that reads have handed out (or consumed while looking for a match), in order. */
  readonly read: Event[] = [];
  /** The comments received (heartbeats are comments), without the leading `:` and space. */
  readonly comments: string[] = [];
  /** The last event id the stream set, as a browser would send it on reconnect; `undefined` before any. */
  lastEventId: string | undefined;
  /**
   * Whether the connection dropped before the response ended (the server cut it, or the runtime
   * did), rather than the server ending the response. Either way the reader has {@link ended}.
   */
  dropped = false;
  /** The last `retry:` value (milliseconds) the stream sent, with or without an event after it. */
  retry: number | undefined;

  #queue: Event[] = [];
  #ended = false;
  #closed = false;
  #error: unknown;
  #wake: (() => void) | undefined;
  #connection: Connection;
  #open: Opener;
  #options: OpenOptions;

  /** @internal use {@link openEvents}. */
  constructor(connection: Connection, open: Opener, options: OpenOptions) {
    this.#connection = connection;
    this.#open = open;
    this.#options = options;
    this.status = connection.status;
    this.headers = connection.headers;
    this.lastEventId = options.lastEventId;
    void this.#pump();
  }

  /** Whether the stream has ended (the server closed it, or {@link close} was called). */
  get ended(): boolean {
    return this.#ended;
  }

  async #pump(): Promise<void> {
    let retry: number | undefined;
    const parser = createParser({
      onRetry: (ms) => {
        retry = ms;
        this.retry = ms;
      },
      onComment: (comment) => this.comments.push(comment),
      onEvent: ({ event = 'message', data, id }) => {
        if (id !== undefined) this.lastEventId = id;
        let value: unknown = data;
        if (this.#options.json) {
          try {
            value = JSON.parse(data);
          } catch {
            this.#error ??= new Error(`event data is not JSON: ${JSON.stringify(data)}`);
            return;
          }
        }
        const received = { event, data: value, id, retry } as Event;
        retry = undefined;
        this.received.push(received);
        this.#queue.push(received);
      },
    });
    const decoder = new TextDecoder();
    try {
      for await (const chunk of this.#connection.body) {
        parser.feed(decoder.decode(chunk, { stream: true }));
        this.#wake?.();
      }
    } catch {
      // A reset from close() is how a stream we ended ends; any other is a drop, which a
      // browser's EventSource too sees as an end (and reconnects).
      if (!this.#closed) this.dropped = true;
    }
    this.#ended = true;
    this.#wake?.();
  }

  /** The next event, or whether the stream ended or `deadline` (epoch ms) passed first. */
  async #pull(deadline: number): Promise<Event | 'ended' | 'timeout'> {
    for (;;) {
      if (this.#error) throw this.#error;
      const event = this.#queue.shift();
      if (event) {
        this.read.push(event);
        return event;
      }
      if (this.#ended) return 'ended';
      const left = deadline - now();
      if (left <= 0) return 'timeout';
      await new Promise<void>((resolve) => {
        const timer = realSetTimeout(resolve, left);
        this.#wake = () => {
          realClearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** Reads events until `done` accepts the list, failing on the timeout or the end. */
  async #read(waitingFor: string, done: (events: Event[]) => boolean): Promise<Event[]> {
    const timeout = this.#options.timeout ?? DEFAULT_TIMEOUT_MS;
    const deadline = now() + timeout;
    const events: Event[] = [];
    while (!done(events)) {
      const event = await this.#pull(deadline);
      if (event === 'timeout')
        throw new Error(`Timed out after ${timeout} ms waiting for ${waitingFor}. ${this.describe()}`);
      if (event === 'ended') throw new Error(`The stream ended while waiting for ${waitingFor}. ${this.describe()}`);
      events.push(event);
    }
    return events;
  }

  /** The events received so far, one per line, for failure messages. */
  describe(): string {
    if (this.received.length === 0) return 'Received no events.';
    const lines = this.received.map((event) => `  ${JSON.stringify(event)}`);
    return `Received ${this.received.length} event(s):\n${lines.join('\n')}`;
  }

  /** The next event. Fails if none arrives within the timeout or the stream ends first. */
  async next(): Promise<Event> {
    const [event] = await this.#read('the next event', (events) => events.length === 1);
    return event as Event;
  }

  /** The next `count` events. */
  take(count: number): Promise<Event[]> {
    return this.#read(`${count} event(s)`, (events) => events.length === count);
  }

  /** Reads events until one satisfies `predicate`, and returns that one. */
  async until(predicate: (event: Event) => boolean): Promise<Event> {
    const events = await this.collect({ until: predicate });
    return events[events.length - 1] as Event;
  }

  /**
   * Reads events: `count` of them, or up to and including the first that `until` accepts, or
   * all that arrive within `ms` milliseconds (which never fails on time, and stops at the end).
   */
  async collect(what: CollectUntil<Event>): Promise<Event[]> {
    if ('count' in what) return this.take(what.count);
    if ('until' in what) {
      const { until } = what;
      return this.#read(`an event matching ${until.toString()}`, (events) => {
        const last = events[events.length - 1];
        return last !== undefined && until(last);
      });
    }
    const deadline = now() + what.ms;
    const events: Event[] = [];
    for (let event = await this.#pull(deadline); typeof event === 'object'; event = await this.#pull(deadline)) {
      events.push(event);
    }
    return events;
  }

  /**
   * Reads (and drops) events until the stream ends. Resolves `true` at the end, `false` if it
   * has not ended within `ms` milliseconds (default: the reader's timeout).
   */
  async waitForEnd(ms = this.#options.timeout ?? DEFAULT_TIMEOUT_MS): Promise<boolean> {
    const deadline = now() + ms;
    for (;;) {
      const event = await this.#pull(deadline);
      if (event === 'ended') return true;
      if (event === 'timeout') return false;
    }
  }

  /** Ends the request. Reads that wait see the end; calling it again does nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#connection.close();
  }

  /**
   * Closes this reader and opens the same request again with the current
   * {@link lastEventId}, as `EventSource` does after a drop: the server resumes after it.
   */
  async reconnect(options: ReconnectOptions = {}): Promise<EventReader<Event>> {
    this.close();
    const id = this.lastEventId;
    const viaQuery = options.via === 'query';
    const headers = { ...this.#options.headers };
    delete headers['Last-Event-ID'];
    if (id !== undefined && !viaQuery) headers['Last-Event-ID'] = id;
    const query: Record<string, string> = id !== undefined && viaQuery ? { lastEventId: id } : {};
    const connection = await opened(this.#open(headers, query), this.#options.timeout);
    return adopt(new EventReader<Event>(connection, this.#open, { ...this.#options, headers, lastEventId: id }));
  }

  /** Closes the reader, for `await using reader = await openEvents(...)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/** The response once its head arrives; a route that never answers fails the read instead of hanging it. */
async function opened(opening: Promise<Connection>, ms = DEFAULT_TIMEOUT_MS): Promise<Connection> {
  let timer: ReturnType<typeof realSetTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = realSetTimeout(() => reject(new Error(`Timed out after ${ms} ms waiting for the response head.`)), ms);
  });
  try {
    return await Promise.race([opening, late]);
  } catch (error) {
    // A head that arrives after the timeout is not read: end its request.
    opening.then(
      (connection) => connection.close(),
      () => {},
    );
    throw error;
  } finally {
    realClearTimeout(timer);
  }
}

let warnedOfRequire = false;

/** Closes `reader` after the current vitest test, when there is one. */
async function adopt<R extends EventReader<ReceivedEvent>>(reader: R): Promise<R> {
  // Only inside a vitest worker: elsewhere vitest may not be installed, and need not be.
  if (!('__vitest_worker__' in globalThis)) return reader;
  let vitest: typeof import('vitest');
  try {
    vitest = await import('vitest');
  } catch {
    // The CommonJS build imports with require(), which vitest refuses; vitest itself loads
    // packages as ES modules, so this is a require() of ours from a test's own CommonJS file.
    if (!warnedOfRequire) {
      warnedOfRequire = true;
      process.emitWarning(
        '@ssekit/testing was loaded with require(), which cannot import vitest: readers are not closed after each test; close() them, or import the package.',
      );
    }
    return reader;
  }
  try {
    vitest.onTestFinished(() => reader.close());
  } catch {
    // Outside a test (beforeAll, module scope) there is no test to finish: the caller closes it.
  }
  return reader;
}

/**
 * Sends a request and reads its event stream.
 *
 * @param source - a supertest request (`request(app).get('/events')`, `request(koa.callback()).get(...)`),
 *   a Hono app or other `{ fetch }` handler (requested at {@link OpenOptions.path}), a `Response`
 *   (or a promise of one, such as `app.request('/events')`, which cannot reconnect), or a URL.
 * @example
 * const events = await openEvents(request(app).get('/events'), { json: true });
 * expect(await events.next()).toMatchObject({ event: 'tick', data: { n: 1 } });
 */
export async function openEvents<Events extends object = Record<string, unknown>>(
  source: EventSourceLike,
  options: OpenOptions = {},
): Promise<EventReader<EventOf<Events>>> {
  const open = opener(source, options);
  const headers = {
    Accept: 'text/event-stream',
    ...options.headers,
    ...(options.lastEventId !== undefined && { 'Last-Event-ID': options.lastEventId }),
  };
  const connection = await opened(open(headers, {}), options.timeout);
  const reader = new EventReader<EventOf<Events>>(connection, open, { ...options, headers });
  return adopt(reader);
}
