/**
 * A browser client for the `channels()` routes of `@ssekit/express`, `@ssekit/koa` and
 * `@ssekit/hono`: many channels over one `EventSource`, changed by subscribe calls, and
 * reconciled after every reconnect. Web APIs only, no dependencies.
 *
 * @packageDocumentation
 */

/** A channel's events, by event name → data, as the server's `registry.channel<Events>()` (`message` when unnamed). */
export type EventMap = Record<string, unknown>;

/** One event of a channel: a union over the event names, so that checking `event` narrows `data`. */
export type ChannelEvent<
  Events extends object = EventMap,
  Name extends keyof Events & string = keyof Events & string,
> = {
  [Event in Name]: {
    /** The channel it was published to. */
    channel: string;
    /** Its event name; `message` for an event published without one. */
    event: Event;
    /** Its data, as {@link ChannelsClientOptions.parse} made it (JSON-parsed by default). */
    data: Events[Event];
    /** The stream's resume cursor after this event: opaque. */
    id: string;
  };
}[Name];

/** A channel whose history could not cover a resume: events were lost, reload what it shows. */
export interface ChannelGap {
  channel: string;
  /** The cursor the client resumed from. */
  lastEventId: string;
  /** `expired`: history no longer holds what was missed; `unknown`: the server cannot place the cursor. */
  reason: 'expired' | 'unknown';
}

/** A channel the server would not follow, with its status: 401 not signed in, 403 forbidden, 413 too many channels, 400 invalid name. */
export interface ChannelRefusal {
  channel: string;
  status: 400 | 401 | 403 | 413;
}

/** Options of {@link ChannelsClient}. */
export interface ChannelsClientOptions {
  /** The stream route (`app.get('/events', feed.events)`), absolute or relative to the page. */
  url: string | URL;
  /** The subscribe route. Default: `url` with `/subscriptions` added to its path. */
  subscriptions?: string | URL;
  /** Send cookies to another origin, on the stream and on subscribe calls. Default `false`. */
  withCredentials?: boolean;
  /**
   * Turns an event's data (the text after its channel line) into what handlers get. Default
   * `JSON.parse`, the server's default serializer; the server sends a published string as it
   * is, so a channel of plain strings needs `parse: (text) => text`.
   */
  parse?: (data: string, event: string) => unknown;
  /** Told once each time a channel is refused; a refused channel is asked for again only by a new `subscribe`. */
  onRefused?: (refusal: ChannelRefusal) => void;
  /** The `EventSource` class. Default: the global one (pass e.g. the `eventsource` package's in Node). */
  EventSource?: typeof EventSource;
  /** Makes the subscribe calls; wrap it to add headers. Default: the global `fetch`. */
  fetch?: typeof fetch;
}

/** Options of {@link ChannelsClient.subscribe}. */
export interface SubscribeOptions<Event extends string = string> {
  /** The event names the handler gets. Default `['message']` (events published without a name). */
  events?: readonly Event[];
  /**
   * Called each time the server starts following this channel from now, with nothing
   * replayed: when the stream opens, when a subscribe call adds it, after a reconnect that
   * could not resume it, and at once for a channel already followed. Load what the page shows
   * of the channel then; an event may arrive just before, so merge what is loaded.
   */
  onFollow?: (channel: string) => void;
  /** Called when a resume lost events of this channel (an `ssekit-gap`): reload what it shows. */
  onGap?: (gap: ChannelGap) => void;
}

type EventsOf<Channels, Name extends keyof Channels> = Channels[Name] extends object ? Channels[Name] : never;
type EventNameOf<Events> = keyof Events & string;

interface Subscription {
  handler: (event: ChannelEvent) => void;
  events: readonly string[];
  onFollow: ((channel: string) => void) | undefined;
  onGap: ((gap: ChannelGap) => void) | undefined;
}

