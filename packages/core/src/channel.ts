import {
  type Broker,
  type BrokerMessage,
  checkChannelName,
  checkIdempotencyKey,
  type HistoryOptions,
  MemoryBroker,
  type Replay,
} from './broker.js';
import { SseError } from './errors.js';
import { checkEventName, checkId, encode, jsonSerializer, type Serializer, serialize } from './format.js';
import { counters } from './metrics.js';
import { checkCountLimit } from './options.js';
import { checkRetryRange, randomRetry } from './retry-range.js';
import { DEFAULT_MAX_EVENT_BYTES, type EventMap, type MessageData, reportError, type SseStream } from './stream.js';

/**
 * The event a subscriber receives, before any live event, when its `Last-Event-ID` cannot be
 * resumed: `data` is JSON `{ "lastEventId": string, "reason": "expired" | "unknown" }`.
 * `expired`: the events after it are no longer in history; `unknown`: the id was never seen
 * (for example, from before a server restart). Listen for it to reload what the page shows:
 * `source.addEventListener('ssekit-gap', reload)`.
 */
export const GAP_EVENT = 'ssekit-gap';

/**
 * The one channel name a registry refuses: the `channels()` routes of every instance talk over
 * it, through the broker, to change a stream held by another instance (its messages name
 * streams and channels, so no client may follow it).
 */
export const RELAY_CHANNEL = 'ssekit:relay';

// The broker of each registry, for the relay of the channels() routes (stream-directory.ts),
// which talks to other instances over the broker itself rather than through a channel.
const brokers = new WeakMap<ChannelRegistry, Broker>();

/** @internal The broker `registry` publishes through. */
export function brokerOf(registry: ChannelRegistry): Broker {
  return brokers.get(registry) as Broker;
}

const utf8 = new TextEncoder();

// UTF-8 takes one to three bytes per UTF-16 code unit: only encode when that cannot tell.
function checkDataSize(text: string, maxDataBytes: number, channel: string): void {
  if (text.length * 3 <= maxDataBytes) return;
  const bytes = utf8.encode(text).byteLength;
  if (bytes > maxDataBytes) {
    throw new SseError(
      'EVENT_TOO_LARGE',
      `channel "${channel}": event data of ${bytes} bytes is over maxDataBytes (${maxDataBytes}); nothing was published.`,
    );
  }
}

/** An event as a subscriber's filter sees it. */
export interface ChannelMessage {
  readonly id: string;
  readonly event: string | undefined;
  /** The serialized data, as the client will read it. */
  readonly data: string;
}

/** Options of {@link Channel.subscribe}. */
export interface SubscribeOptions {
  /** Which events this subscriber gets; the others are skipped (and not replayed). Default: all. */
  filter?: (message: ChannelMessage) => boolean;
  /**
   * Replay the events after this id before the live ones. Default `stream.lastEventId`
   * (the `Last-Event-ID` header or `lastEventId` query parameter); `null` for no replay.
   */
  lastEventId?: string | null;
  /**
   * @internal How this subscriber's events and gap are framed, in place of the channel's own
   * frame: a stream of many channels tags each with its channel and its cursor.
   */
  frames?: SubscriberFrames;
  /**
   * @internal Told, when the subscription starts, of a promise that settles once it is live
   * and its replay written: a subscribe call's answer carries it (`settled`), so that on
   * Workers the request that started the replay can live until it is done.
   */
  onStarted?: (started: Promise<void>) => void;
}

/** @internal The frames of one subscriber that are not the channel's own. */
export interface SubscriberFrames {
  event(message: BrokerMessage): Uint8Array;
  gap(data: string): Uint8Array;
}

