import { SseError } from './errors.js';
import { formatEvent } from './format.js';
import { checkHistoryOptions, type HistoryOptions } from './options.js';

export type { HistoryOptions } from './options.js';

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

/** Longest idempotency key, in UTF-16 code units. */
const MAX_IDEMPOTENCY_KEY_LENGTH = 256;

/**
 * Checks an idempotency key for a broker or channel: a non-empty, well-formed string of at most
 * 256 characters.
 *
 * @throws {@link SseError} `INVALID_OPTION` for anything else.
 */
export function checkIdempotencyKey(key: string): string {
  if (typeof key !== 'string' || key === '' || key.length > MAX_IDEMPOTENCY_KEY_LENGTH || LONE_SURROGATE.test(key)) {
    throw new SseError(
      'INVALID_OPTION',
      `idempotencyKey ${JSON.stringify(key)} must be a non-empty, well-formed string of at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters.`,
    );
  }
  return key;
}

/**
 * What {@link Broker.replay} found after a `Last-Event-ID`: the messages history holds after
 * it, fetched a page at a time as the client takes them, and whether some are missing.
 */
export interface Replay {
  /**
   * Set when history cannot cover every event after the id: `expired` when events after it
   * were dropped from history (or lost by the broker), `unknown` when the id was never given
   * on this channel (from another channel, from before a restart, or made up). The client is
   * told with the `ssekit-gap` event before any message.
   */
  readonly gap?: 'expired' | 'unknown' | undefined;
  /**
   * The messages after the id that history still holds, oldest first, in pages. The channel
   * asks for the next page only once the client has taken the previous one, so a replay holds
   * one page in memory however long the history. With a `gap`, these are the messages known to
   * come after the id (for a broker whose ids are ordered, every newer one; else none).
   *
   * @throws {@link SseError} `REPLAY_OVERTAKEN` from the iteration when history dropped
   * messages this replay had not reached yet; `BROKER_UNAVAILABLE` when a page cannot be read.
   */
  readonly pages: AsyncIterable<readonly BrokerMessage[]>;
}

/** Options of {@link Broker.replay}. */
export interface ReplayOptions {
  /**
   * About how many bytes of frames one page should hold; a broker that reads history over the
   * network sizes its reads to it (a page holds at least one message). The channel passes the
   * stream's `maxBufferedBytes`. Default 262 144 (256 KiB).
   */
  pageBytes?: number;
}

/** No pages: a replay with nothing to send. */
const NO_PAGES: AsyncIterable<readonly BrokerMessage[]> = {
  async *[Symbol.asyncIterator]() {},
};

/** One page of messages already in memory (a broker that shares them with its history). */
function onePage(messages: readonly BrokerMessage[]): AsyncIterable<readonly BrokerMessage[]> {
  return messages.length === 0
    ? NO_PAGES
    : {
        async *[Symbol.asyncIterator]() {
          yield messages;
        },
      };
}

/**
 * Carries events between publishers and the channels that deliver them, and keeps each
 * channel's history. {@link MemoryBroker} serves one process; a broker on Redis serves many.
 * Implementations build each message with {@link createBrokerMessage}, once per process.
 *
 * A channel asks for `replay` only after `subscribe` has resolved, so every event is in the
 * live feed, the replay, or both; it drops the duplicates by id. Channel names reach a broker
 * checked ({@link checkChannelName}); a broker called directly checks them too.
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
  /**
   * The messages of `channel` after `lastEventId` that history holds, in pages read on demand,
   * and whether any are missing. Called once per resuming client, so it must not read the
   * whole history up front.
   */
  replay(channel: string, lastEventId: string, options?: ReplayOptions): Promise<Replay>;
  /**
   * An id that stands for the end of `channel`'s history now: `replay` after it gives what is
   * published from then on, with no gap, even if nothing had been published before. A stream
   * that follows many channels starts each at it, so that a channel which sent it nothing
   * before a reconnect still resumes without loss. A broker without it makes such a channel
   * resume with a gap.
   */
  newestId?(channel: string): Promise<string>;
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
  readonly idempotencyKey: string | undefined;
}

interface ChannelState {
  /** Random, per channel state: ids of a channel released and made again never match. */
  readonly epoch: string;
  /** The `n` of the last id given as `<epoch>-<n>`. */
  seq: number;
  readonly history: Retained[];
  /** The idempotency keys of the events in history. */
  readonly keys: Map<string, BrokerMessage>;
  readonly listeners: Set<(message: BrokerMessage) => void>;
}

/** An epoch nobody can read anything from: random, not a time. */
function randomEpoch(): string {
  const [a = 0, b = 0] = crypto.getRandomValues(new Uint32Array(2));
  return a.toString(36) + b.toString(36);
}

/**
 * The default {@link Broker}: one process, history in memory. Ids are `<epoch>-<n>`, with
 * `n` counting the events of that channel alone (a subscriber of one channel learns nothing
 * of another's traffic) and a random epoch per channel, made anew when a channel is released
 * and made again, so that no id is ever given twice and an id from before a restart reads as
 * unknown instead of matching a different event.
 */
