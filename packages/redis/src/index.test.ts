import net from 'node:net';
import { createClient, RESP_TYPES } from '@redis/client';
import {
  type BrokerMessage,
  CHANNELS_EVENT,
  ChannelRegistry,
  CursorKey,
  createChannelsRoute,
  createResponse,
  createWebSink,
  type FollowedChannels,
  followChannels,
  GAP_EVENT,
  readJsonBody,
  SseError,
  SseStream,
  STREAM_EVENT,
} from '@ssekit/core';
import { openEvents } from '@ssekit/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type RedisServer, startRedis } from '../test/redis-server.js';
import { RedisBroker, type RedisBrokerClient } from './index.js';

let redis: RedisServer;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis?.stop());

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const broker of opened.splice(0)) await broker.close();
});

let channelCount = 0;
const freshChannel = () => `test-${++channelCount}`;

async function broker(options: ConstructorParameters<typeof RedisBroker>[0] = {}): Promise<RedisBroker> {
  const created = new RedisBroker({ url: redis.url, ...options });
  opened.push(created);
  await created.ready;
  return created;
}

/** Collects what `broker` delivers for `channel`, to wait for a count. */
async function listen(target: RedisBroker, channel: string, onLost?: () => void) {
  const messages: BrokerMessage[] = [];
  let check = () => {};
  const stop = await target.subscribe(
    channel,
    (message) => {
      messages.push(message);
      check();
    },
    onLost,
  );
  const received = (count: number, ms = 5_000) =>
    new Promise<BrokerMessage[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${messages.length} of ${count} messages`)), ms);
      check = () => {
        if (messages.length < count) return;
        clearTimeout(timer);
        resolve(messages.slice(0, count));
      };
      check();
    });
  return { messages, received, stop };
}

/** Cuts off every broker's blocking reader, as a network fault would, once one is blocked. */
async function cutReadersOff(): Promise<void> {
  const admin = createClient({ url: redis.url });
  await admin.connect();
  try {
    for (const deadline = Date.now() + 5_000; Date.now() < deadline; ) {
      const list = String(await admin.sendCommand(['CLIENT', 'LIST']));
      const readers = [...list.matchAll(/id=(\d+) .*cmd=xread/g)].map((match) => match[1] as string);
      for (const id of readers) await admin.sendCommand(['CLIENT', 'KILL', 'ID', id]);
      if (readers.length > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('no reader was blocked in XREAD');
  } finally {
    admin.destroy();
  }
}

/**
 * A TCP proxy to Redis that can turn into a black hole: it keeps every connection open and
 * forwards nothing more, as a network that drops packets does (nothing is closed, no error).
 */
async function blackholeProxy(port: number) {
  let holed = false;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      sockets.add(from);
      from.on('data', (chunk) => holed || to.write(chunk));
      from.on('error', () => {});
      from.on('close', () => to.destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    blackhole() {
      holed = true;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

const texts = (messages: readonly BrokerMessage[]) => messages.map((message) => message.data);

/** A replay read to its end: its gap, and every message of every page. */
async function replayed(target: RedisBroker, channel: string, lastEventId = '') {
  const replay = await target.replay(channel, lastEventId);
  const messages: BrokerMessage[] = [];
  for await (const page of replay.pages) messages.push(...page);
  return { gap: replay.gap, messages };
}
const decoder = new TextDecoder();

describe('RedisBroker', () => {
  it('delivers every publish, from any instance, to every instance in one order with the same ids', async () => {
    const [a, b, c] = await Promise.all([broker(), broker(), broker()]);
    const channel = freshChannel();
    const onA = await listen(a, channel);
    const onB = await listen(b, channel);
    const publishers = [a, b, c];
    const ids = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        publishers[i % 3]?.publish(channel, { data: `n${i}`, event: i % 2 ? 'odd' : undefined }),
      ),
    );
    const [gotA, gotB] = await Promise.all([onA.received(60), onB.received(60)]);
    expect(gotA.map((m) => m.id)).toEqual(gotB.map((m) => m.id));
    expect(new Set(texts(gotA))).toEqual(new Set(Array.from({ length: 60 }, (_, i) => `n${i}`)));
    expect([...gotA.map((m) => m.id)].sort()).toEqual([...ids].sort());
    const odd = gotA.find((m) => m.data === 'n1');
    expect(decoder.decode(odd?.frame)).toBe(`event: odd\nid: ${odd?.id}\ndata: n1\n\n`);
  });

  it('starts delivery at once for a channel added while the reader is blocked on others', async () => {
    const target = await broker();
    await listen(target, freshChannel());
    // The reader now blocks on the first channel; a second must not wait for its timeout.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const channel = freshChannel();
    const late = await listen(target, channel);
    const started = Date.now();
    await target.publish(channel, { data: 'prompt' });
    await late.received(1, 1_000);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('replays after a Last-Event-ID, and says whether an id is expired or unknown', async () => {
    const target = await broker({ history: { size: 5 } });
    const channel = freshChannel();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push(await target.publish(channel, { data: `r${i}` }));
    const replay = await replayed(target, channel, ids[0]);
    expect(texts(replay.messages)).toEqual(['r1', 'r2']);
    expect(await replayed(target, channel, ids[2])).toEqual({ gap: undefined, messages: [] });
    expect(await replayed(target, channel, 'not-a-stream-id')).toEqual({ gap: 'unknown', messages: [] });
    expect(await replayed(target, channel, '99999999999999-0')).toEqual({ gap: 'unknown', messages: [] });
    expect(await replayed(target, freshChannel(), ids[0])).toEqual({ gap: 'unknown', messages: [] });
    // Push the first events out of the trimmed stream (MAXLEN ~ trims whole nodes: force it).
    for (let i = 3; i < 10; i++) ids.push(await target.publish(channel, { data: `r${i}` }));
    const trim = createClient({ url: redis.url });
    await trim.connect();
    await trim.sendCommand(['XTRIM', `ssekit:${channel}`, 'MAXLEN', '5']);
    trim.destroy();
    // What history still holds after an expired id still comes, after the gap.
    const expired = await replayed(target, channel, ids[0]);
    expect(expired.gap).toBe('expired');
    expect(texts(expired.messages)).toEqual(['r5', 'r6', 'r7', 'r8', 'r9']);
    const recent = await replayed(target, channel, ids[5]);
    expect(recent.gap).toBeUndefined();
    expect(texts(recent.messages)).toEqual(['r6', 'r7', 'r8', 'r9']);
    // Up to date, even with all history trimmed: nothing to send, and no gap.
    await trim.connect();
    await trim.sendCommand(['XTRIM', `ssekit:${channel}`, 'MAXLEN', '0']);
    trim.destroy();
    expect(await replayed(target, channel, ids[9])).toEqual({ gap: undefined, messages: [] });
    expect(await replayed(target, channel, ids[8])).toEqual({ gap: 'expired', messages: [] });
  });

  it('gives the end of history as newestId, from which replay misses nothing, on any instance', async () => {
    const [a, b] = await Promise.all([broker({ history: { size: 3 } }), broker({ history: { size: 3 } })]);
    const channel = freshChannel();
    const before = await a.newestId(channel); // no stream yet
    expect(before).toBe('0-0');
    expect(await replayed(b, channel, before)).toEqual({ gap: undefined, messages: [] });
    const first = await a.publish(channel, { data: 'first' });
    expect(await b.newestId(channel)).toBe(first);
    await b.publish(channel, { data: 'second' });
    expect(texts((await replayed(a, channel, before)).messages)).toEqual(['first', 'second']);
    expect(texts((await replayed(b, channel, first)).messages)).toEqual(['second']);
    // Once the stream lost events, replay from before all of them says so.
    for (let i = 0; i < 5; i++) await a.publish(channel, { data: `more ${i}` });
    const trim = createClient({ url: redis.url });
    await trim.connect();
    await trim.sendCommand(['XTRIM', `ssekit:${channel}`, 'MAXLEN', '3']);
    trim.destroy();
    expect((await replayed(b, channel, before)).gap).toBe('expired');
  });

  it('refuses an app-chosen id, which would break the one order', async () => {
    const target = await broker();
    await expect(target.publish(freshChannel(), { data: 'x', id: 'mine' })).rejects.toMatchObject({
      code: 'INVALID_OPTION',
    });
    expect(() => new RedisBroker({ url: redis.url, history: { size: 0 } })).toThrow(SseError);
    for (const commandTimeout of [0, 1.5, Number.NaN]) {
      expect(() => new RedisBroker({ url: redis.url, commandTimeout })).toThrow(SseError);
    }
  });

  it('takes the history MemoryBroker takes, but a size of 0 (the stream carries the events)', async () => {
    const target = await broker({ history: { size: 5, maxAge: 60_000.5 } });
    await expect(target.publish(freshChannel(), { data: 'x' })).resolves.toMatch(/^\d+-\d+$/);
    expect(() => new RedisBroker({ url: redis.url, history: { maxAge: 2 ** 31 } })).toThrow(SseError);
  });

  it('names the server when Redis cannot be reached at start-up', async () => {
    const unreachable = new RedisBroker({ url: 'redis://127.0.0.1:1' });
    await expect(unreachable.ready).rejects.toMatchObject({
      name: 'SseError',
      code: 'BROKER_UNAVAILABLE',
      message: expect.stringContaining('redis://127.0.0.1:1'),
    });
    await expect(unreachable.publish('x', { data: 'y' })).rejects.toMatchObject({ code: 'BROKER_UNAVAILABLE' });
    await unreachable.close();
    const withPassword = new RedisBroker({ url: 'redis://:secret@127.0.0.1:1' });
    await expect(withPassword.ready).rejects.toMatchObject({ message: expect.not.stringContaining('secret') });
    await withPassword.close();
  });

  it('names the server without any credential: password, username, or either in the query', async () => {
    const url = 'redis://alice:secret@127.0.0.1:1/0?password=hunter2&username=bob&db=0';
    const unreachable = new RedisBroker({ url });
    const error = (await unreachable.ready.catch((caught: unknown) => caught)) as Error;
    expect(error.message).toContain('127.0.0.1:1');
    expect(error.message).toContain('db=0');
    for (const secret of ['alice', 'secret', 'hunter2', 'bob']) expect(error.message).not.toContain(secret);
    await unreachable.close();
  });

  it('refuses a channel name with a lone surrogate, which Redis would store under another name', async () => {
    const target = await broker();
    for (const name of ['user:\ud800', 'user:\udfff!']) {
      await expect(target.publish(name, { data: 'x' })).rejects.toMatchObject({ code: 'INVALID_CHANNEL' });
      await expect(target.subscribe(name, () => {})).rejects.toMatchObject({ code: 'INVALID_CHANNEL' });
    }
    // U+FFFD itself is a fine name, and its own channel.
    const replacement = await listen(target, 'user:\ufffd');
    await target.publish('user:\ufffd', { data: 'own' });
    expect(texts(await replacement.received(1))).toEqual(['own']);
    expect(() => new RedisBroker({ url: redis.url, prefix: 'app\ud800:' })).toThrow(SseError);
  });

  it("reads replies in its own shapes, whatever types the app's client maps them to, and never spins", async () => {
    const client = createClient({
      url: redis.url,
      disableOfflineQueue: true,
      commandOptions: { typeMapping: { [RESP_TYPES.MAP]: Map } },
    });
    client.on('error', () => {});
    await client.connect();
    // Its type says so (a cast, as a JavaScript app would not need), not how the broker reads.
    const target = await broker({ client: client as unknown as RedisBrokerClient });
    const channel = freshChannel();
    const feed = await listen(target, channel);
    const admin = createClient({ url: redis.url });
    await admin.connect();
    const xreads = async () =>
      Number(/cmdstat_xread:calls=(\d+)/.exec(String(await admin.sendCommand(['INFO', 'commandstats'])))?.[1] ?? 0);
    const before = await xreads();
    await target.publish(channel, { data: 'mapped' });
    expect(texts(await feed.received(1))).toEqual(['mapped']);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // One read that returned the event, one that blocks, and a few for good measure: not thousands.
    expect((await xreads()) - before).toBeLessThan(10);
    admin.destroy();
    await target.close();
    client.destroy();
  });

  it('refuses a Redis that evicts keys, unless told to allow it, since an evicted stream is lost events', async () => {
    const evicting = await startRedis({
      persist: false,
      args: ['--maxmemory', '2mb', '--maxmemory-policy', 'allkeys-lru'],
    });
    try {
      const refused = new RedisBroker({ url: evicting.url });
      await expect(refused.ready).rejects.toMatchObject({
        code: 'BROKER_UNAVAILABLE',
        message: expect.stringMatching(/allkeys-lru.*maxmemory-policy noeviction/s),
      });
      await refused.close();
      const allowed = await broker({ url: evicting.url, allowEviction: true });
      await allowed.close();
      // A volatile-* policy evicts only keys with a TTL, and the broker's keys have none.
      const admin = createClient({ url: evicting.url });
      await admin.connect();
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory-policy', 'volatile-lru']);
      admin.destroy();
      const volatile = await broker({ url: evicting.url });
      await volatile.close();
    } finally {
      await evicting.stop();
    }
  });

  it("works over the app's own client, even one that speaks RESP2, and leaves it open", async () => {
    const client = createClient({ url: redis.url, RESP: 2, disableOfflineQueue: true });
    client.on('error', () => {});
    await client.connect();
    const target = await broker({ client });
    const channel = freshChannel();
    const feed = await listen(target, channel);
    const first = await target.publish(channel, { data: 'one' });
    await target.publish(channel, { data: 'two', event: 'named' });
    expect(texts(await feed.received(2))).toEqual(['one', 'two']);
    expect(texts((await replayed(target, channel, first)).messages)).toEqual(['two']);
    await target.close();
    expect(client.isOpen).toBe(true);
    client.destroy();
  });

  it('rejects a publish while Redis is down, and loses nothing Redis acknowledged across a restart', async () => {
    const [publisher, reader] = await Promise.all([broker(), broker()]);
    const channel = freshChannel();
    const feed = await listen(reader, channel);
    const before = await publisher.publish(channel, { data: 'before' });
    await feed.received(1);
    await redis.kill();
    await expect(publisher.publish(channel, { data: 'during' })).rejects.toMatchObject({
      code: 'BROKER_UNAVAILABLE',
      message: expect.stringContaining(redis.url),
    });
    await redis.restart();
    let after: string | undefined;
    for (let attempt = 0; !after && attempt < 100; attempt++) {
      after = await publisher.publish(channel, { data: 'after' }).catch(async () => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        return undefined;
      });
    }
    const got = await feed.received(2, 10_000);
    expect(got.map((m) => [m.id, m.data])).toEqual([
      [before, 'before'],
      [after, 'after'],
    ]);
  });

  it('tells a channel when Redis trimmed events it had not delivered, after a lost connection', async () => {
    const target = await broker();
    const channel = freshChannel();
    const onLost = vi.fn();
    await listen(target, channel, onLost);
    // Cut the reader off, then publish and trim, in one go, before it is back.
    const admin = createClient({ url: redis.url });
    await admin.connect();
    await cutReadersOff();
    const missed = admin.multi();
    for (let i = 0; i < 5; i++) missed.addCommand(['XADD', `ssekit:${channel}`, '*', 'd', `missed${i}`]);
    await missed.addCommand(['XTRIM', `ssekit:${channel}`, 'MAXLEN', '0']).exec();
    admin.destroy();
    await vi.waitFor(() => expect(onLost).toHaveBeenCalledOnce(), { timeout: 5_000 });
  });

  it('never hands out an id twice, even when Redis lost the stream between two publishes', async () => {
    const target = await broker();
    const channel = freshChannel();
    const key = `ssekit:${channel}`;
    const admin = createClient({ url: redis.url });
    await admin.connect();
    // Two publishes in one millisecond, made certain: Redis gives ids in the millisecond of the
    // stream's last id while its clock has not reached it, so an entry an hour ahead pins it.
    const pinned = Date.now() + 3_600_000;
    await admin.sendCommand(['XADD', key, `${pinned}-0`, 'd', 'pin']);
    const before = await target.publish(channel, { data: 'before' });
    expect(before).toBe(`${pinned}-1`);
    await admin.sendCommand(['FLUSHALL']);
    const after = await target.publish(channel, { data: 'after' });
    expect(target.compareIds(after, before), `${after} after ${before}`).toBeGreaterThan(0);
    // And a brand-new stream still starts at Redis's clock.
    const fresh = await target.publish(freshChannel(), { data: 'new' });
    expect(Number(fresh.split('-')[0])).toBeLessThan(pinned);
    admin.destroy();
  });

  it('tells a channel when its stream was lost after its last publish, with nothing more to read', async () => {
    const target = await broker({ commandTimeout: 500 });
    const channel = freshChannel();
    const onLost = vi.fn();
    const feed = await listen(target, channel, onLost);
    for (const n of [1, 2]) await target.publish(channel, { data: `e${n}` });
    await feed.received(2);
    // Evicted, flushed or lost in a restart after the last publish: no read will ever show it.
    const admin = createClient({ url: redis.url });
    await admin.connect();
    await admin.sendCommand(['DEL', `ssekit:${channel}`]);
    admin.destroy();
    await vi.waitFor(() => expect(onLost).toHaveBeenCalledOnce(), { timeout: 3_000 });
  });

  it('tells a channel when its stream was lost and made anew, however many entries the new one has', async () => {
    const [publisher, reader] = await Promise.all([broker(), broker()]);
    const channel = freshChannel();
    const onLost = vi.fn();
    const feed = await listen(reader, channel, onLost);
    for (const n of [1, 2, 3]) await publisher.publish(channel, { data: `e${n}` });
    await feed.received(3);
    // While the reader is cut off: an event it never gets, a flush, then more events than it
    // had counted, so that counting entries alone sees nothing wrong.
    const admin = createClient({ url: redis.url });
    await admin.connect();
    await cutReadersOff();
    const key = `ssekit:${channel}`;
    const lost = admin.multi().addCommand(['XADD', key, '*', 'd', 'missed']).addCommand(['FLUSHALL']);
    for (let i = 0; i < 5; i++) lost.addCommand(['XADD', key, '*', 'd', `new${i}`]);
    await lost.exec();
    admin.destroy();
    await vi.waitFor(() => expect(onLost).toHaveBeenCalledOnce(), { timeout: 5_000 });
    expect(texts(feed.messages)).toEqual(['e1', 'e2', 'e3']);
  });

  it('stores a publish retried with the same idempotency key once, and answers with its id', async () => {
    const target = await broker({ history: { size: 5 } });
    const channel = freshChannel();
    const key = `ssekit:${channel}`;
    const feed = await listen(target, channel);
    const first = await target.publish(channel, { data: 'once', idempotencyKey: 'order-1' });
    expect(await target.publish(channel, { data: 'once', idempotencyKey: 'order-1' })).toBe(first);
    const other = await target.publish(channel, { data: 'twice', idempotencyKey: 'order-2' });
    expect(other).not.toBe(first);
    // A key of one channel says nothing of another.
    expect(await target.publish(freshChannel(), { data: 'once', idempotencyKey: 'order-1' })).not.toBe(first);
    expect(texts(await feed.received(2))).toEqual(['once', 'twice']);
    const admin = createClient({ url: redis.url });
    await admin.connect();
    expect(await admin.sendCommand(['XLEN', key])).toBe(2);
    // Keys are remembered while history holds their event, and no longer: the record stays bounded.
    for (let i = 0; i < 300; i++) await target.publish(channel, { data: `n${i}`, idempotencyKey: `k${i}` });
    const first_kept = String(
      ((await admin.sendCommand(['XRANGE', key, '-', '+', 'COUNT', '1'])) as string[][])[0]?.[0],
    );
    expect(target.compareIds(first, first_kept)).toBeLessThan(0);
    const again = await target.publish(channel, { data: 'once', idempotencyKey: 'order-1' });
    expect(target.compareIds(again, first)).toBeGreaterThan(0);
    const record = Buffer.concat([Buffer.from(key), Buffer.from([0xff])]);
    expect(await admin.sendCommand(['TYPE', record])).toBe('hash');
    expect(Number(await admin.sendCommand(['HLEN', record]))).toBeLessThanOrEqual(2 * 5 + 100);
    admin.destroy();
  });

  it('rejects a command Redis does not answer in commandTimeout, a publish or a replay alike', async () => {
    const target = await broker({ commandTimeout: 500 });
    const channel = freshChannel();
    const first = await target.publish(channel, { data: 'before' });
    const admin = createClient({ url: redis.url });
    await admin.connect();
    await admin.sendCommand(['CLIENT', 'PAUSE', '1500', 'ALL']);
    const paused = Date.now();
    try {
      const started = Date.now();
      await expect(target.publish(channel, { data: 'paused' })).rejects.toMatchObject({
        code: 'BROKER_UNAVAILABLE',
        message: expect.stringContaining('500 ms'),
      });
      await expect(target.replay(channel, first)).rejects.toMatchObject({ code: 'BROKER_UNAVAILABLE' });
      expect(Date.now() - started).toBeLessThan(1_400);
    } finally {
      // Wait the pause out, so that the tests after this one find Redis answering.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1_600 - (Date.now() - paused))));
      admin.destroy();
    }
    // Back to normal once Redis answers again.
    await vi.waitFor(() => expect(target.publish(channel, { data: 'after' })).resolves.toMatch(/-/), {
      timeout: 5_000,
      interval: 100,
    });
  });

  it('notices a connection that stops answering, without an error or a close, and tells every channel', async () => {
    const proxy = await blackholeProxy(redis.port);
    try {
      const target = await broker({ url: proxy.url, commandTimeout: 500 });
      const publisher = await broker();
      const [one, two] = [freshChannel(), freshChannel()];
      const lost = [vi.fn(), vi.fn()];
      const feed = await listen(target, one, lost[0]);
      await listen(target, two, lost[1]);
      await publisher.publish(one, { data: 'live' });
      await feed.received(1);
      proxy.blackhole();
      const holed = Date.now();
      await expect(target.publish(one, { data: 'into the void' })).rejects.toMatchObject({
        code: 'BROKER_UNAVAILABLE',
      });
      expect(Date.now() - holed).toBeLessThan(1_000);
      // The blocking read returns within its block time (here the timeout) and the timeout.
      await vi.waitFor(() => expect(lost.map((fn) => fn.mock.calls.length > 0)).toEqual([true, true]), {
        timeout: 2_000,
      });
      expect(Date.now() - holed).toBeLessThan(2_000);
    } finally {
      await proxy.close();
    }
  });
});

describe('ChannelRegistry over RedisBroker', () => {
  function subscriber(registry: ChannelRegistry, channel: string, lastEventId?: string) {
    const sink = createWebSink(undefined, 1 << 20);
    const stream = new SseStream(sink, { heartbeat: false, lastEventId });
    registry.channel(channel).subscribe(stream);
    const reader = sink.body.getReader();
    let text = '';
    return {
      stream,
      async readUntil(done: (text: string) => boolean) {
        while (!done(text)) {
          const { value, done: ended } = await reader.read();
          if (ended) break;
          text += decoder.decode(value);
        }
        return text;
      },
    };
  }

  it('serializes each publish once, and writes the same bytes to every subscriber on every instance', async () => {
    const serializer = vi.fn((value: unknown) => JSON.stringify(value));
    const registries = [
      new ChannelRegistry({ broker: await broker(), serializer }),
      new ChannelRegistry({ broker: await broker(), serializer }),
    ];
    const channel = freshChannel();
    const subscribers = registries.flatMap((registry) =>
      Array.from({ length: 50 }, () => subscriber(registry, channel)),
    );
    // A subscription is live once an event reaches it: warm up until every one has had one.
    const warmedUp = Promise.all(subscribers.map((s) => s.readUntil((text) => text.includes('warm-up'))));
    let warm = true;
    void warmedUp.then(() => {
      warm = false;
    });
    while (warm) {
      await registries[0]?.channel(channel).publish('warm-up');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    serializer.mockClear();
    await registries[0]?.channel(channel).publish({ n: 1 });
    await registries[1]?.channel(channel).publish({ n: 2 });
    const bodies = await Promise.all(subscribers.map((s) => s.readUntil((text) => text.includes('{"n":2}'))));
    expect(serializer).toHaveBeenCalledTimes(2);
    const measured = bodies.map(
      (body) => /id: [^\n]+\ndata: \{"n":1\}\n\nid: [^\n]+\ndata: \{"n":2\}\n\n$/.exec(body)?.[0],
    );
    expect(measured[0]).toBeDefined();
    expect(new Set(measured).size).toBe(1);
    for (const { stream } of subscribers) stream.close();
  });

  it('sends a resumed client nothing it has, even while this instance lags behind Redis', async () => {
    const [publishing, lagging] = [
      new ChannelRegistry({ broker: await broker() }),
      new ChannelRegistry({ broker: await broker() }),
    ];
    const channel = freshChannel();
    const watcher = subscriber(lagging, channel);
    await cutReadersOff();
    // While the lagging instance reconnects, five events, and a client that has three of them.
    const ids = [];
    for (const n of [0, 1, 2, 3, 4]) ids.push(await publishing.channel(channel).publish(`e${n}`));
    const resumed = subscriber(lagging, channel, ids[2]);
    // Once its replay is in and the lagging instance has caught up, all it was ever sent.
    await resumed.readUntil((t) => t.includes('data: e4'));
    await watcher.readUntil((t) => t.includes('data: e4'));
    resumed.stream.close();
    const text = await resumed.readUntil(() => false);
    expect(text).toBe(`:\nid: ${ids[3]}\ndata: e3\n\nid: ${ids[4]}\ndata: e4\n\n`);
    watcher.stream.close();
  });

  it('resumes a client on another instance after its Last-Event-ID, or tells it of the gap', async () => {
    const [first, second] = [
      new ChannelRegistry({ broker: await broker() }),
      new ChannelRegistry({ broker: await broker() }),
    ];
    const channel = freshChannel();
    const ids = [];
    for (const n of [1, 2, 3]) ids.push(await first.channel(channel).publish(`e${n}`));
    const resumed = subscriber(second, channel, ids[0]);
    const text = await resumed.readUntil((t) => t.includes('data: e3'));
    expect(text).toBe(`:\nid: ${ids[1]}\ndata: e2\n\nid: ${ids[2]}\ndata: e3\n\n`);
    resumed.stream.close();
    const lost = subscriber(second, channel, '1-0');
    expect(await lost.readUntil((t) => t.includes(GAP_EVENT))).toContain(`event: ${GAP_EVENT}`);
    lost.stream.close();
  });
});

describe('followChannels over RedisBroker', () => {
  it('resumes every channel of a stream on another instance from its one cursor, exactly once', async () => {
    const key = new CursorKey('the secret both instances share, 32+ bytes');
    const instance = async () => {
      const registry = new ChannelRegistry({ broker: await broker() });
      const served: { followed?: FollowedChannels } = {};
      const app = {
        fetch: (request: Request) =>
          createResponse(request, async (stream) => {
            const channels = new URL(request.url).searchParams.get('channels')?.split(',') ?? [];
            served.followed = await followChannels(registry, stream, { channels, key, restore: () => true });
          }),
      };
      return { registry, app, served };
    };
    const [a, b] = [await instance(), await instance()];
    const [one, two, late] = [freshChannel(), freshChannel(), freshChannel()];
    const published = new Map<string, string[]>([one, two, late].map((channel) => [channel, []]));
    const publish = async (from: ChannelRegistry, channel: string, data: string) => {
      await from.channel(channel).publish(data);
      published.get(channel)?.push(`${channel}\n${data}`);
    };
    const path = `/?channels=${one},${two}`;

    const first = await openEvents(a.app, { path });
    await vi.waitFor(() => expect(a.registry.names()).toHaveLength(2));
    await publish(b.registry, one, 'one 1');
    await publish(a.registry, two, 'two 1');
    await first.take(2);
    first.close();
    // While the client is away, published from either instance.
    await publish(a.registry, two, 'two 2');
    await publish(b.registry, one, 'one 2');

    const second = await openEvents(b.app, { path, lastEventId: first.lastEventId });
    await second.take(2);
    // A channel added on B, cut before it sent anything, comes back on A with what it missed.
    await vi.waitFor(() => expect(b.served.followed).toBeDefined());
    await b.served.followed?.add(late);
    expect((await second.next()).event).toBe(CHANNELS_EVENT); // the cursor with `late`, at once
    await publish(a.registry, one, 'one 3');
    await second.next();
    second.close();
    await publish(b.registry, late, 'late 1');
    await publish(b.registry, two, 'two 3');

    const third = await openEvents(a.app, { path, lastEventId: second.lastEventId });
    await third.take(2);
    await vi.waitFor(() => expect(a.served.followed?.channels).toEqual([one, two, late]));
    const received = [first, second, third]
      .flatMap((reader) => reader.received)
      .filter(({ event }) => event !== CHANNELS_EVENT);
    expect(received.map(({ event }) => event)).not.toContain(GAP_EVENT);
    for (const [channel, events] of published) {
      expect(received.map(({ data }) => String(data)).filter((data) => data.startsWith(`${channel}\n`))).toEqual(
        events,
      );
    }
  });
});

describe('the channels() routes over RedisBroker', () => {
  it('change a stream through a subscribe call that reaches another instance, authorized there', async () => {
    const key = new CursorKey('the secret both instances share, 32+ bytes');
    const instance = async () => {
      const registry = new ChannelRegistry({ broker: await broker() });
      const route = createChannelsRoute<Request>(
        registry,
        { key, relayTimeout: 300, authorize: (channel) => (channel.startsWith('secret') ? 403 : true) },
        (request) => request.url,
      );
      const subscriptions = async (body: unknown) => {
        const request = new Request('http://x/subscriptions', { method: 'POST', body: JSON.stringify(body) });
        const answer = await route.change(request, await readJsonBody(request.body));
        return { status: answer.status, ...answer.body };
      };
      return {
        registry,
        subscriptions,
        app: { fetch: (request: Request) => createResponse(request, (stream) => route.open(request, stream)) },
      };
    };
    const [a, b] = [await instance(), await instance()];
    const [one, added, secret] = [freshChannel(), freshChannel(), `secret-${freshChannel()}`];

    const events = await openEvents(a.app, { path: `/?channels=${one}` });
    const opening = await events.next();
    expect(opening.event).toBe(STREAM_EVENT);
    const { stream } = JSON.parse(String(opening.data)) as { stream: string };

    // Asked of B, which does not hold the stream: B authorizes, A applies and answers.
    expect(await b.subscriptions({ stream, subscribe: [added, secret] })).toEqual({
      status: 200,
      subscribed: [added],
      unsubscribed: [],
      refused: [{ channel: secret, status: 403 }],
      cursor: expect.any(String),
    });
    expect(a.registry.get(added)?.size).toBe(1);
    expect((await events.next()).event).toBe(CHANNELS_EVENT);
    await b.registry.channel(secret).publish('never');
    await b.registry.channel(added).publish('through B');
    expect(String((await events.next()).data)).toBe(`${added}\nthrough B`);

    expect(await b.subscriptions({ stream, unsubscribe: [added] })).toMatchObject({
      status: 200,
      unsubscribed: [added],
    });
    expect(a.registry.get(added)).toBeUndefined();
    expect((await events.next()).event).toBe(CHANNELS_EVENT);
    await a.registry.channel(added).publish('after leaving');
    await b.registry.channel(one).publish('still here');
    expect(String((await events.next()).data)).toBe(`${one}\nstill here`);

    // No instance holds a stream of that id: B waits relayTimeout for an answer, then says so.
    expect(await b.subscriptions({ stream: 'no-such-stream', subscribe: [added] })).toMatchObject({ status: 404 });
    events.close();
    await vi.waitFor(async () => expect((await b.subscriptions({ stream, subscribe: [added] })).status).toBe(404));
    await Promise.all([a.registry.close(), b.registry.close()]);
  });
});
