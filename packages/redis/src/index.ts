/**
 * A Redis Streams broker, so that channels reach every instance of an app, in one order, with shared history.
 *
 * @module @ssekit/redis
 */
import { createClient, type ErrorReply, type RedisClientType, type RespVersions } from '@redis/client';
import {
  type Broker,
  type BrokerEvent,
  type BrokerMessage,
  checkChannelName,
  checkHistoryOptions,
  checkIdempotencyKey,
  createBrokerMessage,
  type HistoryOptions,
  isTimerDelay,
  type Replay,
  type ReplayOptions,
  SseError,
} from '@ssekit/core';

/** A client from `@redis/client` or `redis`, speaking RESP2 or RESP3 (`createClient({ RESP })`). */
// biome-ignore lint/complexity/noBannedTypes: `{}` is what @redis/client uses for "no modules, functions or scripts".
export type RedisBrokerClient = RedisClientType<{}, {}, {}, RespVersions>;

/** Options of {@link RedisBroker}. */
export interface RedisBrokerOptions {
  /** The Redis server, e.g. `redis://127.0.0.1:6379` (the default), when no `client` is given. */
  url?: string;
  /**
   * A client of the app's own, from `@redis/client` or `redis` (connected or not). The broker
   * uses it for publishing and replay and never closes it; its blocking reads go through a
   * duplicate, which the broker owns. Create it with `disableOfflineQueue: true` so that a
   * publish during an outage rejects at once instead of waiting for Redis to come back.
   */
  client?: RedisBrokerClient;
  /**
   * How much of each channel's stream Redis keeps: `size` (default 1 000, at least 1, since
   * the stream itself carries the events) and `maxAge` in ms, checked as for `MemoryBroker`
   * ({@link @ssekit/core!checkHistoryOptions}). Trimming is approximate
   * (`MAXLEN ~` / `MINID ~`): Redis may keep a few more.
   */
  history?: HistoryOptions;
  /**
   * Prefix of the Redis keys, one stream per channel (`prefix + name`). Default `ssekit:`.
   * Any well-formed string: with channel names well-formed too, the key's UTF-8 bytes tell the
   * name back, so no two channels share a stream.
   */
  prefix?: string;
  /**
   * Accept a server whose `maxmemory-policy` is `allkeys-*` (`allkeys-lru`, `allkeys-lfu`,
   * `allkeys-random`). Default `false`: `ready` rejects with `BROKER_UNAVAILABLE`.
   *
   * Dangerous: under memory pressure such a server deletes whole keys, the streams included,
   * after it acknowledged their events. Events published since this instance last read are
   * then gone for every instance, and a publish can get an id Redis had given before. Set
   * `maxmemory-policy noeviction` (a publish then fails, and says so, when memory is full) or a
   * `volatile-*` policy (which evicts only keys with a TTL; the broker's keys have none).
   */
  allowEviction?: boolean;
  /**
   * Milliseconds that Redis has to answer a command (default 3 000, from 1 to 2^31-1). A
   * publish or replay not answered in time rejects with `BROKER_UNAVAILABLE`: its outcome is
   * then unknown (Redis may still store the event), so retry it with the same
   * `idempotencyKey`.
   *
   * It also bounds how long a connection that stops answering (a paused server, a network that
   * drops packets) goes unnoticed: the blocking read must return within its block time (the
   * lesser of this and 5 000) plus this, and the broker's own command connection gets a `PING`
   * when idle. A connection that misses it is closed and opened again, and after the reader's,
   * every channel is told (`onLost`), so its streams end with a retry hint and the clients
   * resume, on another instance if this one cannot reach Redis. A `client` you pass is never
   * closed: the broker only stops waiting for it.
   */
  commandTimeout?: number;
}

interface ChannelFeed {
  readonly key: string;
  /** The id of the last message delivered here; the next read starts after it. */
  cursor: string;
  /** How many entries the stream had had up to `cursor`: events after it were trimmed when more were. */
  position: number;
  readonly listeners: Set<(message: BrokerMessage) => void>;
  readonly onLost: Set<() => void>;
}

/** Longest that one blocking read waits before the reader loop looks around again. */
const BLOCK_MS = 5_000;
const DEFAULT_COMMAND_TIMEOUT = 3_000;

/** What `within` rejects with: Redis did not answer in time. */
class NoAnswer extends Error {}

/** `promise`, or a rejection with {@link NoAnswer} once `ms` have passed without it settling. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NoAnswer(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
/** Most messages one read takes per channel; a full batch means the reader is behind. */
const READ_COUNT = 500;
/** Most entries one replay read takes, however small they are. */
const MAX_PAGE_COUNT = 1_000;
/** Bytes of a replay page when the channel does not say (the default `maxBufferedBytes`). */
const DEFAULT_PAGE_BYTES = 256 * 1024;
// Canonical, as Redis writes them (no leading zeros), so that ids compare as text.
/** The id before every id of a stream: where a channel with no stream yet starts. */
const BEFORE_ALL = '0-0';
const STREAM_ID = /^(0|[1-9]\d{0,18})-(0|[1-9]\d{0,18})$/;

