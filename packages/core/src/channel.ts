import { type Broker, type BrokerMessage, type HistoryOptions, MemoryBroker, type Replay } from './broker.js';
import { SseError } from './errors.js';
import { checkEventName, checkId, encode, jsonSerializer, type Serializer, serialize } from './format.js';
import type { EventMap, MessageData, SseStream } from './stream.js';

/**
 * The event a subscriber receives, before any live event, when its `Last-Event-ID` cannot be
 * resumed: `data` is JSON `{ "lastEventId": string, "reason": "expired" | "unknown" }`.
 * `expired`: the events after it are no longer in history; `unknown`: the id was never seen
 * (for example, from before a server restart). Listen for it to reload what the page shows:
 * `source.addEventListener('ssekit-gap', reload)`.
 */
export const GAP_EVENT = 'ssekit-gap';

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
}

/** Options of {@link ChannelRegistry}. */
export interface ChannelRegistryOptions {
  /** Where events go between publishers and subscribers. Default: a {@link MemoryBroker}. */
  broker?: Broker;
  /** History of the default broker (a broker passed in has its own). Default 1 000 events per channel. */
  history?: HistoryOptions;
  /** Turns non-string data into text, once per publish. Default `JSON.stringify`. */
  serializer?: Serializer;
  /**
   * Range, in ms, of the reconnection delay each client is told when the registry closes;
   * each client gets a random one, so they do not all come back at once. Default 1 000–5 000.
   */
  closeRetry?: { min: number; max: number };
}

/** Fields of a published event besides its name and data. */
export interface PublishOptions {
  /** The event's id; default: one the broker assigns, unique and ordered within the channel. */
  id?: string | number;
}

interface Subscriber {
  readonly stream: SseStream<never>;
  readonly filter: ((message: ChannelMessage) => boolean) | undefined;
  /** Live messages held back while this subscriber's replay is being written. */
  pending: BrokerMessage[] | undefined;
}

/** What a channel needs of its registry. */
interface ChannelOwner {
  readonly broker: Broker;
  readonly serializer: Serializer;
  readonly closed: boolean;
  endWithRetryHint(stream: SseStream<never>): void;
  adopt(channel: Channel<never>): Channel<never>;
  releaseIfIdle(channel: Channel<never>): void;
}

/**
 * A named stream of events with many subscribers. Each publish is serialized and encoded
 * once, and the same bytes go to every subscriber; a slow subscriber meets its own stream's
 * buffer bound and never holds up the others. Get one from {@link ChannelRegistry.channel}.
 *
 * @typeParam Events - optional map of event names to data types that `publish` checks.
 */
export class Channel<Events extends object = EventMap> {
  readonly #owner: ChannelOwner;
  readonly #subscribers = new Set<Subscriber>();
  #stopListening: (() => void) | undefined;

  /** @internal Created by {@link ChannelRegistry.channel}. */
  constructor(
    /** The channel's name. */
    readonly name: string,
    owner: ChannelOwner,
  ) {
    this.#owner = owner;
  }

  // The registry keeps channels of every event map in one place.
  #erased(): Channel<never> {
    return this as unknown as Channel<never>;
  }

  /** Subscribers now. */
  get size(): number {
    return this.#subscribers.size;
  }

  /**
   * Publishes one event to every subscriber, on every process the broker reaches, and to
   * history. Resolves with its id once the broker has it.
   *
   * @throws {@link SseError} at once for an invalid name or id, `undefined` data, or data the
   * serializer cannot handle. The promise rejects when the registry is closed or the broker
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
    const text = typeof data === 'string' ? data : serialize(data, this.#owner.serializer);
    if (this.#owner.closed) {
      return Promise.reject(new SseError('REGISTRY_CLOSED', `channel "${this.name}": the registry is closed.`));
    }
    const published = this.#owner.broker.publish(this.name, { event, data: text, id });
    return published.finally(() => this.#owner.releaseIfIdle(this.#erased()));
  }

  /**
   * Sends this channel's events to `stream` until either ends; returns a function that stops
   * it (harmless to call twice). A stream that arrives with a `Last-Event-ID` first gets the
   * events after it from history, in order and without duplicates against live events
   * published meanwhile, or the {@link GAP_EVENT} when history cannot cover it.
   * When the registry is closed, the stream gets a retry hint and is closed.
   */
  subscribe(stream: SseStream<Events>, options: SubscribeOptions = {}): () => void {
    const target = stream as unknown as SseStream<never>;
    if (this.#owner.closed) {
      this.#owner.endWithRetryHint(target);
      return () => {};
    }
    const owner = this.#owner.adopt(this.#erased());
    if (owner !== this.#erased()) return owner.subscribe(target, options);
    if (stream.closed) return () => {};

    const lastEventId = options.lastEventId === undefined ? stream.lastEventId : options.lastEventId;
    const subscriber: Subscriber = { stream: target, filter: options.filter, pending: lastEventId ? [] : undefined };
    this.#subscribers.add(subscriber);
    this.#stopListening ??= this.#owner.broker.subscribe(this.name, this.#deliverToAll);

    const unsubscribe = (): void => {
      stream.signal.removeEventListener('abort', unsubscribe);
      if (!this.#subscribers.delete(subscriber)) return;
      if (this.#subscribers.size === 0) {
        this.#stopListening?.();
        this.#stopListening = undefined;
      }
      this.#owner.releaseIfIdle(this.#erased());
    };
    stream.signal.addEventListener('abort', unsubscribe);
    if (lastEventId) {
      this.#owner.broker.replay(this.name, lastEventId).then(
        (replay) => this.#resume(subscriber, lastEventId, replay),
        () => stream.close(), // the client reconnects and tries again
      );
    }
    return unsubscribe;
  }

  /** @internal Ends every subscription, telling each client when to come back. */
  endAll(): void {
    for (const { stream } of this.#subscribers) this.#owner.endWithRetryHint(stream);
  }

  readonly #deliverToAll = (message: BrokerMessage): void => {
    for (const subscriber of this.#subscribers) {
      if (subscriber.pending) subscriber.pending.push(message);
      else deliver(subscriber, message);
    }
  };

  // History goes out at the client's pace, not all at once past its buffer bound; live
  // events wait in `pending` meanwhile and follow, each event once.
  async #resume(subscriber: Subscriber, lastEventId: string, replay: Replay): Promise<void> {
    const { stream } = subscriber;
    if (!replay.found) {
      stream.writeFrame(encode({ event: GAP_EVENT, data: JSON.stringify({ lastEventId, reason: replay.reason }) }));
    }
    const written = new Set<string>();
    let backlog: readonly BrokerMessage[] = replay.found ? replay.messages : [];
    while (backlog.length > 0 || (subscriber.pending?.length ?? 0) > 0) {
      if (backlog.length === 0) {
        backlog = subscriber.pending ?? [];
        subscriber.pending = [];
      }
      for (const message of backlog) {
        if (stream.closed) return;
        if (written.has(message.id)) continue;
        written.add(message.id);
        deliver(subscriber, message);
        await stream.drain();
      }
      backlog = [];
    }
    subscriber.pending = undefined;
  }
}

