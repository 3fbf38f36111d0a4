import {
  type Broker,
  type BrokerEvent,
  type BrokerMessage,
  checkChannelName,
  checkHistoryOptions,
  checkIdempotencyKey,
  createBrokerMessage,
  type HistoryOptions,
  type Replay,
  type ReplayOptions,
  SseError,
} from '@ssekit/core';
import { PROTOCOL_PATH, type PublishRequest, parseId, type ReplayPage, type WireMessage } from './protocol.js';
import type { DurableObjectNamespaceLike, DurableObjectStubLike, WorkersWebSocket } from './workers.js';

/** Options of {@link DurableObjectBroker}. */
export interface DurableObjectBrokerOptions {
  /**
   * How much of each channel's history its object keeps in storage: `size` (default 1 000,
   * at least 1) and `maxAge` in ms, checked as for `MemoryBroker`
   * ({@link @ssekit/core!checkHistoryOptions}). Applied at each publish and replay.
   */
  history?: HistoryOptions;
  /**
   * Prefix of the object names, one object per channel (`idFromName(prefix + channel)`).
   * Default `''`. It is prepended as it is, so apps that share a namespace keep apart by
   * prefixes none of which starts another (`chat/` and `feed/`, not `app` and `app1`); an app
   * with no prefix reaches every object of the namespace.
   */
  prefix?: string;
}

/** A stopped link whose object is asked to close it: see `#askToUnlink`. */
interface Unlinking {
  readonly channel: string;
  /** When it was last asked (epoch ms), and how many times. */
  askedAt: number;
  asked: number;
}

/** Least time between two asks to close one link, and most asks. */
const UNLINK_EVERY_MS = 1_000;
const UNLINK_ATTEMPTS = 5;

/** The host of the URLs the broker fetches; an object's stub ignores it. */
const ORIGIN = 'https://ssekit.channel';

function unavailable(action: string, channel: string, cause?: unknown): SseError {
  return new SseError('BROKER_UNAVAILABLE', `cannot ${action} channel "${channel}" on its Durable Object.`, { cause });
}

function toMessage([id, event, data]: WireMessage): BrokerMessage {
  return createBrokerMessage(id, event ?? undefined, data);
}

/**
 * A {@link @ssekit/core!Broker} on Cloudflare Durable Objects: one {@link ChannelObject} per
 * channel keeps its history in SQLite and gives its ids, so every isolate of every Worker
 * bound to the namespace sees one order, and a client resumes on any of them.
 *
 * An isolate's streams of a channel share one link to its object (the registry subscribes
 * once per channel): a hibernatable WebSocket, so that the object sleeps between publishes
 * however many isolates follow it. Ids are `<epoch>-<n>`, `n` counting the channel's events.
 *
 * @example
 * import { env } from 'cloudflare:workers';
 * export { ChannelObject } from '@ssekit/cloudflare';
 * const registry = new ChannelRegistry({ broker: new DurableObjectBroker(env.CHANNELS) });
 */
export class DurableObjectBroker implements Broker {
  readonly #namespace: DurableObjectNamespaceLike;
  readonly #prefix: string;
  readonly #size: number;
  readonly #maxAge: number | undefined;
  /** Links open now, each with the function that closes it: closed with the broker. */
  readonly #links = new Map<WorkersWebSocket, () => void>();
  /** Stopped links, by tag, that their objects have not closed yet. */
  readonly #unlinking = new Map<string, Unlinking>();
  #closed = false;

  /**
   * @param namespace - the binding of a namespace whose class is {@link ChannelObject}.
   * @throws {@link @ssekit/core!SseError} `INVALID_OPTION` for a history size below 1 or an
   * invalid `maxAge`.
   */
  constructor(namespace: DurableObjectNamespaceLike, options: DurableObjectBrokerOptions = {}) {
    const { size, maxAge } = checkHistoryOptions(options.history, {
      minSize: 1,
      reason: 'a channel object replays from its history',
    });
    this.#namespace = namespace;
    this.#prefix = options.prefix ?? '';
    this.#size = size;
    this.#maxAge = maxAge;
  }

