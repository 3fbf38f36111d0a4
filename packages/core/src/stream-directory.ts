import { type BrokerMessage, MemoryBroker } from './broker.js';
import { brokerOf, type ChannelRegistry, RELAY_CHANNEL } from './channel.js';

/** A change to the channels of one open stream, already authorized by the call that asked. */
export interface StreamChange {
  subscribe: string[];
  unsubscribe: string[];
}

/** What a subscribe call did: the channels now followed and left, and those refused, with why. */
export interface ChannelsChange {
  subscribed: string[];
  unsubscribed: string[];
  refused: { channel: string; status: 401 | 403 | 413 | 400 }[];
  /**
   * The cursor of the last `ssekit-channels` event this call made the stream send (none when
   * it changed nothing): a client whose connection dropped before that event arrived resumes
   * from this one (`?lastEventId=`), or loses the change.
   */
  cursor?: string | undefined;
}

/** Applies a change to a stream of this instance; `undefined` when the stream has ended. */
type ApplyChange = (change: StreamChange) => Promise<ChannelsChange | undefined>;

/** `value` if it is an array of strings. */
export const stringsOf = (value: unknown): string[] | undefined =>
  Array.isArray(value) && value.every((item) => typeof item === 'string') ? value : undefined;

/**
 * The open streams of many channels of one registry, by id, and the way to change one held by
 * another instance: a change asked of an instance that does not hold the stream goes out on
 * {@link RELAY_CHANNEL} through the registry's broker (`ask`); the instance that holds it
 * applies it and publishes the result (`answer`). Each instance follows the relay only while it
 * holds streams or waits for an answer. With a {@link MemoryBroker} there is no other instance
 * to ask.
 */
class StreamDirectory {
  readonly #local = new Map<string, ApplyChange>();
  readonly #waiting = new Map<string, (result: ChannelsChange | undefined) => void>();
  readonly #registry: ChannelRegistry;
  #users = 0;
  #relay: Promise<() => void> | undefined;

  constructor(registry: ChannelRegistry) {
    this.#registry = registry;
  }

  /**
   * Lists stream `id`, changed by `apply`, once the relay is live (so that no change asked of
   * another instance can miss it); the function it resolves with unlists it.
   */
  async list(id: string, apply: ApplyChange): Promise<() => void> {
    await this.#follow();
    this.#local.set(id, apply);
    return () => {
      if (this.#local.delete(id)) this.#leave();
    };
  }

  /**
   * Changes stream `id`, here or on the instance that holds it; resolves with `undefined` when
   * no instance answered within `timeout` ms (no such stream is open), or the stream ended
   * during the change.
   *
   * @throws {@link SseError} `BROKER_UNAVAILABLE` when the broker cannot carry the change.
   */
  async change(id: string, change: StreamChange, timeout: number): Promise<ChannelsChange | undefined> {
    const here = this.#local.get(id);
    if (here) return here(change);
    if (this.#alone) return undefined;
    const reply = crypto.randomUUID();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await this.#follow();
    try {
      const answered = new Promise<ChannelsChange | undefined>((resolve) => {
        this.#waiting.set(reply, resolve);
        timer = setTimeout(resolve, timeout, undefined);
      });
      await this.#broker.publish(RELAY_CHANNEL, {
        event: 'ask',
        data: JSON.stringify({ reply, stream: id, ...change }),
      });
      return await answered;
    } finally {
      clearTimeout(timer);
      this.#waiting.delete(reply);
      this.#leave();
    }
  }

  get #broker() {
    return brokerOf(this.#registry);
  }

  get #alone(): boolean {
    return this.#broker instanceof MemoryBroker;
  }

  async #follow(): Promise<void> {
    this.#users++;
    if (this.#alone) return;
    this.#relay ??= this.#broker.subscribe(RELAY_CHANNEL, (message) => this.#hear(message));
    try {
      await this.#relay;
    } catch (error) {
      this.#leave();
      throw error;
    }
  }

  #leave(): void {
    if (--this.#users > 0) return;
    const relay = this.#relay;
    this.#relay = undefined;
    relay?.then((stop) => stop()).catch(() => {});
  }

  #hear(message: BrokerMessage): void {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(message.data);
    } catch {
      return; // not ours: another version's, or someone else's publish
    }
    const { reply } = body;
    if (typeof reply !== 'string') return;
    if (message.event === 'answer') {
      // `null`: the stream ended while the change was applied.
      this.#waiting.get(reply)?.(changeOf(body.result));
      return;
    }
    const apply = typeof body.stream === 'string' ? this.#local.get(body.stream) : undefined;
    const subscribe = stringsOf(body.subscribe);
    const unsubscribe = stringsOf(body.unsubscribe);
    if (message.event !== 'ask' || !apply || !subscribe || !unsubscribe) return;
    apply({ subscribe, unsubscribe })
      .then((result) =>
        this.#broker.publish(RELAY_CHANNEL, { event: 'answer', data: JSON.stringify({ reply, result }) }),
      )
      // The asking instance then answers its caller that no stream answered: the client
      // resubscribes after its next reconnect, as it does for any change that did not land.
      .catch(() => {});
  }
}

/** A change as another instance answered it, if it has the shape of one. */
function changeOf(value: unknown): ChannelsChange | undefined {
  const { subscribed, unsubscribed, refused } = (value ?? {}) as Record<string, unknown>;
  return stringsOf(subscribed) && stringsOf(unsubscribed) && Array.isArray(refused)
    ? (value as ChannelsChange)
    : undefined;
}

const directories = new WeakMap<ChannelRegistry, StreamDirectory>();

/** The directory of the streams of many channels of `registry`: one per registry. */
export function directoryOf(registry: ChannelRegistry): StreamDirectory {
  let directory = directories.get(registry);
  if (!directory) {
    directory = new StreamDirectory(registry);
    directories.set(registry, directory);
  }
  return directory;
}