function deliver({ stream, filter }: Subscriber, message: BrokerMessage): void {
  if (!filter || filter(message)) stream.writeFrame(message.frame);
}

/**
 * Named channels over one broker. Channels are made on first use and released when they
 * have no subscribers and no history left to keep, so per-user channel names do not pile up.
 *
 * @example
 * const registry = new ChannelRegistry({ history: { size: 500 } });
 * // in a route: registry.channel(`user:${id}`).subscribe(stream);
 * await registry.channel('news').publish({ title: 'Hello' }, { event: 'story' });
 */
export class ChannelRegistry {
  readonly #channels = new Map<string, Channel<never>>();
  readonly #owner: ChannelOwner;
  #closing: Promise<void> | undefined;

  /** @throws {@link SseError} `INVALID_OPTION` for a `closeRetry` range that is not one. */
  constructor(options: ChannelRegistryOptions = {}) {
    const { min = 1000, max = 5000 } = options.closeRetry ?? {};
    if (!(Number.isSafeInteger(min) && Number.isSafeInteger(max) && min >= 0 && max >= min)) {
      throw new SseError(
        'INVALID_OPTION',
        `closeRetry { min: ${min}, max: ${max} } must be integers with 0 <= min <= max.`,
      );
    }
    const registry = this;
    const channels = this.#channels;
    this.#owner = {
      broker: options.broker ?? new MemoryBroker({ history: options.history }),
      serializer: options.serializer ?? jsonSerializer,
      get closed() {
        return registry.closed;
      },
      endWithRetryHint(stream) {
        stream.writeFrame(encode({ retry: min + Math.floor(Math.random() * (max - min + 1)) }));
        stream.close();
      },
      adopt(channel) {
        const current = channels.get(channel.name);
        if (current) return current;
        channels.set(channel.name, channel);
        return channel;
      },
      releaseIfIdle(channel) {
        if (channel.size === 0 && channels.get(channel.name) === channel && !this.broker.retains(channel.name)) {
          channels.delete(channel.name);
        }
      },
    };
  }

  /** Whether {@link ChannelRegistry.close} was called. */
  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** The channel called `name`, made if needed. */
  channel<Events extends object = EventMap>(name: string): Channel<Events> {
    let channel = this.#channels.get(name);
    if (!channel) {
      channel = new Channel<never>(name, this.#owner);
      if (!this.closed) this.#channels.set(name, channel);
    }
    return channel as unknown as Channel<Events>;
  }

  /** The channel called `name`, if it exists now. */
  get<Events extends object = EventMap>(name: string): Channel<Events> | undefined {
    return this.#channels.get(name) as unknown as Channel<Events> | undefined;
  }

  /** Names of the channels that exist now. */
  names(): string[] {
    return [...this.#channels.keys()];
  }

  /**
   * Shuts down: every stream gets a random retry hint within `closeRetry` and is closed, new
   * subscribers are sent away the same way, publishing rejects, and the broker is closed.
   * Harmless to call twice; resolves when the broker has closed.
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = Promise.resolve().then(() => this.#owner.broker.close());
    for (const channel of [...this.#channels.values()]) channel.endAll();
    this.#channels.clear();
    return this.#closing;
  }
}
