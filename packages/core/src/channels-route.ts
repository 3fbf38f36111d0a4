import { type ChannelRegistry, RELAY_CHANNEL } from './channel.js';
import type { CursorKey } from './cursor.js';
import { SseError } from './errors.js';
import { queryParam } from './last-event-id.js';
import {
  cursorHasRoom,
  DEFAULT_MAX_CHANNELS,
  type FollowedChannels,
  followChannels,
  isChannelName,
} from './many-channels.js';
import { checkCountLimit, isTimerDelay } from './options.js';
import { type ChannelVerdict, refusalOf } from './route.js';
import type { SseStream } from './stream.js';
import { type ChannelsChange, directoryOf, type StreamChange, stringsOf } from './stream-directory.js';

export type { ChannelsChange } from './stream-directory.js';

/**
 * The event a stream of many channels opens with (after the gaps of a resume, if any, and
 * before the channels' events): `data` is JSON
 * `{ "stream": string, "channels": string[], "refused": [{ "channel": string, "status": 400 | 401 | 403 }] }`,
 * the id that subscribe calls name, the channels followed, and those refused (400: a name no
 * channel can have), among those asked for and, on a resume, those the cursor holds.
 */
export const STREAM_EVENT = 'ssekit-stream';

/** Options of {@link createChannelsRoute}; `Request` is the request as the framework gives it. */
export interface ChannelsRouteOptions<Request> {
  /** Signs the streams' cursors: the same secret on every instance. */
  key: CursorKey;
  /**
   * The channels a request asks for when its stream opens. Default: the `channels` query
   * parameter, comma-separated ({@link channelsFromQuery}).
   */
  channels?: (request: Request) => string[];
  /**
   * Whether `request` may read `channel`: asked for each channel a stream asks for, at open, on
   * resume and at each subscribe call. A refused channel is refused alone. Default: all may.
   */
  authorize?: (channel: string, request: Request) => ChannelVerdict | Promise<ChannelVerdict>;
  /** Most channels one stream follows, and one subscribe call names. Default 32. */
  maxChannels?: number;
  /**
   * How long, in ms, a subscribe call for a stream this instance does not hold waits for the
   * instance that holds it to answer through the broker, before it answers 404. Default 1 000.
   * Not used with a `MemoryBroker`, which has no other instance.
   */
  relayTimeout?: number;
}

/** Default of {@link ChannelsRouteOptions.relayTimeout}, in ms. */
export const DEFAULT_RELAY_TIMEOUT_MS = 1_000;

/**
 * The answer to a subscribe call: 200 with the change, 400 for a malformed body, 404 when no
 * instance holds the stream, 503 when the broker cannot reach them.
 */
export type ChannelsChangeAnswer =
  | {
      status: 200;
      body: ChannelsChange;
      /**
       * When the stream is this instance's: settles once the channels the call added are live
       * and caught up. Where a request's unfinished work ends with it (Cloudflare Workers), hand
       * it to the execution context's `waitUntil`, as `channels()` of `@ssekit/hono` does; an
       * answer sent first would leave that work to die with the call.
       */
      settled?: Promise<unknown>;
    }
  | { status: 400 | 404 | 503; body: { error: string } };

/** The framework-free part of every adapter's `channels()` routes. */
export interface ChannelsRoute<Request> {
  /** Follows the admitted channels of `request` on its `stream`, announced by {@link STREAM_EVENT}. */
  open(request: Request, stream: SseStream): Promise<void>;
  /**
   * A subscribe call: `body` is `{ "stream": string, "subscribe"?: string[], "unsubscribe"?: string[] }`,
   * at most `maxChannels` channels in all (see {@link readJsonBody} for its bytes). Channels
   * are authorized with this call's request.
   */
  change(request: Request, body: unknown): Promise<ChannelsChangeAnswer>;
}