  /**
   * Stores the event in the channel's object; resolves with its id once stored. With an
   * `idempotencyKey` whose event history still holds, stores nothing and resolves with that
   * event's id.
   *
   * @throws {@link @ssekit/core!SseError} `BROKER_UNAVAILABLE` when the object cannot be
   * reached or is overloaded (the event may have been stored: retry with the same
   * `idempotencyKey`); `INVALID_OPTION` for an app-chosen `id` (objects give ids, one order
   * per channel); `INVALID_CHANNEL` for a name that is not well-formed Unicode.
   */
  async publish(channel: string, event: BrokerEvent): Promise<string> {
    this.#checkOpen();
    if (event.id !== undefined) {
      throw new SseError(
        'INVALID_OPTION',
        `DurableObjectBroker assigns event ids (one order per channel, kept by its object); publish without an id (got "${event.id}").`,
      );
    }
    checkChannelName(channel);
    if (event.idempotencyKey !== undefined) checkIdempotencyKey(event.idempotencyKey);
    const body: PublishRequest = {
      event: event.event,
      data: event.data,
      idempotencyKey: event.idempotencyKey,
      size: this.#size,
      maxAge: this.#maxAge,
    };
    const { id } = await this.#call<{ id: string }>('publish', channel, 'publish', {
      method: 'POST',
      body: JSON.stringify(body),
    });
    return id;
  }

  /**
   * Opens a link to the channel's object; resolves once the object has accepted it, from when
   * every event it stores reaches `listener`. The link closes when the returned function is
   * called; `onLost` is called if it closes otherwise (the object was reset or moved), so that
   * the channel's streams resume through `replay`.
   */
  async subscribe(
    channel: string,
    listener: (message: BrokerMessage) => void,
    onLost?: () => void,
  ): Promise<() => void> {
    checkChannelName(channel);
    if (this.#closed) return () => {};
    let response: Response;
    const tag = crypto.randomUUID();
    try {
      response = await this.#stub(channel).fetch(`${ORIGIN}${PROTOCOL_PATH}/subscribe?link=${tag}`, {
        headers: { Upgrade: 'websocket' },
      });
    } catch (cause) {
      throw unavailable('subscribe to', channel, cause);
    }
    const link = (response as Response & { webSocket?: WorkersWebSocket | null }).webSocket;
    if (!link) throw unavailable('subscribe to', channel, new Error(`answered ${response.status}`));
    try {
      link.accept();
    } catch (cause) {
      throw unavailable('subscribe to', channel, cause);
    }
    let open = true;
    const stop = (): void => {
      if (!open) return;
      open = false;
      this.#links.delete(link);
      this.#unlink(channel, link, tag);
    };
    link.addEventListener('message', ({ data }) => {
      if (open) {
        if (typeof data === 'string') listener(toMessage(JSON.parse(data) as WireMessage));
        return;
      }
      // A link stopped from a request that could not close it: this event runs as its own.
      try {
        link.close(1000, 'unsubscribed');
      } catch {
        // closed meanwhile
      }
    });
    const lost = (): void => {
      if (!open) return;
      open = false;
      this.#links.delete(link);
      onLost?.();
    };
    link.addEventListener('close', lost);
    link.addEventListener('error', lost);
    this.#links.set(link, stop);
    if (this.#closed) stop();
    return stop;
  }

  /** History after `lastEventId`, read from the channel's object a page at a time. */
  async replay(channel: string, lastEventId: string, options: ReplayOptions = {}): Promise<Replay> {
    checkChannelName(channel);
    this.#checkOpen();
    const pageBytes = String(options.pageBytes ?? 262_144);
    const read = (after: string, first: boolean) => {
      const params = new URLSearchParams({ after, pageBytes, first: first ? '1' : '0' });
      if (this.#maxAge !== undefined) params.set('maxAge', String(this.#maxAge));
      return this.#call<ReplayPage>('replay', channel, `replay?${params}`);
    };
    const firstPage = await read(lastEventId, true);
    const pages = async function* (): AsyncGenerator<readonly BrokerMessage[]> {
      let page = firstPage;
      for (;;) {
        if (page.overtaken) {
          throw new SseError('REPLAY_OVERTAKEN', `history of channel "${channel}" moved past this replay.`);
        }
        const messages = page.messages.map(toMessage);
        if (messages.length > 0) yield messages;
        const last = messages.at(-1);
        if (!page.more || !last) return;
        page = await read(last.id, false);
      }
    };
    return firstPage.gap ? { gap: firstPage.gap, pages: pages() } : { pages: pages() };
  }

  /** The id of the channel's newest event (`0` before the first: replay after it gives them all). */
  async newestId(channel: string): Promise<string> {
    checkChannelName(channel);
    this.#checkOpen();
    return (await this.#call<{ id: string }>('read', channel, 'newest')).id;
  }

  /** Orders two ids of one channel by their `n`; ids of other epochs by epoch, then `n`. */
  compareIds(a: string, b: string): number {
    const x = parseId(a);
    const y = parseId(b);
    if (!x || !y) return x ? 1 : y ? -1 : a < b ? -1 : a > b ? 1 : 0;
    if (x.epoch !== y.epoch) return x.epoch < y.epoch ? -1 : 1;
    return x.n - y.n;
  }

  /** Closes the links this broker opened; later publishes and replays reject. */
  close(): Promise<void> {
    this.#closed = true;
    for (const stop of [...this.#links.values()]) stop();
    return Promise.resolve();
  }

  /**
   * Closes a link. Only the request that opened it may (Workers lets no request use another's
   * I/O), and a link outlives that request, serving the streams of later ones: from any other,
   * the object is asked to close its end.
   */
  #unlink(channel: string, link: WorkersWebSocket, tag: string): void {
    try {
      link.close(1000, 'unsubscribed');
    } catch {
      const unlinking: Unlinking = { channel, askedAt: 0, asked: 0 };
      this.#unlinking.set(tag, unlinking);
      this.#askToUnlink(tag, unlinking);
    }
  }

  /**
   * Asks the object to close a link that was stopped from a request that could not close it.
   * That request is often a stream's whose client left, which can no longer reach anything, so
   * each later request that uses the broker asks again, at most every few seconds and a few
   * times in all (a link's next event closes it too, whoever asked).
   */
  #askToUnlink(tag: string, unlinking: Unlinking): void {
    if (unlinking.asked >= UNLINK_ATTEMPTS) {
      this.#unlinking.delete(tag);
      return;
    }
    unlinking.asked++;
    unlinking.askedAt = Date.now();
    this.#object(unlinking.channel)
      .fetch(`${ORIGIN}${PROTOCOL_PATH}/unlink?link=${tag}`)
      .then(async (response) => {
        await response.body?.cancel();
        // 404: an object of another release, which cannot do it; its next event will.
        if (response.ok || response.status === 404) this.#unlinking.delete(tag);
      })
      .catch(() => {});
  }

  #checkOpen(): void {
    if (this.#closed) throw new SseError('REGISTRY_CLOSED', 'the broker is closed.');
  }

  /** The stub of the channel's object, for a request of this broker: see {@link #askToUnlink}. */
  #stub(channel: string): DurableObjectStubLike {
    const due = Date.now() - UNLINK_EVERY_MS;
    for (const [tag, unlinking] of this.#unlinking) {
      if (unlinking.askedAt <= due) this.#askToUnlink(tag, unlinking);
    }
    return this.#object(channel);
  }

  #object(channel: string): DurableObjectStubLike {
    const namespace = this.#namespace;
    return namespace.get(namespace.idFromName(this.#prefix + channel) as never);
  }

  async #call<T>(action: string, channel: string, path: string, init?: RequestInit): Promise<T> {
    let response: Response;
    try {
      response = await this.#stub(channel).fetch(`${ORIGIN}${PROTOCOL_PATH}/${path}`, init);
    } catch (cause) {
      // Unreachable, overloaded, reset: the runtime's own error says which.
      throw unavailable(action, channel, cause);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      throw unavailable(action, channel, new Error(`answered ${response.status}: ${text.slice(0, 200)}`));
    }
    try {
      return (await response.json()) as T;
    } catch (cause) {
      throw unavailable(action, channel, cause); // cut off while read
    }
  }
}
