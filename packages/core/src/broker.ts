import { SseError } from './errors.js';
import { formatEvent } from './format.js';

/** An event as a broker stores and delivers it: already serialized, with its id. */
export interface BrokerMessage {
  /** Unique and ordered within its channel; sent to the client as `id:`. */
  readonly id: string;
  /** The event name, if any. */
  readonly event: string | undefined;
  /** The serialized data, as the client will read it. */
  readonly data: string;
  /** The complete frame, encoded once and written as it is to every subscriber. */
  readonly frame: Uint8Array;
}

/** What a publisher hands to a broker: data serialized once, fields already validated. */
export interface BrokerEvent {
  event?: string | undefined;
  data: string;
  /** An id chosen by the app; the broker assigns one when absent. */
  id?: string | undefined;
  /**
   * A key chosen by the app for this publish: while history still holds an event published
   * with the same key, the broker stores nothing and resolves with that event's id, so a
   * publish retried after an unknown outcome (a timeout, a dropped connection) is stored once.
   */
  idempotencyKey?: string | undefined;
}

/** Whether a channel name is well-formed Unicode: no lone surrogate, which UTF-8 cannot carry. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Checks a channel name for a broker or registry: any string that is well-formed Unicode.
 *
 * @throws {@link SseError} `INVALID_CHANNEL` for anything else.
 */
export function checkChannelName(name: string): string {
  if (typeof name !== 'string' || LONE_SURROGATE.test(name)) {
    throw new SseError(
      'INVALID_CHANNEL',
      `channel name ${JSON.stringify(name)} is not a well-formed Unicode string: a lone surrogate has no UTF-8 form, so a networked broker would store it under another channel's name. Decode the name (e.g. with decodeURIComponent) or refuse the request.`,
    );
  }
  return name;
}

/** What {@link Broker.replay} found after a `Last-Event-ID`. */
export type Replay =
  | { readonly found: true; readonly messages: readonly BrokerMessage[] }
  /** `expired`: older than the history kept; `unknown`: never seen here (or from before a restart). */
  | { readonly found: false; readonly reason: 'expired' | 'unknown' };

/**
 * Carries events between publishers and the channels that deliver them, and keeps each
 * channel's history. {@link MemoryBroker} serves one process; a broker on Redis serves many.
 * Implementations build each message with {@link createBrokerMessage}, once per process.
 *
 * A channel asks for `replay` only after `subscribe` has resolved, so every event is in the
 * live feed, the replay, or both; it drops the duplicates by id.
 */
export interface Broker {
  /** Stores `event` in `channel`'s history, delivers it to the channel's listeners, and resolves with its id. */
  publish(channel: string, event: BrokerEvent): Promise<string>;
  /**
   * Delivers every later message of `channel` to `listener`, in order, one at a time; resolves,
   * once delivery is live, with a function that stops it.
   *
   * @param onLost - called when the broker could not deliver some messages in order (a
   * networked broker whose history was trimmed past them while it was cut off). The channel
   * then ends its streams with a retry hint, so that each client resumes through `replay`.
   */
  subscribe(channel: string, listener: (message: BrokerMessage) => void, onLost?: () => void): Promise<() => void>;
  /** The messages of `channel` after `lastEventId`, in order, or why there are none to give. */
  replay(channel: string, lastEventId: string): Promise<Replay>;
  /** Stops delivering and releases connections and timers. Harmless when already closed. */
  close(): Promise<void>;
  /**
   * Orders two ids of this broker (negative, zero, positive), for brokers whose ids follow
   * one order across processes. With it, a channel never sends a subscriber an event at or
   * before the last one it has, even when this process's live feed lags behind the id a
   * client resumed after (e.g. right after the broker reconnected).
   */
  compareIds?(a: string, b: string): number;
}

/** How much history a channel keeps for clients that reconnect with `Last-Event-ID`. */
export interface HistoryOptions {
  /** Most events kept per channel. Default 1 000; 0 keeps none. */
  size?: number;
  /** Milliseconds after which an event is dropped from history. Default: kept until pushed out by `size`. */
  maxAge?: number;
}

const utf8 = new TextEncoder();

/** Builds the message a broker delivers, encoding its frame once. Fields must be valid already. */
export function createBrokerMessage(id: string, event: string | undefined, data: string): BrokerMessage {
  // The serializer's work is done: the data goes as text, split into lines by the formatter.
  const frame = utf8.encode(formatEvent({ id, event, data }, String));
  return { id, event, data, frame };
}

interface Retained {
  readonly message: BrokerMessage;
  readonly at: number;
}

interface ChannelState {
  readonly history: Retained[];
  readonly listeners: Set<(message: BrokerMessage) => void>;
}