/** Most channels whose floor (highest id seen) one broker remembers; past it, the oldest go. */
const MAX_FLOORS = 10_000;

/**
 * Publishes one event, in one step that no other command can come between.
 *
 * KEYS[1] is the stream and KEYS[2] its idempotency record; ARGV[1] the floor (the highest id
 * this broker saw on the channel, or ''), ARGV[2] the history size, ARGV[3] the idempotency key
 * (or ''), then the event's fields.
 * - A key whose event is still in the stream answers with that event's id, and adds nothing.
 * - A stream that is gone (a flush, an eviction, a restart without persistence) is first made
 *   anew at the later of the floor and the end of the current millisecond, so Redis gives ids
 *   after both: alone, it would start again from its clock, and an id from the same
 *   millisecond as a lost event (given by any instance, which the floor of this one may not
 *   know) would name two events. A new channel starts the same way, a millisecond later.
 * - The record drops keys whose events left history once it holds twice the history, plus
 *   the 100 entries (a stream node) that `MAXLEN ~` may keep over it: a cost shared by as
 *   many publishes.
 */
const PUBLISH_SCRIPT = `
local stream, record, floor, size, key = KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), ARGV[3]
local function before(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  if #am ~= #bm then return #am < #bm end
  if am ~= bm then return am < bm end
  if #as ~= #bs then return #as < #bs end
  return as < bs
end
if key ~= '' then
  local stored = redis.call('HGET', record, key)
  if stored and #redis.call('XRANGE', stream, stored, stored) == 1 then return stored end
end
if redis.call('EXISTS', stream) == 0 then
  local time = redis.call('TIME')
  local now = time[1] .. string.format('%03d', math.floor(tonumber(time[2]) / 1000)) .. '-18446744073709551615'
  if floor == '' or before(floor, now) then floor = now end
  redis.call('XADD', stream, 'MAXLEN', '0', floor, 'd', '')
  redis.call('XSETID', stream, floor, 'ENTRIESADDED', '0', 'MAXDELETEDID', '0-0')
end
local id = redis.call('XADD', stream, 'MAXLEN', '~', size, '*', unpack(ARGV, 4))
if key ~= '' then
  redis.call('HSET', record, key, id)
  if redis.call('HLEN', record) > 2 * size + 100 then
    local first = redis.call('XRANGE', stream, '-', '+', 'COUNT', 1)[1][1]
    local entries = redis.call('HGETALL', record)
    for i = 1, #entries, 2 do
      if before(entries[i + 1], first) then redis.call('HDEL', record, entries[i]) end
    end
  end
end
return id
`;
const RECORD_SUFFIX = Buffer.from([0xff]);
// Web Crypto, not node:crypto: the package's entry imports no Node builtin.
const PUBLISH_SHA = crypto.subtle
  .digest('SHA-1', new TextEncoder().encode(PUBLISH_SCRIPT))
  .then((digest) => Buffer.from(digest).toString('hex'));

/**
 * The refusals the broker expects from Redis, by its error reply (`@redis/client` rejects with
 * an {@link ErrorReply} whose message is the reply, its first word the error code):
 * `missing-key` for `ERR no such key` (`XINFO STREAM` of a stream that is not there),
 * `no-script` for `NOSCRIPT` (`EVALSHA` of a script Redis does not hold). Anything else, and
 * every failure that is no answer (a timeout, a lost connection), is `undefined`.
 */
function expectedRefusal(error: unknown): 'missing-key' | 'no-script' | undefined {
  // By the reply's text, not `instanceof ErrorReply` alone: an app's own client may come from
  // another copy of @redis/client, and Redis error replies are the only errors worded so.
  if (!(error instanceof Error)) return undefined;
  if (error.message === 'ERR no such key') return 'missing-key';
  return error.message.startsWith('NOSCRIPT ') ? 'no-script' : undefined;
}

/** A lone surrogate has no UTF-8 form: Redis would get U+FFFD, the key of another name. */
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Replies as the broker reads them (maps as RESP2 lists or plain objects, strings as strings),
 * whatever `typeMapping` the app gave its client or the duplicate inherits from it.
 */
const DEFAULT_TYPES = { typeMapping: {} };

/** Compares two whole numbers written without leading zeros, of any size. */
const compareDigits = (a: string, b: string) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/**
 * Compares two stream ids (`<ms>-<seq>`, as Redis writes them) in stream order. Runs for each
 * event and subscriber, so it compares text instead of parsing numbers.
 */