/** Options of {@link ChannelRegistry}. */
export interface ChannelRegistryOptions {
  /**
   * Where events go between publishers and subscribers. Default: a {@link MemoryBroker}.
   * The registry owns it: `close()` closes it.
   */
  broker?: Broker;
  /**
   * History of the default broker (a broker passed in has its own). Default 1 000 events per
   * channel, kept until pushed out; set `maxAge` for per-user channels, so that their history
   * does not outlive them.
   */
  history?: HistoryOptions;
  /** Turns non-string data into text, once per publish. Default `JSON.stringify`. */
  serializer?: Serializer;
  /**
   * Largest event data `publish` accepts, in UTF-8 bytes once serialized (the data alone: a
   * stream's `maxEventBytes` counts the whole encoded frame); a larger one throws
   * `EVENT_TOO_LARGE` and is not published. Default 1 048 576 (1 MiB).
   */
  maxDataBytes?: number;
  /** @deprecated use {@link ChannelRegistryOptions.maxDataBytes}, which it sets when that is not given. */
  maxEventBytes?: number;
  /**
   * Range, in ms, of the reconnection delay each client is told when the registry closes;
   * each client gets a random one, so they do not all come back at once. Default 1 000–5 000.
   */
  closeRetry?: { min: number; max: number };
  /**
   * Told of failures that cost one subscriber its stream: a filter that threw, a replay the
   * broker could not give. The client reconnects. Default: `console.error`. What it throws
   * itself is logged to the console.
   */
  onError?: (error: unknown, channel: string) => void;
  /**
   * Most `Last-Event-ID` replays that run at once; later ones wait their turn (their clients
   * get heartbeats, and live events are held for them within `maxBufferedBytes`). A replay
   * reads history a page at a time as its client takes it, so each holds at most about
   * `maxBufferedBytes` of queue, one page of about the same size, and one event: this bounds
   * what a reconnect storm, or clients that resume and then read nothing, can make a process
   * hold. Default 100.
   */
  maxConcurrentReplays?: number;
}

/** Fields of a published event besides its name and data. */
export interface PublishOptions {
  /** The event's id; default: one the broker assigns, unique and ordered within the channel. */
  id?: string | number;
  /**
   * Makes a retried publish safe: while history still holds an event published with this key,
   * publishing again stores nothing and resolves with that event's id. Use one per event the
   * app means to send (a message's own id, say) and retry with the same key when a publish
   * failed without saying whether the event was stored (a networked broker's timeout or
   * dropped connection). A non-empty, well-formed string of at most 256 characters.
   */
  idempotencyKey?: string;
}

interface Subscriber {
  readonly stream: SseStream<never>;
  readonly filter: ((message: ChannelMessage) => boolean) | undefined;
  readonly frames: SubscriberFrames | undefined;
  /** Live messages held back while the replay is fetched and written. */
  pending: BrokerMessage[] | undefined;
  /** Bytes in `pending`, held to the stream's own bound. */
  pendingBytes: number;
  /** False once unsubscribed, which also stops a replay under way. */
  active: boolean;
  /** The newest id the client has, when the broker orders ids: older events are not sent. */
  newest: string | undefined;
}

/** What a channel needs of its registry: shared by every channel of one registry. */
interface RegistryContext {
  readonly broker: Broker;
  readonly serializer: Serializer;
  readonly maxDataBytes: number;
  readonly closed: boolean;
  /** Turns for replays, shared by every channel of the registry. */
  readonly replays: ReplaySlots;
  endWithRetryHint(stream: SseStream<never>): void;
  report(error: unknown, channel: string): void;
  /** The subscribers of `name` in this process, if it has any now. */
  subscribersOf(name: string): ChannelSubscribers | undefined;
  /** The subscribers of `name`, kept from now until the last one leaves. */
  join(name: string): ChannelSubscribers;
  /** Forgets `subscribers` once the last one has left. */
  release(subscribers: ChannelSubscribers): void;
}

/**
 * A named stream of events with many subscribers. Each publish is serialized and encoded
 * once, and the same bytes go to every subscriber; a slow subscriber meets its own stream's
 * buffer bound and never holds up the others. Get one from {@link ChannelRegistry.channel}.
 * Every `Channel` of one name and registry is the same channel: one taken at start-up sees
 * the subscribers that the route helpers add later.
 *
 * @typeParam Events - optional map of event names to data types that `publish` checks.
 */
