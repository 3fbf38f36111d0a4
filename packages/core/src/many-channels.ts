import { type BrokerMessage, checkChannelName } from './broker.js';
import { type ChannelRegistry, GAP_EVENT, RELAY_CHANNEL, type SubscriberFrames } from './channel.js';
import {
  type CursorKey,
  type CursorPositions,
  decodeCursor,
  encodeCursor,
  MAC_LENGTH,
  MAX_CURSOR_LENGTH,
} from './cursor.js';
import { SseError } from './errors.js';
import { formatEvent } from './format.js';
import { checkCountLimit } from './options.js';
import type { SseStream } from './stream.js';

/** Default of {@link FollowOptions.maxChannels}. */
export const DEFAULT_MAX_CHANNELS = 32;

// The longest broker id a cursor makes room for: a Redis stream id is at most 41 characters.
const ROOM_PER_ID = 41;

/** Options of {@link followChannels}. */
export interface FollowOptions {
  /** The channels to follow from the start, in order; a name given twice is followed once. */
  channels: Iterable<string>;
  /** Signs the stream's cursors; every instance that serves the stream's clients needs the same. */
  key: CursorKey;
  /**
   * Whether a resuming client gets back a channel its cursor holds besides `channels` (one it
   * followed through {@link FollowedChannels.add}): the route's authorization, asked again for
   * each. Default: none are, only `channels` are followed.
   */
  restore?: (channel: string) => boolean | Promise<boolean>;
  /** Most channels followed at once. Default 32. */
  maxChannels?: number;
  /**
   * Called once, with the channels followed and the cursor, after the gaps of a resume and
   * before any event of the channels can leave: the place to write an opening event of the
   * route's own (as the `channels()` routes write `ssekit-stream`), with the cursor as its id.
   */
  onOpen?: (channels: readonly string[], cursor: string | undefined) => void;
}

/**
 * The event a stream of many channels gets after each change of its channels: `data` is JSON
 * `{ "channels": string[] }`, the channels followed now, and its `id:` the cursor that resumes
 * them, so that a reconnect before the next event loses no channel added and brings back none
 * removed.
 */
export const CHANNELS_EVENT = 'ssekit-channels';

/** The channels a stream follows, to change while it is open. */
export interface FollowedChannels {
  /** The channels followed now, in the order they were added. */
  readonly channels: readonly string[];
  /**
   * The cursor as of now: the `id` for an event of the route's own that should resume these
   * channels (`undefined` when it would be too long; see {@link MAX_CURSOR_LENGTH}).
   */
  readonly cursor: string | undefined;
  /**
   * The cursor the last {@link CHANNELS_EVENT} carried (`undefined` before the first change):
   * what a subscribe call answers with, so that its client can tell whether that event reached
   * it before a drop.
   */
  readonly changeCursor: string | undefined;
  /**
   * Follows `channel` from now on: its events join the stream, and its position joins the
   * cursor, sent at once with a {@link CHANNELS_EVENT}. Following a channel already followed,
   * or adding to a stream that has ended, does nothing.
   *
   * @throws {@link SseError} `TOO_MANY_CHANNELS` past {@link FollowOptions.maxChannels}, or when
   * the cursor would outgrow {@link MAX_CURSOR_LENGTH}; `INVALID_CHANNEL` for a name with CR or LF,
   * or one the registry refuses.
   */
  add(channel: string): Promise<void>;
  /**
   * @internal Settles once the channels whose start is under way now are live and caught up:
   * the request that added one must last until then where a request's unfinished I/O ends
   * with it (Cloudflare Workers).
   */
  readonly settling: Promise<unknown>;
  /**
   * Stops following `channel`; its position leaves the cursor, sent at once with a
   * {@link CHANNELS_EVENT}. Harmless for one not followed.
   */
  remove(channel: string): Promise<void>;
}

/**
 * Checks that a stream of many channels can follow a channel called `name`: a name the
 * registry takes, with no line break, which would end the line that names the channel.
 *
 * @throws {@link SseError} `INVALID_CHANNEL` otherwise.
 */
