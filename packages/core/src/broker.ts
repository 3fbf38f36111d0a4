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
 */
export interface Broker {
  /** Stores `event` in `channel`'s history, delivers it to the channel's listeners, and resolves with its id. */
  publish(channel: string, event: BrokerEvent): Promise<string>;
  /** Delivers every later message of `channel` to `listener`, in order; returns a function that stops it. */
  subscribe(channel: string, listener: (message: BrokerMessage) => void): () => void;
  /** The messages of `channel` after `lastEventId`, in order, or why there are none to give. */
  replay(channel: string, lastEventId: string): Promise<Replay>;
  /** Whether `channel` holds history that a reconnecting client may still need. */
  retains(channel: string): boolean;
  /** Stops delivering and releases connections and timers. Harmless when already closed. */
  close(): Promise<void>;
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
  #seq = 0;
  #closed = false;

  /** @param options - `history`: how much each channel keeps (default 1 000 events, no age limit). */
  constructor(options: { history?: HistoryOptions } = {}) {
    this.#size = options.history?.size ?? 1000;
    this.#maxAge = options.history?.maxAge ?? Number.POSITIVE_INFINITY;
  }

  publish(channel: string, event: BrokerEvent): Promise<string> {
    if (this.#closed) return Promise.reject(new Error('[ssekit] the broker is closed'));
    const state = this.#state(channel);
    const message = createBrokerMessage(event.id ?? `${this.#epoch}-${++this.#seq}`, event.event, event.data);
    if (this.#size > 0) {
      state.history.push({ message, at: Date.now() });
      if (state.history.length > this.#size) state.history.shift();
    }
    for (const listener of state.listeners) listener(message);
    this.#release(channel, state);
    return Promise.resolve(message.id);
  }

  subscribe(channel: string, listener: (message: BrokerMessage) => void): () => void {
    const state = this.#state(channel);
    state.listeners.add(listener);
    return () => {
      state.listeners.delete(listener);
      this.#release(channel, state);
    };
  }

  replay(channel: string, lastEventId: string): Promise<Replay> {
    const history = this.#prune(this.#channels.get(channel));
    const index = history.findIndex(({ message }) => message.id === lastEventId);
    if (index >= 0) return Promise.resolve({ found: true, messages: history.slice(index + 1).map((r) => r.message) });
    return Promise.resolve({ found: false, reason: this.#wasHere(lastEventId) ? 'expired' : 'unknown' });
  }

  retains(channel: string): boolean {
    return this.#prune(this.#channels.get(channel)).length > 0;
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#channels.clear();
    return Promise.resolve();
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