export class MemoryBroker implements Broker {
  readonly #size: number;
  readonly #maxAge: number;
  readonly #channels = new Map<string, ChannelState>();
  /** Deliveries not yet made: a publish from inside a listener waits for the one under way. */
  readonly #outbox: [ChannelState, BrokerMessage][] = [];
  readonly #sweeper: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  /**
   * @param options - `history`: how much each channel keeps (default 1 000 events, no age limit).
   * @throws {@link SseError} `INVALID_OPTION` for a history size or age that is not one.
   */
  constructor(options: { history?: HistoryOptions } = {}) {
    const { size, maxAge } = checkHistoryOptions(options.history);
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
    checkChannelName(channel);
    if (this.#closed) return Promise.reject(new SseError('REGISTRY_CLOSED', 'the broker is closed.'));
    const state = this.#state(channel);
    const { idempotencyKey } = event;
    if (idempotencyKey !== undefined) {
      checkIdempotencyKey(idempotencyKey);
      this.#prune(state);
      const stored = state.keys.get(idempotencyKey);
      if (stored) return Promise.resolve(stored.id);
    }
    const message = createBrokerMessage(event.id ?? `${state.epoch}-${++state.seq}`, event.event, event.data);
    if (this.#size > 0) {
      state.history.push({ message, at: Date.now(), idempotencyKey });
      if (idempotencyKey !== undefined) state.keys.set(idempotencyKey, message);
      if (state.history.length > this.#size) this.#forget(state, state.history.shift());
    }
    this.#outbox.push([state, message]);
    if (this.#outbox.length === 1) this.#deliver();
    this.#release(channel, state);
    return Promise.resolve(message.id);
  }

  subscribe(channel: string, listener: (message: BrokerMessage) => void): Promise<() => void> {
    checkChannelName(channel);
    if (this.#closed) return Promise.resolve(() => {});
    const state = this.#state(channel);
    state.listeners.add(listener);
    return Promise.resolve(() => {
      state.listeners.delete(listener);
      this.#release(channel, state);
    });
  }

  replay(channel: string, lastEventId: string): Promise<Replay> {
    checkChannelName(channel);
    const state = this.#channels.get(channel);
    const history = state ? this.#prune(state) : [];
    // From the newest: an app that reuses an id means its latest use.
    const index = history.findLastIndex(({ message }) => message.id === lastEventId);
    if (index >= 0) return Promise.resolve({ pages: onePage(history.slice(index + 1).map((r) => r.message)) });
    // An id this channel gave that history no longer holds is older than all it holds; only
    // when the oldest held is the very next one is nothing missing.
    // `0` is from before the channel had any state (see newestId): all it has since is new.
    if (!state && lastEventId === '0') return Promise.resolve({ pages: NO_PAGES });
    const n = state ? this.#gave(state, lastEventId) : -1;
    if (state && n >= 0) {
      const pages = onePage(history.map((r) => r.message));
      const next = n === state.seq || history[0]?.message.id === `${state.epoch}-${n + 1}`;
      return Promise.resolve(next ? { pages } : { gap: 'expired', pages });
    }
    return Promise.resolve({ gap: 'unknown', pages: NO_PAGES });
  }

  /**
   * `<epoch>-<n>` of the channel's last event; `0` when it has no state (nothing published and
   * nobody listening), which replays whatever the channel gets from then on.
   */
  newestId(channel: string): Promise<string> {
    checkChannelName(channel);
    const state = this.#channels.get(channel);
    return Promise.resolve(state ? `${state.epoch}-${state.seq}` : '0');
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

  /**
   * The `n` of `id` when this channel state gave it (`<epoch>-<n>`, n from 1 to seq, or 0 for
   * its start, see {@link newestId}); `0` also for `0`, from before any state; else -1.
   */
  #gave(state: ChannelState, id: string): number {
    if (id === '0') return 0;
    if (!id.startsWith(`${state.epoch}-`)) return -1;
    const n = id.slice(state.epoch.length + 1);
    return /^(0|[1-9]\d{0,15})$/.test(n) && Number(n) <= state.seq ? Number(n) : -1;
  }

  #state(channel: string): ChannelState {
    let state = this.#channels.get(channel);
    if (!state) {
      state = { epoch: randomEpoch(), seq: 0, history: [], keys: new Map(), listeners: new Set() };
      this.#channels.set(channel, state);
    }
    return state;
  }

  #prune(state: ChannelState): Retained[] {
    const oldest = Date.now() - this.#maxAge;
    let expired = 0;
    while (expired < state.history.length && (state.history[expired] as Retained).at < oldest) expired++;
    for (const retained of state.history.splice(0, expired)) this.#forget(state, retained);
    return state.history;
  }

  /** Drops the idempotency key of an event leaving history. */
  #forget(state: ChannelState, retained: Retained | undefined): void {
    if (retained?.idempotencyKey !== undefined && state.keys.get(retained.idempotencyKey) === retained.message) {
      state.keys.delete(retained.idempotencyKey);
    }
  }

  #release(channel: string, state: ChannelState): void {
    if (state.listeners.size === 0 && this.#prune(state).length === 0) this.#channels.delete(channel);
  }
}