/**
 * The default {@link Broker}: one process, history in memory. Ids are `<epoch>-<n>`, with
 * `n` counting across all channels, so that no id is ever given twice, even to a channel
 * released and made again; the epoch changes with every broker, so an id from before a
 * restart reads as unknown instead of matching a different event.
 */
export class MemoryBroker implements Broker {
  readonly #size: number;
  readonly #maxAge: number;
  readonly #epoch = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  readonly #channels = new Map<string, ChannelState>();
  /** Deliveries not yet made: a publish from inside a listener waits for the one under way. */
  readonly #outbox: [ChannelState, BrokerMessage][] = [];
  readonly #sweeper: ReturnType<typeof setInterval> | undefined;
  #seq = 0;
  #closed = false;

  /**
   * @param options - `history`: how much each channel keeps (default 1 000 events, no age limit).
   * @throws {@link SseError} `INVALID_OPTION` for a history size or age that is not one.
   */
  constructor(options: { history?: HistoryOptions } = {}) {
    const { size = 1000, maxAge } = options.history ?? {};
    if (
      !(Number.isSafeInteger(size) && size >= 0) ||
      !(maxAge === undefined || (maxAge > 0 && maxAge <= 2 ** 31 - 1))
    ) {
      throw new SseError(
        'INVALID_OPTION',
        `history { size: ${size}, maxAge: ${maxAge} } needs a whole size of 0 or more and a maxAge from 1 to 2^31-1 ms.`,
      );
    }
    this.#size = size;
    this.#maxAge = maxAge ?? Number.POSITIVE_INFINITY;
    if (maxAge !== undefined) {
      // Channels nobody touches again still lose their expired history, and then go.
      this.#sweeper = setInterval(() => {
        for (const [channel, state] of this.#channels) this.#release(channel, state);
      }, maxAge);
      (this.#sweeper as { unref?: () => void }).unref?.();
    }
  }

  publish(channel: string, event: BrokerEvent): Promise<string> {
    if (this.#closed) return Promise.reject(new SseError('REGISTRY_CLOSED', 'the broker is closed.'));
    const state = this.#state(channel);
    const message = createBrokerMessage(event.id ?? `${this.#epoch}-${++this.#seq}`, event.event, event.data);
    if (this.#size > 0) {
      state.history.push({ message, at: Date.now() });
      if (state.history.length > this.#size) state.history.shift();
    }
    this.#outbox.push([state, message]);
    if (this.#outbox.length === 1) this.#deliver();
    this.#release(channel, state);
    return Promise.resolve(message.id);
  }

  subscribe(channel: string, listener: (message: BrokerMessage) => void): Promise<() => void> {
    if (this.#closed) return Promise.resolve(() => {});
    const state = this.#state(channel);
    state.listeners.add(listener);
    return Promise.resolve(() => {
      state.listeners.delete(listener);
      this.#release(channel, state);
    });
  }

  replay(channel: string, lastEventId: string): Promise<Replay> {
    const history = this.#prune(this.#channels.get(channel));
    // From the newest: an app that reuses an id means its latest use.
    const index = history.findLastIndex(({ message }) => message.id === lastEventId);
    if (index >= 0) return Promise.resolve({ found: true, messages: history.slice(index + 1).map((r) => r.message) });
    return Promise.resolve({ found: false, reason: this.#wasHere(lastEventId) ? 'expired' : 'unknown' });
  }

  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#channels.clear();
    return Promise.resolve();
  }

  // Each message reaches every listener before the next one starts, whoever publishes it.
  #deliver(): void {
    while (this.#outbox.length > 0) {
      const [state, message] = this.#outbox[0] as [ChannelState, BrokerMessage];
      for (const listener of state.listeners) listener(message);
      this.#outbox.shift();
    }
  }

  // An id of ours whose epoch matches was once in some channel's history; app-chosen ids
  // that are no longer kept read as unknown.
  #wasHere(id: string): boolean {
    return id.startsWith(`${this.#epoch}-`);
  }

  #state(channel: string): ChannelState {
    let state = this.#channels.get(channel);
    if (!state) {
      state = { history: [], listeners: new Set() };
      this.#channels.set(channel, state);
    }
    return state;
  }

  #prune(state: ChannelState | undefined): Retained[] {
    if (!state) return [];
    const oldest = Date.now() - this.#maxAge;
    let expired = 0;
    while (expired < state.history.length && (state.history[expired] as Retained).at < oldest) expired++;
    if (expired > 0) state.history.splice(0, expired);
    return state.history;
  }

  #release(channel: string, state: ChannelState): void {
    if (state.listeners.size === 0 && this.#prune(state).length === 0) this.#channels.delete(channel);
  }
}