const STREAM_EVENT = 'ssekit-stream';
const CHANNELS_EVENT = 'ssekit-channels';
const GAP_EVENT = 'ssekit-gap';
// EventSource.CLOSED, from no global: the EventSource given may not be the global one.
const CLOSED = 2;

/** Splits an event's data into its channel (the first line) and the rest. */
function splitChannel(data: string): [channel: string, rest: string] {
  const cut = data.indexOf('\n');
  return cut === -1 ? [data, ''] : [data.slice(0, cut), data.slice(cut + 1)];
}

/** Calls an app's callback: what it throws is reported as uncaught, and the client carries on. */
function callSafely<Args extends unknown[]>(callback: ((...args: Args) => void) | undefined, ...args: Args): void {
  try {
    callback?.(...args);
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

/**
 * Follows many channels over one `EventSource`. The connection opens at the first
 * `subscribe`, asking for every channel subscribed in that same task; later changes become
 * subscribe calls naming the stream, coalesced and sent in turn. After each (re)connection
 * the server names a new stream, and the client subscribes what it wants but the stream lacks
 * and unsubscribes the rest. The connection closes when no channel is left.
 *
 * `Channels` maps channel names (template patterns welcome) to their event maps.
 *
 * @example
 * type RoomEvents = { message: { text: string }; joined: { user: string } };
 * const client = new ChannelsClient<{ [room: `room:${string}`]: RoomEvents }>({ url: '/events' });
 * const leave = client.subscribe('room:1', (e) => {
 *   if (e.event === 'joined') console.log(`${e.data.user} joined`);
 *   else console.log(e.data.text);
 * }, { events: ['message', 'joined'], onGap: () => reloadRoom('room:1') });
 */
export class ChannelsClient<Channels extends object = Record<string, EventMap>> {
  readonly #options: ChannelsClientOptions;
  readonly #url: URL;
  readonly #subscriptions: URL;
  /** The channels the app subscribed, with their handlers. */
  readonly #wanted = new Map<string, Set<Subscription>>();
  readonly #refused = new Set<string>();
  /** Event names the connection has listeners for; kept for the next connection. */
  readonly #listening = new Set<string>();
  /** The channels the server's stream follows, as far as the client knows. */
  #following = new Set<string>();
  #source: EventSource | undefined;
  /** The id subscribe calls name: unset until the stream announces it, and when it is gone. */
  #stream: string | undefined;
  /** Whether this EventSource got an event id: without one, a reconnect resumes nothing. */
  #hasCursor = false;
  /** The id of the last `ssekit-channels` event: the server sends one per change. */
  #lastChange: string | undefined;
  /**
   * The cursor a call answered with, while the `ssekit-channels` event that carries it has
   * not arrived: a drop before it would resume the channels as they were before the call.
   */
  #answered: string | undefined;
  #calling = false;
  #scheduled = false;

  constructor(options: ChannelsClientOptions) {
    this.#options = options;
    this.#url = new URL(options.url, globalThis.location?.href);
    this.#subscriptions = new URL(options.subscriptions ?? this.#url, globalThis.location?.href);
    if (options.subscriptions === undefined) this.#subscriptions.pathname += '/subscriptions';
  }

  /**
   * Calls `handler` with each event of `channel` named in `options.events` (default
   * `message`). Subscribing again to a refused channel asks for it again.
   *
   * @returns a function that removes this handler.
   */
  subscribe<
    Name extends keyof Channels & string,
    Event extends EventNameOf<EventsOf<Channels, Name>> = Extract<'message', EventNameOf<EventsOf<Channels, Name>>>,
  >(
    channel: Name,
    handler: (event: ChannelEvent<EventsOf<Channels, Name>, Event>) => void,
    options: SubscribeOptions<Event> = {},
  ): () => void {
    const subscription: Subscription = {
      handler: handler as (event: ChannelEvent) => void,
      events: options.events ?? ['message'],
      onFollow: options.onFollow,
      onGap: options.onGap,
    };
    const subscriptions = this.#wanted.get(channel) ?? new Set<Subscription>();
    this.#wanted.set(channel, subscriptions.add(subscription));
    this.#refused.delete(channel);
    for (const event of subscription.events) this.#listen(event);
    // Its events flow already; this handler has seen none of them.
    if (this.#following.has(channel)) queueMicrotask(() => callSafely(subscription.onFollow, channel));
    this.#schedule();
    return () => this.#remove(channel, (other) => other === subscription);
  }

  /** Removes `handler` from `channel`, or every handler of it when none is given. */
  unsubscribe(channel: keyof Channels & string, handler?: (event: never) => void): void {
    this.#remove(channel, (subscription) => handler === undefined || subscription.handler === handler);
  }

  /**
   * The connection's state, as `EventSource.readyState`: 0 connecting (or reconnecting), 1
   * open, 2 closed (no channel subscribed, or the server refused the connection).
   */
  get readyState(): number {
    return this.#source?.readyState ?? CLOSED;
  }

  /** Removes every handler and closes the connection; a later `subscribe` opens a new one. */
  close(): void {
    this.#wanted.clear();
    this.#refused.clear();
    this.#disconnect();
  }

  #remove(channel: string, matches: (subscription: Subscription) => boolean): void {
    const subscriptions = this.#wanted.get(channel);
    if (!subscriptions) return;
    for (const subscription of subscriptions) if (matches(subscription)) subscriptions.delete(subscription);
    if (subscriptions.size > 0) return;
    this.#wanted.delete(channel);
    this.#refused.delete(channel);
    this.#schedule();
  }

  #listen(event: string): void {
    if (this.#listening.has(event)) return;
    this.#listening.add(event);
    this.#source?.addEventListener(event, this.#onEvent);
  }

  // Changes made in one task (a page subscribing to five rooms) go out together.
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#sync();
    });
  }

  /** Brings the connection and the stream's channels to what the app wants. */
  #sync(): void {
    const wanted = [...this.#wanted.keys()].filter((channel) => !this.#refused.has(channel));
    if (wanted.length === 0) this.#disconnect();
    else if (!this.#source) this.#connect(wanted);
    else if (this.#stream !== undefined && !this.#calling) {
      const subscribe = wanted.filter((channel) => !this.#following.has(channel));
      const unsubscribe = [...this.#following].filter((channel) => !this.#wanted.has(channel));
      if (subscribe.length > 0 || unsubscribe.length > 0) void this.#call(this.#stream, subscribe, unsubscribe);
    }
  }

  #connect(channels: string[], lastEventId?: string): void {
    const url = new URL(this.#url);
    url.searchParams.set('channels', channels.join(','));
    if (lastEventId) url.searchParams.set('lastEventId', lastEventId);
    const Source = this.#options.EventSource ?? EventSource;
    const source = new Source(url, { withCredentials: this.#options.withCredentials ?? false });
    this.#source = source;
    this.#hasCursor = Boolean(lastEventId);
    source.addEventListener(STREAM_EVENT, this.#onStream);
    source.addEventListener(CHANNELS_EVENT, this.#onChange);
    source.addEventListener(GAP_EVENT, this.#onGap);
    source.addEventListener('error', this.#onError);
    for (const event of this.#listening) source.addEventListener(event, this.#onEvent);
  }

  #disconnect(): void {
    this.#source?.close();
    this.#source = undefined;
    this.#stream = undefined;
    this.#following = new Set();
    this.#answered = undefined;
  }

  async #call(stream: string, subscribe: string[], unsubscribe: string[]): Promise<void> {
    this.#calling = true;
    let done = false;
    try {
      const response = await (this.#options.fetch ?? fetch)(this.#subscriptions, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ stream, subscribe, unsubscribe }),
        credentials: this.#options.withCredentials ? 'include' : 'same-origin',
      });
      if (response.ok && this.#stream === stream) {
        const change = (await response.json()) as {
          subscribed: string[];
          unsubscribed: string[];
          refused: ChannelRefusal[];
          cursor?: string;
        };
        if (change.cursor && change.cursor !== this.#lastChange) this.#answered = change.cursor;
        const fresh = change.subscribed.filter((channel) => !this.#following.has(channel));
        for (const channel of change.subscribed) this.#following.add(channel);
        for (const channel of change.unsubscribed) this.#following.delete(channel);
        this.#followed(fresh);
        this.#refuse(change.refused);
        done = true;
      }
    } catch {
      // A network error: as a 404, below.
    } finally {
      this.#calling = false;
    }
    // 404 (the stream reconnected under a new id), 503, a network error: asking again now
    // could loop, so wait for the next `ssekit-stream`, whose reconciliation covers this.
    if (!done && this.#stream === stream) this.#stream = undefined;
    this.#schedule();
  }

  #followed(channels: string[]): void {
    for (const channel of channels) {
      for (const { onFollow } of this.#wanted.get(channel) ?? []) callSafely(onFollow, channel);
    }
  }

  #refuse(refusals: ChannelRefusal[]): void {
    for (const refusal of refusals) {
      if (!this.#wanted.has(refusal.channel) || this.#refused.has(refusal.channel)) continue;
      this.#refused.add(refusal.channel);
      callSafely(this.#options.onRefused, refusal);
    }
  }

  readonly #onStream = (message: MessageEvent<string>): void => {
    const opened = JSON.parse(message.data) as { stream: string; channels: string[]; refused: ChannelRefusal[] };
    // A channel the last stream followed was resumed from the cursor the browser sent back (or
    // gets a gap); the others start from now, and so do all when no event brought a cursor.
    const resumed = this.#hasCursor ? this.#following : new Set<string>();
    const fresh = opened.channels.filter((channel) => !resumed.has(channel));
    this.#stream = opened.stream;
    this.#following = new Set(opened.channels);
    // Its id is the new stream's cursor already.
    if (message.lastEventId) this.#hasCursor = true;
    this.#answered = undefined;
    for (const channel of opened.channels) this.#refused.delete(channel);
    this.#schedule();
    this.#followed(fresh);
    this.#refuse(opened.refused);
  };

  readonly #onGap = (message: MessageEvent<string>): void => {
    const [channel, rest] = splitChannel(message.data);
    const { lastEventId, reason } = JSON.parse(rest) as ChannelGap;
    for (const { onGap } of this.#wanted.get(channel) ?? []) callSafely(onGap, { channel, lastEventId, reason });
  };

  readonly #onChange = (message: MessageEvent<string>): void => {
    this.#lastChange = message.lastEventId;
    if (message.lastEventId === this.#answered) this.#answered = undefined;
  };

  readonly #onError = (): void => {
    const answered = this.#answered;
    if (answered && this.#source) {
      // The browser would resume from the cursor it has, from before the last change: open
      // anew from the cursor the call answered with instead.
      this.#source.close();
      this.#source = undefined;
      this.#connect([...this.#following], answered);
      this.#answered = undefined;
    }
    // The EventSource reconnects by itself, and the server will name a new stream.
    this.#stream = undefined;
    // A non-200 answer ends it for good: the next change opens a new connection.
    if (this.#source?.readyState === CLOSED) this.#disconnect();
  };

  readonly #onEvent = (message: MessageEvent<string>): void => {
    if (message.lastEventId) this.#hasCursor = true;
    const [channel, rest] = splitChannel(message.data);
    const receivers = [...(this.#wanted.get(channel) ?? [])].filter(({ events }) => events.includes(message.type));
    if (receivers.length === 0) return;
    const data = this.#options.parse ? this.#options.parse(rest, message.type) : JSON.parse(rest);
    const event = { channel, event: message.type, data, id: message.lastEventId };
    for (const { handler } of receivers) callSafely(handler, event);
  };
}