/** Most bytes of a subscribe call's body that {@link readJsonBody} reads: 16 KiB. */
export const MAX_CHANGE_BYTES = 16 * 1024;

/**
 * A subscribe call's body, parsed as JSON: `undefined` (answered 400) when it is not JSON,
 * longer than `maxBytes` (read no further), or cut off by a client that left.
 *
 * @param body - a Web request's `body`, or a Node request.
 */
export async function readJsonBody(
  body: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | null | undefined,
  maxBytes = MAX_CHANGE_BYTES,
): Promise<unknown> {
  if (!body) return undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for await (const chunk of 'getReader' in body ? chunksOf(body) : body) {
      size += chunk.byteLength;
      if (size > maxBytes) return undefined;
      chunks.push(chunk);
    }
  } catch {
    return undefined; // the client left while sending: not the app's error
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    return undefined;
  }
}

// Read by hand: not every runtime's ReadableStream is async-iterable. Leaving the loop early
// cancels the stream.
async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (let read = await reader.read(); !read.done; read = await reader.read()) yield read.value;
  } finally {
    void reader.cancel().catch(() => {});
  }
}

/** The channels a URL asks for in its `channels` query parameter, comma-separated. */
export function channelsFromQuery(url: string | undefined): string[] {
  return (queryParam(url, 'channels') ?? '').split(',').filter(Boolean);
}

const asStrings = (value: unknown): string[] | undefined => (value === undefined ? [] : stringsOf(value));

/**
 * The shared logic of a route that streams many channels over one connection (see
 * {@link followChannels}) and of the calls that change them: announce, authorize each
 * channel, follow, subscribe and unsubscribe by stream id; `urlOf` gives a request's URL, for
 * the default `channels`. A subscribe call may reach any instance: one that does not hold the
 * stream authorizes the call, then relays the change through the broker (on
 * {@link RELAY_CHANNEL}) to the one that does.
 *
 * @throws {@link SseError} `INVALID_OPTION` for a `maxChannels` or `relayTimeout` that is not
 * a whole number, 1 or more (`relayTimeout` at most 2^31-1).
 */