function compareIds(a: string, b: string): number {
  const aDash = a.indexOf('-');
  const bDash = b.indexOf('-');
  return compareDigits(a.slice(0, aDash), b.slice(0, bDash)) || compareDigits(a.slice(aDash + 1), b.slice(bDash + 1));
}

type StreamEntry = [id: string, fields: string[]];

/** What `XINFO STREAM` says that the broker reads (Redis 7 or newer). */
interface StreamInfo {
  'last-generated-id': string;
  /** Entries ever added; minus `length`, the entries trimmed (ssekit never deletes others). */
  'entries-added': number;
  length: number;
  'first-entry': StreamEntry | null;
}

/** How many entries trimming removed from the head of the stream. */
const trimmed = (info: StreamInfo) => info['entries-added'] - info.length;

/**
 * Whether `info` describes the stream that `feed` read up to its cursor: nothing after the
 * cursor was trimmed, and the stream was not lost and made anew (a flush, a restart without
 * persistence), which counts entries from zero and holds nothing from before.
 */
function continues(feed: ChannelFeed, info: StreamInfo): boolean {
  const gone = trimmed(info);
  if (gone > feed.position || info['entries-added'] < feed.position) return false;
  // Entries up to the cursor that were never trimmed are still there, so the oldest kept one is
  // at or before the cursor. A stream made anew holds only newer ones, however many it has.
  const first = info['first-entry']?.[0];
  return gone === feed.position || (first !== undefined && compareIds(first, feed.cursor) <= 0);
}

function toMessage([id, fields]: StreamEntry): BrokerMessage {
  let event: string | undefined;
  let data = '';
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'e') event = fields[i + 1];
    else if (fields[i] === 'd') data = fields[i + 1] ?? '';
  }
  return createBrokerMessage(id, event, data);
}

/** Query parameters that some clients and hosting providers read credentials from. */
const CREDENTIAL_PARAMS = ['password', 'username', 'user', 'pass'];

/**
 * A Redis URL fit for an error message or a log: the username and password masked, in the
 * authority and in the query alike. A URL that does not parse is left out altogether, since
 * there is no telling where its secrets are.
 */
function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username) parsed.username = '***';
    if (parsed.password) parsed.password = '***';
    for (const name of CREDENTIAL_PARAMS) {
      if (parsed.searchParams.has(name)) parsed.searchParams.set(name, '***');
    }
    return parsed.toString();
  } catch {
    return 'the configured server (its URL does not parse)';
  }
}

/** A reply that RESP3 gives as a map and RESP2 as a flat list of keys and values. */
function toRecord<T>(reply: unknown): T {
  if (!Array.isArray(reply)) return reply as T;
  const record: Record<string, unknown> = {};
  for (let i = 0; i + 1 < reply.length; i += 2) record[String(reply[i])] = reply[i + 1];
  return record as T;
}

/** XREAD's reply, a map of stream to entries in RESP3 and a list of pairs in RESP2. */
function readReply(reply: unknown): Record<string, StreamEntry[]> {
  if (!Array.isArray(reply)) return (reply ?? {}) as Record<string, StreamEntry[]>;
  return Object.fromEntries(reply as [string, StreamEntry[]][]);
}

/** A replay with nothing to send. */
async function* noPages(): AsyncGenerator<readonly BrokerMessage[]> {}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A {@link Broker} on Redis Streams, for apps that run as many processes or machines: a
 * drop-in for `MemoryBroker` in `new ChannelRegistry({ broker })`.
 *
 * Each channel is one Redis stream, so every instance sees one order, and the stream ids are
 * the event ids, so a client can resume on any instance. Each instance reads the streams it
 * has subscribers for from the last id it delivered (never pub/sub, which drops what it
 * misses), so a lost connection costs no event: the instance catches up when Redis is back,
 * or, when Redis trimmed events it had not delivered, ends those streams with a retry hint
 * and the clients resume through history, which signals the gap. Data is serialized once by
 * the publisher and stored once; each instance encodes a frame once for all its subscribers.
 *
 * @example
 * const broker = new RedisBroker({ url: process.env.REDIS_URL });
 * await broker.ready; // a typed error here when Redis cannot be reached
 * const registry = new ChannelRegistry({ broker });
 */