export class Channel<Events extends object = EventMap> {
  readonly #registry: RegistryContext;

  /** @internal Created by {@link ChannelRegistry.channel}. */
  constructor(
    /** The channel's name. */
    readonly name: string,
    registry: RegistryContext,
  ) {
    this.#registry = registry;
  }

  /** Subscribers of this channel in this process now. */
  get size(): number {
    return this.#registry.subscribersOf(this.name)?.size ?? 0;
  }

  /**
   * Publishes one event to every subscriber, on every process the broker reaches, and to
   * history. Resolves with its id once the broker has it.
   *
   * @throws {@link SseError} at once for an invalid name or id, `undefined` data, data the
   * serializer cannot handle, or data over `maxDataBytes`. The promise rejects when the registry is closed or the broker
   * cannot take the event.
   */
  publish<K extends keyof Events & string>(data: Events[K], options: PublishOptions & { event: K }): Promise<string>;
  publish(data: MessageData<Events>, options?: PublishOptions & { event?: undefined }): Promise<string>;
  publish(data: unknown, options?: PublishOptions & { event?: string }): Promise<string> {
    if (data === undefined) {
      throw new SseError('INVALID_DATA', 'published data is undefined; publish a value, or an empty string.');
    }
    const event = options?.event === undefined ? undefined : checkEventName(options.event);
    const id = options?.id === undefined ? undefined : checkId(options.id);
    const idempotencyKey =
      options?.idempotencyKey === undefined ? undefined : checkIdempotencyKey(options.idempotencyKey);
    const text = typeof data === 'string' ? data : serialize(data, this.#registry.serializer);
    checkDataSize(text, this.#registry.maxDataBytes, this.name);
    if (this.#registry.closed) {
      return Promise.reject(new SseError('REGISTRY_CLOSED', `channel "${this.name}": the registry is closed.`));
    }
    return this.#registry.broker.publish(this.name, { event, data: text, id, idempotencyKey });
  }

  /**
   * Sends this channel's events to `stream` until either ends; returns a function that stops
   * it (harmless to call twice). A stream that arrives with a `Last-Event-ID` first gets the
   * events after it from history, at its own pace, in order and without duplicates against
   * live events published meanwhile, or the {@link GAP_EVENT} when history cannot cover it.
   * When the registry is closed, the stream gets a retry hint and is closed.
   */
  subscribe(stream: SseStream<Events>, options: SubscribeOptions = {}): () => void {
    const target = stream as unknown as SseStream<never>;
    if (stream.closed) return () => {};
    if (this.#registry.closed) {
      this.#registry.endWithRetryHint(target);
      return () => {};
    }
    return this.#registry.join(this.name).add(target, options);
  }

  /**
   * An id for the end of this channel's history now: a subscriber that resumes after it gets
   * every later event, with no gap even if none came before. `undefined` when the broker
   * cannot tell (it has no {@link Broker.newestId}).
   */
  newestId(): Promise<string | undefined> {
    return this.#registry.broker.newestId?.(this.name) ?? Promise.resolve(undefined);
  }

  /** @internal Ends every subscription with a retry hint: each client reconnects, and resumes. */
  reconnectAll(): void {
    this.#registry.subscribersOf(this.name)?.reconnectAll();
  }
}

/**
 * The subscribers of one channel name in this process, and its one broker subscription:
 * what every {@link Channel} of that name shares. The registry keeps it from the first
 * subscriber to the last.
 */
class ChannelSubscribers {
  readonly #registry: RegistryContext;
  readonly #subscribers = new Set<Subscriber>();
  /** The broker subscription, live once it resolves; there while anyone is subscribed. */
  #listening: Promise<() => void> | undefined;

  constructor(
    readonly name: string,
    registry: RegistryContext,
  ) {
    this.#registry = registry;
  }

  get size(): number {
    return this.#subscribers.size;
  }

  add(stream: SseStream<never>, options: SubscribeOptions): () => void {
    const lastEventId = options.lastEventId === undefined ? stream.lastEventId : options.lastEventId;
    // Live events wait only for a subscriber whose replay must go first.
    const pending = lastEventId ? [] : undefined;
    const subscriber: Subscriber = {
      stream,
      filter: options.filter,
      frames: options.frames,
      pending,
      pendingBytes: 0,
      active: true,
      newest: this.#registry.broker.compareIds ? lastEventId || undefined : undefined,
    };
    this.#subscribers.add(subscriber);
    if (!this.#listening) {
      const listening = this.#registry.broker.subscribe(
        this.name,
        (message) => this.#deliverToAll(message),
        () => this.reconnectAll(),
      );
      this.#listening = listening;
      listening.catch(() => {}); // reported through each subscriber below
    }
    let stopListening = (): void => {};
    const unsubscribe = (): void => {
      stopListening();
      subscriber.active = false;
      if (!this.#subscribers.delete(subscriber) || this.#subscribers.size > 0) return;
      void this.#listening?.then(
        (stop) => stop(),
        () => {},
      );
      this.#listening = undefined;
      this.#registry.release(this);
    };
    stopListening = stream.onClose(unsubscribe);
    const started = this.#start(subscriber, this.#listening, lastEventId);
    options.onStarted?.(started);
    return unsubscribe;
  }

  /** Ends every subscription with a retry hint: each client reconnects, and resumes. */
  reconnectAll(): void {
    for (const { stream } of this.#subscribers) this.#registry.endWithRetryHint(stream);
  }

  /** Ends every subscription without a retry hint; the route helpers answer the reconnects with 204. */
  endForGood(): void {
    for (const { stream } of this.#subscribers) stream.close();
  }

  #deliverToAll(message: BrokerMessage): void {
    for (const subscriber of this.#subscribers) {
      if (!subscriber.pending) {
        this.#deliver(subscriber, message);
        continue;
      }
      subscriber.pending.push(message);
      subscriber.pendingBytes += message.frame.byteLength;
      // Held-back events count against the stream's bound like buffered ones (one always
      // fits, as in the stream's own queue); past it, the client reconnects and history fills
      // the gap.
      if (subscriber.pending.length > 1 && subscriber.pendingBytes > subscriber.stream.maxBufferedBytes) {
        subscriber.stream.close();
      }
    }
  }

  #deliver(subscriber: Subscriber, message: BrokerMessage): void {
    const { broker } = this.#registry;
    if (broker.compareIds) {
      if (subscriber.newest !== undefined && broker.compareIds(message.id, subscriber.newest) <= 0) return;
      subscriber.newest = message.id;
    }
    try {
      if (!subscriber.filter || subscriber.filter(message)) {
        subscriber.stream.writeFrame(subscriber.frames ? subscriber.frames.event(message) : message.frame);
      }
    } catch (error) {
      // A filter that throws costs its own subscriber the stream, nobody else anything.
      this.#registry.report(error, this.name);
      this.#registry.endWithRetryHint(subscriber.stream);
    }
  }

  /** Waits for the broker subscription, then replays history to a client that resumes. */
  async #start(
    subscriber: Subscriber,
    listening: Promise<() => void>,
    lastEventId: string | null | undefined,
  ): Promise<void> {
    const { stream } = subscriber;
    try {
      await listening;
      if (!lastEventId) return;
      // A replay holds up to a page and a buffer's worth: the bound caps what they hold together.
      const release = await this.#registry.replays.take();
      try {
        if (!subscriber.active) return;
        const replay = await this.#registry.broker.replay(this.name, lastEventId, {
          pageBytes: stream.maxBufferedBytes,
        });
        await this.#resume(subscriber, lastEventId, replay);
      } finally {
        release();
      }
    } catch (error) {
      // History moving on under a slow reader is no failure: the client resumes from where it got.
      if (!(error instanceof SseError && error.code === 'REPLAY_OVERTAKEN')) this.#registry.report(error, this.name);
      this.#registry.endWithRetryHint(stream);
    }
  }

  // History goes out at the client's pace, a page at a time, never past its buffer bound; live
  // events wait in `pending` meanwhile and follow, each event once.
  async #resume(subscriber: Subscriber, lastEventId: string, replay: Replay): Promise<void> {
    const { stream } = subscriber;
    if (!subscriber.active) return; // left (a channel removed) while history was read
    if (replay.gap) {
      counters.gaps++;
      // The client's id says nothing about what it has: every live event is new to it.
      subscriber.newest = undefined;
      const data = JSON.stringify({ lastEventId, reason: replay.gap });
      stream.writeFrame(subscriber.frames ? subscriber.frames.gap(data) : encode({ event: GAP_EVENT, data }));
    } else counters.resumes++;
    // A broker that orders ids drops what was replayed by id order (`newest`); others by id.
    const written = this.#registry.broker.compareIds ? undefined : new Set<string>();
    const send = async (message: BrokerMessage): Promise<boolean> => {
      if (!subscriber.active || stream.closed) return false;
      if (written?.has(message.id)) return true;
      written?.add(message.id);
      this.#deliver(subscriber, message);
      await stream.drain();
      return true;
    };
    for await (const page of replay.pages) {
      for (const message of page) if (!(await send(message))) return;
    }
    while (subscriber.pending && subscriber.pending.length > 0) {
      const held = subscriber.pending;
      subscriber.pending = [];
      subscriber.pendingBytes = 0;
      for (const message of held) if (!(await send(message))) return;
    }
    subscriber.pending = undefined;
  }
}