export function createChannelsRoute<Request>(
  registry: ChannelRegistry,
  options: ChannelsRouteOptions<Request>,
  urlOf: (request: Request) => string | undefined,
): ChannelsRoute<Request> {
  checkCountLimit('maxChannels', options.maxChannels);
  checkCountLimit('relayTimeout', options.relayTimeout, 'ms');
  const { key, authorize, maxChannels = DEFAULT_MAX_CHANNELS, relayTimeout = DEFAULT_RELAY_TIMEOUT_MS } = options;
  if (!isTimerDelay(relayTimeout)) throw new SseError('INVALID_OPTION', `relayTimeout ${relayTimeout} ms is too long.`);
  const asked = options.channels ?? ((request: Request) => channelsFromQuery(urlOf(request)));
  // 400 for a name no channel can have, before the app's authorize sees it.
  const verdict = async (channel: string, request: Request) =>
    isChannelName(channel) ? refusalOf(authorize ? await authorize(channel, request) : true) : 400;
  const split = async (channels: string[], request: Request) => {
    const admitted: string[] = [];
    const refused: ChannelsChange['refused'] = [];
    for (const channel of new Set(channels)) {
      const answer = await verdict(channel, request);
      if (answer === true) admitted.push(channel);
      else refused.push({ channel, status: answer });
    }
    return { admitted, refused };
  };

  const directory = directoryOf(registry);
  /** The streams this route holds here, by id: a call that changed one answers with its `settling`. */
  const followedHere = new Map<string, () => Promise<FollowedChannels> | undefined>();

  return {
    async open(request, stream) {
      if (stream.closed) return; // refused before it opened (a connection limit)
      const refused: ChannelsChange['refused'] = [];
      const admitted: string[] = [];
      // Each channel alone: one the cursor has no room for is refused (413), not the stream.
      const admit = async (channel: string): Promise<boolean> => {
        if (admitted.includes(channel) || refused.some((refusal) => refusal.channel === channel)) return false;
        const answer = await verdict(channel, request);
        const status =
          answer !== true ? answer : (admitted.length < maxChannels && cursorHasRoom([...admitted, channel])) || 413;
        if (status === true) admitted.push(channel);
        else refused.push({ channel, status });
        return status === true;
      };
      for (const channel of asked(request)) await admit(channel);
      const asking = [...admitted];

      // Listed before any channel is followed, so that the stream can be changed as soon as its
      // id is out; changes run one call at a time, each whole.
      const id = crypto.randomUUID();
      let following: Promise<FollowedChannels> | undefined;
      followedHere.set(id, () => following);
      let turn: Promise<unknown> = Promise.resolve();
      const apply = (change: StreamChange) => {
        const done = turn.then(async () => applyChange(stream, await (following as Promise<FollowedChannels>), change));
        turn = done.catch(() => {});
        return done;
      };
      stream.onClose(() => followedHere.delete(id));
      stream.onClose(await directory.list(id, apply));
      if (stream.closed) return;
      following = followChannels(registry, stream, {
        channels: asking,
        key,
        // A channel the cursor holds, added after the stream first opened, is authorized again;
        // a refusal is reported like one at open, so that the client knows why it is gone.
        restore: admit,
        maxChannels,
        // With the cursor as its id: a reconnect before any event still resumes every channel.
        onOpen: (channels, cursor) =>
          stream.send(JSON.stringify({ stream: id, channels, refused }), { event: STREAM_EVENT, id: cursor }),
      });
      await following;
    },

    async change(request, body) {
      const { stream: id, subscribe, unsubscribe } = (body ?? {}) as Record<string, unknown>;
      const adding = asStrings(subscribe);
      const removing = asStrings(unsubscribe);
      if (typeof id !== 'string' || !adding || !removing || adding.length + removing.length > maxChannels) {
        return {
          status: 400,
          body: { error: `expected { stream, subscribe?, unsubscribe? }, with at most ${maxChannels} channels` },
        };
      }
      const { admitted, refused } = await split(adding, request);
      let result: ChannelsChange | undefined;
      try {
        result = await directory.change(id, { subscribe: admitted, unsubscribe: removing }, relayTimeout);
      } catch (error) {
        if (error instanceof SseError && error.code === 'BROKER_UNAVAILABLE') {
          return { status: 503, body: { error: 'the broker cannot reach the instance that holds the stream' } };
        }
        throw error;
      }
      if (!result) return { status: 404, body: { error: 'no such stream is open' } };
      const answer: ChannelsChange = { ...result, refused: [...refused, ...result.refused] };
      const followed = await followedHere.get(id)?.();
      return followed ? { status: 200, body: answer, settled: followed.settling } : { status: 200, body: answer };
    },
  };
}

/**
 * Adds and removes channels of one stream of this instance; `undefined` when the stream ended
 * meanwhile, as if it had never been found.
 */
async function applyChange(
  stream: SseStream,
  followed: FollowedChannels,
  change: StreamChange,
): Promise<ChannelsChange | undefined> {
  const subscribed: string[] = [];
  const refused: ChannelsChange['refused'] = [];
  const before = followed.changeCursor;
  for (const channel of change.subscribe) {
    try {
      await followed.add(channel);
      subscribed.push(channel);
    } catch (error) {
      if (!(error instanceof SseError)) throw error;
      refused.push({ channel, status: error.code === 'TOO_MANY_CHANNELS' ? 413 : 400 });
    }
  }
  for (const channel of change.unsubscribe) await followed.remove(channel);
  if (stream.closed) return undefined;
  const cursor = followed.changeCursor === before ? undefined : followed.changeCursor;
  return { subscribed, unsubscribed: change.unsubscribe, refused, cursor };
}