export class RedisBroker implements Broker {
  /**
   * Resolves once connected; rejects with `BROKER_UNAVAILABLE`, naming the server, when it
   * cannot connect, runs Redis older than 7, or evicts keys without `allowEviction`.
   */
  readonly ready: Promise<void>;
  readonly #server: string;
  readonly #prefix: string;
  /** History size, as the publish script's `MAXLEN ~` takes it. */
  readonly #size: string;
  readonly #maxAge: number | undefined;
  readonly #timeout: number;
  /** Block time of one XREAD: short enough that a silent reader is noticed in about 2 timeouts. */
  readonly #blockMs: number;
  readonly #commands: RedisBrokerClient;
  readonly #ownsCommands: boolean;
  readonly #reader: RedisBrokerClient;
  readonly #feeds = new Map<string, ChannelFeed>();
  /** The highest id this broker gave or saw, by stream key: a lost stream is made anew after it. */
  readonly #floors = new Map<string, string>();
  /** Bumped when the set of channels read changes; the read under way used `#readingGeneration`. */
  #generation = 0;
  #readingGeneration: number | undefined;
  #readerId: number | undefined;
  /** Set when the reader lost its connection: on its return, check what Redis trimmed meanwhile. */
  #checkForLoss = false;
  /** When every channel was last checked for a lost stream (`performance.now()`). */
  #settledAt = 0;
  #wakeReader: (() => void) | undefined;
  /** Set once `ready` resolved: from then on, outages are waited out. */
  #connected = false;
  #closed = false;
  #readLoop: Promise<void> | undefined;
  /** When the command connection last sent a command: an idle one gets a PING. */
  #lastCommandAt = 0;
  #healthCheck: ReturnType<typeof setInterval> | undefined;
  /** Set while the broker's own command connection is being opened again. */
  #reopening: Promise<void> | undefined;