/**
 * Turns for replays, first come first served: at most `size` run at once in a registry.
 */
class ReplaySlots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(size: number) {
    this.#free = size;
  }

  /** Resolves, once a replay may run, with the function that ends its turn. */
  take(): Promise<() => void> {
    const release = (): void => {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    };
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(release);
    }
    return new Promise((resolve) => this.#waiting.push(() => resolve(release)));
  }
}

/**
 * Named channels over one broker. A channel is kept while it has subscribers, so per-user
 * channel names do not pile up; its history lives in the broker, which keeps it within the
 * history bounds and then lets the channel go.
 *
 * @example
 * const registry = new ChannelRegistry({ history: { size: 500 } });
 * // in a route: registry.channel(`user:${id}`).subscribe(stream);
 * await registry.channel('news').publish({ title: 'Hello' }, { event: 'story' });
 */
export class ChannelRegistry {
  readonly #channels = new Map<string, ChannelSubscribers>();
  /** Names ended for good, oldest first. */
  readonly #ended = new Set<string>();
  readonly #context: RegistryContext;
  #closing: Promise<void> | undefined;

  /**
   * @throws {@link SseError} `INVALID_OPTION` for a `closeRetry` range, `maxDataBytes` or
   * `maxConcurrentReplays` that is not one.
   */
  constructor(options: ChannelRegistryOptions = {}) {
    checkCountLimit('maxDataBytes', options.maxDataBytes, 'bytes');
    checkCountLimit('maxEventBytes', options.maxEventBytes, 'bytes');
    checkCountLimit('maxConcurrentReplays', options.maxConcurrentReplays);
    const closeRetry = checkRetryRange('closeRetry', options.closeRetry);
    const { maxConcurrentReplays = DEFAULT_MAX_CONCURRENT_REPLAYS } = options;
    const registry = this;
    const channels = this.#channels;
    const { onError } = options;
    this.#context = {
      broker: options.broker ?? new MemoryBroker({ history: options.history }),
      serializer: options.serializer ?? jsonSerializer,
      maxDataBytes: options.maxDataBytes ?? options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
      replays: new ReplaySlots(maxConcurrentReplays),
      get closed() {
        return registry.closed;
      },
      endWithRetryHint(stream) {
        stream.close({ retry: randomRetry(closeRetry) });
      },
      // An onError that throws would escape a replay as an unhandled rejection.
      report: (error, channel) =>
        reportError(onError && ((cause) => onError(cause, channel)), error, `channel "${channel}"`),
      subscribersOf: (name) => channels.get(name),
      join(name) {
        let subscribers = channels.get(name);
        if (!subscribers) {
          subscribers = new ChannelSubscribers(name, this);
          channels.set(name, subscribers);
        }
        return subscribers;
      },
      // A channel holds only its subscribers; history, if any, stays with the broker.
      release(subscribers) {
        if (subscribers.size === 0 && channels.get(subscribers.name) === subscribers) channels.delete(subscribers.name);
      },
    };
    brokers.set(this, this.#context.broker);
  }