function checkFollowable(name: string): void {
  if (name === RELAY_CHANNEL || /[\r\n]/.test(checkChannelName(name))) {
    throw new SseError('INVALID_CHANNEL', `channel name ${JSON.stringify(name)} cannot be followed.`);
  }
}

/** Whether a stream of many channels can follow a channel called `name` (see {@link followChannels}). */
export function isChannelName(name: string): boolean {
  try {
    checkFollowable(name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether one cursor has room for a position in each of `channels` (names of channels that can
 * be followed), whatever their ids.
 */
export function cursorHasRoom(channels: readonly string[]): boolean {
  const roomy = new Map(channels.map((channel) => [channel, 'x'.repeat(ROOM_PER_ID)]));
  return encodeCursor(roomy, 'x'.repeat(MAC_LENGTH)) !== undefined;
}

const utf8 = new TextEncoder();
// The event and data lines of a message as a stream of many channels sends it, encoded once per
// message whatever the number of streams; each stream adds its own `id:` line.
const tagged = new WeakMap<BrokerMessage, Uint8Array>();

/**
 * Sends the events of several channels down one stream, and resumes them all from the one
 * `Last-Event-ID` the client sends back. Each event names its channel in its first `data:`
 * line (the data follows on the next ones) and carries as its `id:` a cursor: every channel's
 * position, signed with `key` (see {@link CursorKey}). A client that reconnects with it gets,
 * per channel, exactly the events it missed, or a {@link GAP_EVENT} for that channel alone
 * (its data line, too, names the channel first); a cursor that is not the server's (edited,
 * or signed with another key) resumes every channel with a gap.
 *
 * @example
 * const key = new CursorKey(process.env.CURSOR_SECRET);
 * const followed = await followChannels(registry, stream, { channels: ['news', `user:${id}`], key });
 * await followed.add('room:lobby');
 * @throws {@link SseError} as {@link FollowedChannels.add} does, for `channels`.
 */
export async function followChannels(
  registry: ChannelRegistry,
  stream: SseStream,
  options: FollowOptions,
): Promise<FollowedChannels> {
  checkCountLimit('maxChannels', options.maxChannels);
  const { key, maxChannels = DEFAULT_MAX_CHANNELS } = options;
  const positions = new Map<string, string>();
  const stops = new Map<string, () => void>();
  let mac = ''; // set with the first channels, before any event can leave

  const cursorOf = (): string | undefined => encodeCursor(positions, mac);
  const frame = (tail: Uint8Array, withId: boolean): Uint8Array => {
    const cursor = withId ? cursorOf() : undefined;
    // An id longer than the cursor has room for (an app's own) goes without a new cursor: the
    // client then resumes from the one before, and gets this event again rather than lose it.
    if (cursor === undefined) return tail;
    const head = utf8.encode(`id: ${cursor}\n`);
    const bytes = new Uint8Array(head.byteLength + tail.byteLength);
    bytes.set(head);
    bytes.set(tail, head.byteLength);
    return bytes;
  };
  const framesOf = (channel: string): SubscriberFrames => ({
    event(message) {
      positions.set(channel, message.id);
      let tail = tagged.get(message);
      if (!tail) {
        tail = utf8.encode(formatEvent({ event: message.event, data: `${channel}\n${message.data}` }, String));
        tagged.set(message, tail);
      }
      return frame(tail, true);
    },
    gap: (data) => frame(utf8.encode(formatEvent({ event: GAP_EVENT, data: `${channel}\n${data}` }, String)), false),
  });

  /** Checks that `channels` can be followed together, and signs them. */
  const admit = async (channels: string[]): Promise<string> => {
    if (channels.length > maxChannels) {
      throw new SseError('TOO_MANY_CHANNELS', `a stream follows at most ${maxChannels} channels (maxChannels).`);
    }
    for (const channel of channels) checkFollowable(channel);
    if (!cursorHasRoom(channels)) {
      throw new SseError('TOO_MANY_CHANNELS', `the names of these channels outgrow a cursor (${MAX_CURSOR_LENGTH}).`);
    }
    return key.sign(channels);
  };

  /** Where `channel` starts when the client has no position in it: now, if the broker can tell. */
  const startOf = async (channel: string): Promise<string> => (await registry.channel(channel).newestId()) ?? '';

  // Subscriptions whose start (link, catch-up) is under way; each leaves once done, so a
  // stream that changes its channels for hours holds none of the past.
  const starting = new Set<Promise<void>>();
  const onStarted = (started: Promise<void>) => {
    starting.add(started);
    void started.then(() => starting.delete(started));
  };
  /**
   * Follows each channel from its start, signed by `signed`: in one turn, so that no event
   * leaves with a cursor whose channels its MAC does not sign.
   */
  const follow = (starts: Map<string, string>, signed: string): void => {
    for (const [channel, start] of starts) positions.set(channel, start);
    mac = signed;
    for (const [channel, start] of starts) {
      // With no start (a broker that cannot give one), a later resume of it is a gap.
      const frames = framesOf(channel);
      stops.set(
        channel,
        registry.channel(channel).subscribe(stream, { lastEventId: start || null, frames, onStarted }),
      );
    }
  };

  // The cursor reaches the client only in an id: after a change, one goes at once, so that a
  // reconnect before the next event resumes the channels as changed.
  let changeCursor: string | undefined;
  const announce = () => {
    changeCursor = cursorOf();
    const data = JSON.stringify({ channels: [...positions.keys()] });
    stream.writeFrame(utf8.encode(formatEvent({ event: CHANNELS_EVENT, id: changeCursor, data }, String)));
  };

  const wanted = [...new Set(options.channels)];
  const cursor = stream.lastEventId;
  const resumed: CursorPositions | undefined = cursor ? await decodeCursor(cursor, key) : undefined;
  for (const [channel] of resumed ?? []) {
    // A cursor from before maxChannels was lowered brings back what fits, rather than failing
    // every reconnect.
    if (wanted.length >= maxChannels) break;
    if (!wanted.includes(channel) && (await options.restore?.(channel))) wanted.push(channel);
  }
  const signed = await admit(wanted);
  const starts = new Map<string, string>();
  for (const channel of wanted) {
    const position = resumed?.get(channel);
    // A client with a cursor, but no position in it for this channel that can be continued:
    // a cursor not the server's, or a channel it had no start for.
    if (cursor && (resumed ? position === '' : true)) {
      const lost = JSON.stringify({ lastEventId: cursor, reason: 'unknown' });
      stream.writeFrame(framesOf(channel).gap(lost));
    }
    starts.set(channel, position || (await startOf(channel)));
  }
  follow(starts, signed);
  // In the same turn: the channels' deliveries start only after a broker round trip.
  options.onOpen?.([...positions.keys()], cursorOf());

  // Changes run one at a time: each signs the set it makes before the cursor carries it.
  let changes = Promise.resolve();
  const change = (run: () => Promise<void>): Promise<void> => {
    const next = changes.then(run);
    changes = next.catch(() => {});
    return next;
  };
  return {
    get channels() {
      return [...positions.keys()];
    },
    get cursor() {
      return cursorOf();
    },
    get changeCursor() {
      return changeCursor;
    },
    get settling() {
      return Promise.all(starting);
    },
    add: (channel) =>
      change(async () => {
        if (positions.has(channel) || stream.closed) return;
        const signed = await admit([...positions.keys(), channel]);
        const start = await startOf(channel);
        if (stream.closed) return;
        follow(new Map([[channel, start]]), signed);
        announce();
      }),
    remove: (channel) =>
      change(async () => {
        const stop = stops.get(channel);
        if (!stop) return;
        const rest = [...positions.keys()].filter((name) => name !== channel);
        mac = await key.sign(rest);
        stop();
        stops.delete(channel);
        positions.delete(channel);
        announce();
      }),
  };
}