  /**
   * @throws {@link @ssekit/core!SseError} `INVALID_OPTION` for a history size below 1, an invalid
   * age or `commandTimeout` (a whole number of ms from 1 to 2^31-1), or a prefix that is not well-formed Unicode.
   */
  constructor(options: RedisBrokerOptions = {}) {
    const { size, maxAge } = checkHistoryOptions(options.history, {
      minSize: 1,
      reason: 'the Redis stream carries the events',
    });
    this.#prefix = options.prefix ?? 'ssekit:';
    if (LONE_SURROGATE.test(this.#prefix)) {
      throw new SseError(
        'INVALID_OPTION',
        `prefix ${JSON.stringify(this.#prefix)} has a lone surrogate, which Redis cannot store.`,
      );
    }
    const { commandTimeout = DEFAULT_COMMAND_TIMEOUT } = options;
    if (!(Number.isSafeInteger(commandTimeout) && isTimerDelay(commandTimeout))) {
      throw new SseError(
        'INVALID_OPTION',
        `commandTimeout ${commandTimeout} needs to be a whole number of ms from 1 to 2^31-1.`,
      );
    }
    this.#size = String(size);
    this.#maxAge = maxAge;
    this.#timeout = commandTimeout;
    this.#blockMs = Math.min(BLOCK_MS, commandTimeout);
    const reconnectStrategy = (retries: number, cause: Error) =>
      // At start-up a refusal is an answer; once connected, outages are waited out.
      this.#connected ? Math.min(50 * 2 ** retries, 2_000) : cause;
    if (options.client) {
      this.#commands = options.client;
      this.#ownsCommands = false;
      const url = options.client.options?.url;
      this.#server = url === undefined ? 'the given client' : withoutCredentials(url);
    } else {
      const url = options.url ?? 'redis://127.0.0.1:6379';
      this.#server = withoutCredentials(url);
      this.#commands = createClient({ url, disableOfflineQueue: true, socket: { reconnectStrategy } });
      this.#ownsCommands = true;
    }
    // The reader keeps the client's address, TLS and credentials; its socket options are
    // merged, not replaced, since duplicate() takes `socket` as a whole.
    const socket = { ...this.#commands.options?.socket, reconnectStrategy } as NonNullable<
      Parameters<RedisClientType['duplicate']>[0]
    >['socket'];
    this.#reader = this.#commands.duplicate({ disableOfflineQueue: true, socket });
    // Errors are handled where commands fail; without a listener they would crash the process.
    this.#reader.on('error', () => {});
    this.#reader.on('ready', () => {
      this.#readerId = undefined;
    });
    if (this.#ownsCommands) this.#commands.on('error', () => {});

    const connect = async (client: RedisBrokerClient) => {
      if (!client.isOpen) await client.connect();
    };
    this.ready = Promise.all([connect(this.#commands), connect(this.#reader)])
      .then(() => this.#checkServer(options.allowEviction ?? false))
      .then(
        () => {
          this.#connected = true;
          if (this.#ownsCommands && !this.#closed) this.#startHealthCheck();
        },
        (cause: unknown) => {
          if (this.#reader.isOpen) this.#reader.destroy();
          if (this.#ownsCommands && this.#commands.isOpen) this.#commands.destroy();
          if (cause instanceof SseError) throw cause;
          throw new SseError('BROKER_UNAVAILABLE', `cannot connect to Redis at ${this.#server}.`, { cause });
        },
      );
    this.ready.catch(() => {}); // the caller sees it through `ready` or the first call
  }

  /**
   * Appends the event to the channel's Redis stream; resolves with its stream id. With an
   * `idempotencyKey` whose event the stream still holds, adds nothing and resolves with that
   * event's id.
   *
   * @throws {@link @ssekit/core!SseError} `BROKER_UNAVAILABLE` when Redis cannot be reached or
   * does not answer within `commandTimeout` (then the event may have been stored: retry with
   * the same `idempotencyKey`); `INVALID_CHANNEL` for a name that is not well-formed Unicode.
   */
  async publish(channel: string, event: BrokerEvent): Promise<string> {
    if (this.#closed) throw new SseError('REGISTRY_CLOSED', 'the broker is closed.');
    if (event.id !== undefined) {
      throw new SseError(
        'INVALID_OPTION',
        `RedisBroker assigns event ids (Redis stream ids, one order for every instance); publish without an id (got "${event.id}").`,
      );
    }
    checkChannelName(channel);
    if (event.idempotencyKey !== undefined) checkIdempotencyKey(event.idempotencyKey);
    await this.ready;
    const key = this.#prefix + channel;
    const fields = event.event === undefined ? ['d', event.data] : ['e', event.event, 'd', event.data];
    const id = String(await this.#publishScript(key, event.idempotencyKey, fields));
    this.#raiseFloor(key, id);
    if (this.#maxAge !== undefined) {
      // The event is stored: a failed trim must not report it refused (the next one trims).
      // Ages are by this instance's clock, which stream ids (Redis's clock) should be close to.
      // MINID takes whole ms: rounding up drops just what is older than maxAge, as in memory.
      const oldest = String(Math.ceil(Date.now() - this.#maxAge));
      this.#command(['XTRIM', key, 'MINID', '~', oldest], 'trim').catch(() => {});
    }
    return id;
  }

  async subscribe(
    channel: string,
    listener: (message: BrokerMessage) => void,
    onLost?: () => void,
  ): Promise<() => void> {
    checkChannelName(channel);
    await this.ready;
    if (this.#closed) return () => {};
    let feed = this.#feeds.get(channel);
    if (!feed) {
      const key = this.#prefix + channel;
      // Live from here: every message after the stream's last id now is read and delivered.
      const info = await this.#info(key);
      const cursor = info?.['last-generated-id'] ?? '0-0';
      const position = info?.['entries-added'] ?? 0;
      this.#raiseFloor(key, cursor);
      feed = this.#feeds.get(channel) ?? { key, cursor, position, listeners: new Set(), onLost: new Set() };
      if (!this.#feeds.has(channel)) {
        this.#feeds.set(channel, feed);
        this.#channelsChanged();
      }
    }
    const subscribed = feed;
    subscribed.listeners.add(listener);
    if (onLost) subscribed.onLost.add(onLost);
    return () => {
      subscribed.listeners.delete(listener);
      if (onLost) subscribed.onLost.delete(onLost);
      if (subscribed.listeners.size > 0 || this.#feeds.get(channel) !== subscribed) return;
      this.#feeds.delete(channel);
      this.#channelsChanged();
    };
  }

  /**
   * The events after `lastEventId`, read a page at a time as the client takes them: a page
   * holds about `pageBytes` (at least one event), sized by the events read before, so a
   * resuming client costs what a live one does however long the history.
   */
  async replay(channel: string, lastEventId: string, options: ReplayOptions = {}): Promise<Replay> {
    checkChannelName(channel);
    await this.ready;
    const key = this.#prefix + channel;
    const info = STREAM_ID.test(lastEventId) ? await this.#info(key) : undefined;
    // From before the channel's stream existed (see newestId): nothing published, nothing missed.
    if (!info && lastEventId === BEFORE_ALL) return { pages: noPages() };
    const newest = info?.['last-generated-id'] ?? BEFORE_ALL;
    if (!info || compareIds(lastEventId, newest) > 0) return { gap: 'unknown', pages: noPages() };
    // Up to date, however much history is left: nothing to send and nothing lost.
    if (compareIds(lastEventId, newest) === 0) return { pages: noPages() };
    // From the client's own event, inclusive: if it is still there, so is all that follows,
    // since Redis trims from the oldest end; checked in the same read, so no trim slips between.
    // Without it, what the stream holds is still all newer (ids are ordered across losses).
    const first = await this.#range(key, lastEventId, 1);
    const found = first[0]?.[0] === lastEventId;
    const gap = found ? undefined : await this.#missing(key, lastEventId);
    return { gap, pages: this.#pages(key, found ? first.slice(1) : first, first.length === 2, options.pageBytes) };
  }

  /** `count` entries of the stream from `start` on, inclusive. */
  async #range(key: string, start: string, count: number): Promise<StreamEntry[]> {
    return (await this.#command(
      ['XRANGE', key, start, '+', 'COUNT', String(count + 1)],
      'replay from',
    )) as StreamEntry[];
  }

  /**
   * Pages of a replay, each read when the one before has been taken. Each read starts at the
   * last entry sent, inclusive, so that a trim past it (history moving on under a slow
   * client) shows, instead of quietly skipping what the client never got.
   */
  async *#pages(
    key: string,
    entries: StreamEntry[],
    more: boolean,
    pageBytes = DEFAULT_PAGE_BYTES,
  ): AsyncGenerator<readonly BrokerMessage[]> {
    let page: StreamEntry[] | undefined = entries;
    let hasMore = more;
    while (page && page.length > 0) {
      const cursor = (page[page.length - 1] as StreamEntry)[0];
      let messages: BrokerMessage[] | undefined = page.map(toMessage);
      page = undefined;
      let bytes = 0;
      for (const message of messages) bytes += message.frame.byteLength;
      const count = Math.max(1, Math.min(MAX_PAGE_COUNT, Math.floor(pageBytes / (bytes / messages.length))));
      yield messages;
      messages = undefined; // taken: only the next page is held from here
      if (!hasMore) return;
      const next = await this.#range(key, cursor, count);
      if (next[0]?.[0] !== cursor) {
        throw new SseError(
          'REPLAY_OVERTAKEN',
          `history of "${key}" was trimmed past ${cursor} while a client was replaying it.`,
        );
      }
      hasMore = next.length === count + 1;
      page = next.slice(1);
    }
  }

  /**
   * Why an id is not in the stream: older than every event kept, once some were trimmed, it
   * is `expired` (conservative: it may have been the very last one trimmed); else the stream
   * never had it.
   */
  async #missing(key: string, lastEventId: string): Promise<'expired' | 'unknown' | undefined> {
    const info = await this.#info(key);
    // Nothing trimmed: an id the stream never held, unless it is the one before all of them.
    if (!info || trimmed(info) === 0) return lastEventId === BEFORE_ALL ? undefined : 'unknown';
    const first = info['first-entry']?.[0];
    return first === undefined || compareIds(lastEventId, first) < 0 ? 'expired' : 'unknown';
  }

  /**
   * The stream's last generated id (kept by Redis however far the stream was trimmed), or
   * `0-0` for a channel with no stream yet, from which replay gives every event it gets.
   */
  async newestId(channel: string): Promise<string> {
    checkChannelName(channel);
    await this.ready;
    return (await this.#info(this.#prefix + channel))?.['last-generated-id'] ?? BEFORE_ALL;
  }

  /** Orders two event ids of this broker: Redis stream ids, the same order on every instance. */
  compareIds(a: string, b: string): number {
    return compareIds(a, b);
  }

  /** Stops reading and closes the connections the broker opened (not a client it was given). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#healthCheck);
    this.#feeds.clear();
    this.#wakeReader?.();
    if (this.#reader.isOpen) this.#reader.destroy();
    await this.#readLoop;
    // A connection being opened again is open already: closing it ends the attempt too.
    if (this.#ownsCommands && this.#commands.isOpen) this.#commands.destroy();
    await this.#reopening;
    if (this.#reader.isOpen) this.#reader.destroy();
    if (this.#ownsCommands && this.#commands.isOpen) this.#commands.destroy();
  }

  /** Runs the publish script: by its hash, and by its text when Redis does not have it (yet, or any more). */
  async #publishScript(key: string, idempotencyKey: string | undefined, fields: string[]): Promise<unknown> {
    // The record's key is the stream's bytes and a 0xFF, a byte UTF-8 never holds: no stream
    // key, and no other channel's record, can be the same bytes.
    const record = Buffer.concat([Buffer.from(key), RECORD_SUFFIX]);
    const floor = this.#floors.get(key) ?? '';
    const args = ['2', key, record, floor, this.#size, idempotencyKey ?? '', ...fields];
    try {
      return await this.#command(['EVALSHA', await PUBLISH_SHA, ...args], 'publish to');
    } catch (error) {
      if (expectedRefusal(error) !== 'no-script') throw error;
      return await this.#command(['EVAL', PUBLISH_SCRIPT, ...args], 'publish to');
    }
  }

  /** Remembers `id` as the highest of `key` if it is; the least recently raised floors go first. */
  #raiseFloor(key: string, id: string): void {
    const floor = this.#floors.get(key);
    if (id === '0-0' || (floor !== undefined && compareIds(id, floor) <= 0)) return;
    this.#floors.delete(key);
    this.#floors.set(key, id);
    if (this.#floors.size > MAX_FLOORS) this.#floors.delete(this.#floors.keys().next().value as string);
  }

  /** Sends a command on the command connection; a failure names the server and what was tried. */
  async #command(args: (string | Buffer)[], what: string): Promise<unknown> {
    this.#lastCommandAt = Date.now();
    try {
      return await within(this.#commands.sendCommand(args, DEFAULT_TYPES), this.#timeout);
    } catch (cause) {
      // An expected refusal is an answer: the caller handles it, and Redis is there.
      if (expectedRefusal(cause)) throw cause;
      if (cause instanceof NoAnswer) this.#reopenCommands();
      const late = cause instanceof NoAnswer ? ` within ${this.#timeout} ms` : '';
      throw new SseError('BROKER_UNAVAILABLE', `could not ${what} Redis at ${this.#server}${late}.`, { cause });
    }
  }

  // A connection that stops answering shows no error and no close: only an unanswered command
  // tells. An idle one is asked, so that the next publish does not find out the slow way.
  #startHealthCheck(): void {
    this.#healthCheck = setInterval(() => {
      if (Date.now() - this.#lastCommandAt >= this.#blockMs) this.#command(['PING'], 'ping').catch(() => {});
    }, this.#blockMs);
    this.#healthCheck.unref?.();
  }

  /**
   * Closes the broker's own command connection and opens it again: commands waiting on it fail
   * now, and new ones fail at once until it is back (the connection has no offline queue).
   */
  #reopenCommands(): void {
    if (!(this.#ownsCommands && this.#connected) || this.#closed || this.#reopening) return;
    this.#commands.destroy();
    this.#reopening = this.#reopen(this.#commands).finally(() => {
      this.#reopening = undefined;
    });
  }

  /** Connects `client` again, until it answers or the broker is closed. */
  async #reopen(client: RedisBrokerClient): Promise<void> {
    for (let failures = 0; !this.#closed; failures++) {
      try {
        if (!client.isOpen) await within(client.connect(), this.#timeout);
        return;
      } catch {
        if (client.isOpen) client.destroy();
        await sleep(Math.min(50 * 2 ** failures, 2_000));
      }
    }
  }

  async #info(key: string): Promise<StreamInfo | undefined> {
    try {
      return toRecord<StreamInfo>(await this.#command(['XINFO', 'STREAM', key], 'read a channel from'));
    } catch (error) {
      if (expectedRefusal(error) === 'missing-key') return undefined;
      throw error;
    }
  }

  // INFO, since managed services often disable CONFIG.
  async #checkServer(allowEviction: boolean): Promise<void> {
    const info = String(await this.#command(['INFO', 'server', 'memory'], 'read the settings of'));
    // Loss detection counts entries (`entries-added`, Redis 7): older servers cannot tell a gap.
    const major = Number(/redis_version:(\d+)/.exec(info)?.[1]);
    if (major < 7) {
      throw new SseError('BROKER_UNAVAILABLE', `RedisBroker needs Redis 7 or newer; ${this.#server} runs ${major}.`);
    }
    const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1] ?? '';
    if (policy.startsWith('allkeys-') && !allowEviction) {
      throw new SseError(
        'BROKER_UNAVAILABLE',
        `${this.#server} evicts keys (maxmemory-policy ${policy}): a full memory would delete channels' streams, and events with them, after they were acknowledged. Set maxmemory-policy noeviction (or a volatile-* policy: the broker's keys have no TTL), or pass allowEviction: true to accept the loss.`,
      );
    }
  }

  #channelsChanged(): void {
    this.#generation++;
    this.#readLoop ??= this.#read();
    this.#wakeReader?.();
    void this.#interruptRead();
  }

  // A blocked XREAD reads the old set of channels until it returns: unblock it. The unblock
  // may reach Redis before the read does, so it is repeated until the read has returned.
  async #interruptRead(): Promise<void> {
    for (let attempt = 0; attempt < 100 && !this.#closed; attempt++) {
      const reading = this.#readingGeneration;
      if (reading === undefined || reading === this.#generation || this.#readerId === undefined) return;
      try {
        await this.#command(['CLIENT', 'UNBLOCK', String(this.#readerId)], 'unblock the reader at');
      } catch {
        return; // Redis is away; the read fails by itself.
      }
      await sleep(10);
    }
  }

  async #read(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      if (this.#feeds.size === 0) {
        await new Promise<void>((resolve) => {
          this.#wakeReader = resolve;
        });
        this.#wakeReader = undefined;
        continue;
      }
      try {
        if (!this.#reader.isOpen) await this.#reopen(this.#reader);
        this.#readerId ??= Number(
          await within(this.#reader.sendCommand(['CLIENT', 'ID'], DEFAULT_TYPES), this.#timeout),
        );
        // A stream lost while nothing new comes to it (evicted or flushed after its last
        // publish) shows in no read: every channel is checked once per blocking period too.
        if (this.#checkForLoss || performance.now() - this.#settledAt >= this.#blockMs) await this.#settleLosses();
        const feeds = [...this.#feeds.values()];
        this.#readingGeneration = this.#generation;
        const read = this.#reader.sendCommand(
          [
            'XREAD',
            'COUNT',
            String(READ_COUNT),
            'BLOCK',
            String(this.#blockMs),
            'STREAMS',
            ...feeds.map((feed) => feed.key),
            ...feeds.map((feed) => feed.cursor),
          ],
          DEFAULT_TYPES,
        );
        const reply = await within(read, this.#blockMs + this.#timeout);
        this.#readingGeneration = undefined;
        if (reply) await this.#deliver(feeds, readReply(reply));
        failures = 0;
      } catch (error) {
        this.#readingGeneration = undefined;
        if (this.#closed) return;
        // Redis stopped answering, to the read or to the loss check before it: the channels
        // cannot know what they miss, and the check would fail again before any read could tell.
        if (error instanceof NoAnswer || (error instanceof SseError && error.cause instanceof NoAnswer)) {
          this.#readerStalled();
        }
        // The connection is gone or going; node-redis reconnects. Check for trimmed events then.
        this.#checkForLoss = true;
        await sleep(Math.min(50 * 2 ** failures++, 1_000));
      }
    }
  }

  /**
   * The reader's connection stopped answering. Nothing says when it would again, and each
   * channel's subscribers would wait for it with no event and no error: close it, tell every
   * channel (its streams end with a retry hint, and the clients resume, elsewhere if need be),
   * and open it again.
   */
  #readerStalled(): void {
    this.#reader.destroy();
    this.#readerId = undefined;
    for (const feed of [...this.#feeds.values()]) {
      for (const onLost of [...feed.onLost]) onLost();
    }
  }

  async #deliver(feeds: ChannelFeed[], reply: Record<string, StreamEntry[]>): Promise<void> {
    // A batch for a key that was not asked for (a key that did not survive the trip as UTF-8,
    // a reply of an unexpected shape) moves no cursor: reading again at once would get the same
    // batch, thousands of times a second. Failing the read makes the loop back off instead.
    const asked = new Set(feeds.map((feed) => feed.key));
    const unasked = Object.keys(reply).find((key) => !asked.has(key));
    if (unasked !== undefined) throw new Error(`XREAD answered for ${JSON.stringify(unasked)}, which was not read`);
    const read = feeds.filter((feed) => reply[feed.key]?.length);
    // What Redis trimmed before this read was not in it: a batch after a gap is not delivered
    // as if it followed on. (A trim just after the read can cost a needless resume, no event.)
    const infos = await Promise.all(read.map((feed) => this.#info(feed.key)));
    for (const [i, feed] of read.entries()) {
      if (this.#feeds.get(feed.key.slice(this.#prefix.length)) !== feed) continue;
      if (this.#lost(feed, infos[i])) continue;
      const entries = reply[feed.key] ?? [];
      const last = entries[entries.length - 1];
      if (last) this.#raiseFloor(feed.key, last[0]);
      for (const entry of entries) {
        feed.cursor = entry[0];
        feed.position++;
        const message = toMessage(entry);
        for (const listener of feed.listeners) {
          try {
            listener(message);
          } catch (error) {
            console.error('[ssekit] a RedisBroker listener failed:', error);
          }
        }
      }
    }
  }

  /**
   * Whether events after `feed`'s cursor are gone (trimmed, or the stream itself deleted or
   * lost by a Redis restart without persistence). If so, the channel is told, and reading goes
   * on from the newest event: its clients resume through history, which signals the gap.
   */
  #lost(feed: ChannelFeed, info: StreamInfo | undefined): boolean {
    if (info ? continues(feed, info) : feed.position === 0) return false;
    feed.cursor = info?.['last-generated-id'] ?? '0-0';
    this.#raiseFloor(feed.key, feed.cursor);
    feed.position = info?.['entries-added'] ?? 0;
    for (const onLost of feed.onLost) onLost();
    return true;
  }

  // After the reader's connection came back, or once a blocking period passed, a channel with
  // nothing new to read would show no gap in a batch: check every channel once.
  async #settleLosses(): Promise<void> {
    const feeds = [...this.#feeds.values()];
    const infos = await Promise.all(feeds.map((feed) => this.#info(feed.key)));
    for (const [i, feed] of feeds.entries()) this.#lost(feed, infos[i]);
    this.#checkForLoss = false;
    this.#settledAt = performance.now();
  }
}