  /** Whether {@link ChannelRegistry.close} was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /**
   * The channel called `name`. It costs nothing until someone subscribes, and the registry
   * keeps its subscribers from the first to the last; every `Channel` of one name is the same
   * channel, whenever it was taken.
   *
   * @throws {@link SseError} `INVALID_CHANNEL` for a name that is not well-formed Unicode (a
   * lone surrogate, as an undecoded path or a JSON escape can hold), and for
   * {@link RELAY_CHANNEL}.
   */
  channel<Events extends object = EventMap>(name: string): Channel<Events> {
    if (name === RELAY_CHANNEL) {
      throw new SseError('INVALID_CHANNEL', `channel name "${RELAY_CHANNEL}" is ssekit's own: choose another.`);
    }
    return new Channel<Events>(checkChannelName(name), this.#context);
  }

  /** The channel called `name`, if it has subscribers now. */
  get<Events extends object = EventMap>(name: string): Channel<Events> | undefined {
    return this.#channels.has(name) ? this.channel<Events>(name) : undefined;
  }

  /** Names of the channels with subscribers now. */
  names(): string[] {
    return [...this.#channels.keys()];
  }

  /**
   * Ends channel `name` for good: its streams close, and the route helpers (`channel()` of
   * each adapter) answer later requests for it with 204, the one answer after which a
   * browser's `EventSource` stops reconnecting. Kept for the last {@link MAX_ENDED_CHANNELS}
   * names ended, in this process only (with a broker across processes, end it on each).
   */
  endForGood(name: string): void {
    this.#ended.delete(name);
    this.#ended.add(name);
    if (this.#ended.size > MAX_ENDED_CHANNELS) this.#ended.delete(this.#ended.values().next().value as string);
    this.#channels.get(name)?.endForGood();
  }

  /** @deprecated use {@link ChannelRegistry.endForGood}. */
  end(name: string): void {
    this.endForGood(name);
  }

  /** Whether {@link ChannelRegistry.endForGood} ended channel `name` (and it is still remembered). */
  isEnded(name: string): boolean {
    return this.#ended.has(name);
  }

  /**
   * Shuts down, and the clients come back (to another process, in a deploy): every stream gets
   * a random retry hint within `closeRetry` and is closed, new subscribers are sent away the
   * same way, publishing rejects, and the broker is closed.
   * Harmless to call twice; resolves when the broker has closed.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = Promise.resolve().then(() => this.#context.broker.close());
    for (const subscribers of [...this.#channels.values()]) subscribers.reconnectAll();
    this.#channels.clear();
    return this.#closing;
  }
}

/** Default of {@link ChannelRegistryOptions.maxConcurrentReplays}. */
export const DEFAULT_MAX_CONCURRENT_REPLAYS = 100;

/** How many ended channel names a registry remembers; older ones are forgotten first. */
export const MAX_ENDED_CHANNELS = 10_000;
