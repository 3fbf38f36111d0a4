import http from 'node:http';
import { openEvents, type ReceivedEvent } from '@ssekit/testing';
import '@ssekit/testing/vitest';
import { describe, expect, it } from 'vitest';
import { listenForTest, until } from '../test/helpers.js';
import { MemoryBroker } from './broker.js';
import { ChannelRegistry, RELAY_CHANNEL } from './channel.js';
import { CursorKey, encodeCursor } from './cursor.js';
import { CHANNELS_EVENT, type FollowedChannels, type FollowOptions, followChannels } from './many-channels.js';
import { createStream } from './node/index.js';

const key = new CursorKey('the same secret on every instance, 32+ bytes');

/** A server whose streams follow the channels of `?channels=a,b`; `followed` is the last one's. */
async function serve(registry: ChannelRegistry, options: Partial<FollowOptions> = {}) {
  const served: { followed?: FollowedChannels; errors: unknown[] } = { errors: [] };
  const server = http.createServer(async (req, res) => {
    const stream = createStream(req, res, { heartbeat: false });
    const channels = new URL(req.url ?? '/', 'http://x').searchParams.get('channels')?.split(',') ?? [];
    try {
      served.followed = await followChannels(registry, stream, { channels, key, ...options });
    } catch (error) {
      served.errors.push(error);
      stream.close();
    }
  });
  const { url } = await listenForTest(server);
  return { ...served, served, url };
}

/** `[channel, data]` of an event of a stream of many channels. */
const split = ({ event, data }: ReceivedEvent) => {
  const [channel, ...rest] = String(data).split('\n');
  return [event, channel, rest.join('\n')];
};

async function publishAll(registry: ChannelRegistry, channels: string[], label: string) {
  for (const channel of channels) await registry.channel(channel).publish(`${label} ${channel}`);
}

describe('followChannels', () => {
  it('sends the events of every channel down one stream, each naming its channel', async () => {
    const registry = new ChannelRegistry();
    const { url } = await serve(registry);
    const events = await openEvents(`${url}/?channels=a,b,c`);
    await until(() => (registry.names().length === 3 ? true : undefined));
    await publishAll(registry, ['a', 'b', 'c'], 'one');
    await registry.channel('b').publish('two\nlines', { event: 'note' });
    const received = await events.take(4);
    expect(received.map(split)).toEqual([
      ['message', 'a', 'one a'],
      ['message', 'b', 'one b'],
      ['message', 'c', 'one c'],
      ['note', 'b', 'two\nlines'],
    ]);
    // Each id is a cursor, opaque to the client, and no longer than core reads.
    expect(new Set(received.map((event) => event.id)).size).toBe(4);
    expect(events.lastEventId).toMatch(/^1[\w-]+$/);
  });

  it('resumes every channel from one Last-Event-ID, each with exactly what it missed, in order', async () => {
    const registry = new ChannelRegistry({ broker: new MemoryBroker({ history: { size: 100 } }) });
    const { url } = await serve(registry);
    const channels = ['a', 'b', 'c'];
    const published: Record<string, string[]> = { a: [], b: [], c: [] };
    const received: Record<string, string[]> = { a: [], b: [], c: [] };
    const publish = async (channel: string, data: string) => {
      await registry.channel(channel).publish(data);
      published[channel]?.push(data);
    };
    let events = await openEvents(`${url}/?channels=a,b,c`);
    for (let round = 0; round < 5; round++) {
      await until(() => (registry.names().length === 3 ? true : undefined));
      // A different number of events per channel, then a cut, and more while away.
      for (const [i, channel] of channels.entries()) {
        for (let n = 0; n < 1 + ((round + i) % 3); n++) await publish(channel, `${channel} ${round}.${n}`);
      }
      await events.collect({ ms: 30 });
      events.close();
      await until(() => (registry.names().length === 0 ? true : undefined));
      for (const channel of channels.slice(round % 3)) await publish(channel, `${channel} away ${round}`);
      for (const event of events.received) {
        expect(event.event).toBe('message'); // never a gap
        const [, channel, data] = split(event) as [string, string, string];
        received[channel]?.push(data);
      }
      events = await events.reconnect();
    }
    await events.collect({ ms: 50 });
    for (const event of events.received) {
      const [, channel, data] = split(event) as [string, string, string];
      received[channel]?.push(data);
    }
    // Exactly once each, in each channel's order.
    expect(received).toEqual(published);
  });

  it('brings back a channel added later, even one that sent nothing before the cut, if restore allows', async () => {
    const registry = new ChannelRegistry();
    const { served, url } = await serve(registry, { restore: (channel) => channel !== 'secret' });
    const events = await openEvents(`${url}/?channels=a`);
    await until(() => served.followed);
    await served.followed?.add('late');
    await served.followed?.add('secret');
    expect(served.followed?.channels).toEqual(['a', 'late', 'secret']);
    await registry.channel('a').publish('seen');
    await events.take(3); // two changes, and `seen`, whose cursor holds all three channels
    events.close();
    await until(() => (registry.names().length === 0 ? true : undefined));
    await publishAll(registry, ['late', 'secret', 'a'], 'away');
    const back = await events.reconnect();
    // Restored: `late` from where it was added, `a` after its last event; not `secret`.
    expect((await back.take(2)).map(split)).toEqual([
      ['message', 'a', 'away a'],
      ['message', 'late', 'away late'],
    ]);
    expect(served.followed?.channels).toEqual(['a', 'late']);
  });

  it('brings back what fits of a cursor made before maxChannels was lowered', async () => {
    const registry = new ChannelRegistry();
    const before = await serve(registry, { restore: () => true });
    const events = await openEvents(`${before.url}/?channels=a,b,c`);
    await until(() => before.served.followed);
    await registry.channel('c').publish('seen');
    await events.next();
    const after = await serve(registry, { restore: () => true, maxChannels: 2 });
    await openEvents(`${after.url}/?channels=a`, { lastEventId: events.lastEventId });
    await until(() => after.served.followed);
    expect(after.served.followed?.channels).toEqual(['a', 'b']);
    expect(after.served.errors).toEqual([]);
  });

  it('stops sending a removed channel, and leaves it out of the cursor', async () => {
    const registry = new ChannelRegistry();
    const { served, url } = await serve(registry, { restore: () => true });
    const events = await openEvents(`${url}/?channels=a`);
    await until(() => served.followed);
    await served.followed?.add('b');
    await served.followed?.remove('b');
    await served.followed?.remove('b');
    await publishAll(registry, ['b', 'a'], 'after');
    // Each change sends the channels and the cursor at once (the no-op second remove, nothing).
    expect((await events.take(3)).map(({ event, data }) => [event, data])).toEqual([
      [CHANNELS_EVENT, '{"channels":["a","b"]}'],
      [CHANNELS_EVENT, '{"channels":["a"]}'],
      ['message', 'a\nafter a'],
    ]);
    await events.reconnect();
    await until(() => (registry.get('a')?.size === 1 ? true : undefined));
    expect(served.followed?.channels).toEqual(['a']); // `b` is not in the cursor to restore
    expect(registry.get('b')).toBeUndefined();
  });

  it('resumes with a gap per channel from a cursor that is not the server’s, and replays nothing', async () => {
    const registry = new ChannelRegistry();
    const { url } = await serve(registry, { restore: () => true });
    await publishAll(registry, ['a', 'b'], 'old');
    // Signed, but with another key: another deployment's, or a guess.
    const other = new CursorKey('a different secret, also 32 bytes or more');
    const positions = new Map([
      ['a', '0'],
      ['b', '0'],
    ]);
    const otherKeys = encodeCursor(positions, await other.sign(positions.keys())) as string;
    for (const lastEventId of ['forged', '1AAAAAAAAAAAAAAAAYT0x', 'x'.repeat(300), otherKeys]) {
      const events = await openEvents(`${url}/?channels=a,b`, { lastEventId });
      const gaps = await events.take(2);
      expect(gaps.map((event) => split(event).slice(0, 2))).toEqual([
        ['ssekit-gap', 'a'],
        ['ssekit-gap', 'b'],
      ]);
      await registry.channel('a').publish('live');
      expect(split(await events.next())).toEqual(['message', 'a', 'live']);
      events.close();
    }
  });

  it('sends a gap for the one channel whose history cannot cover the resume', async () => {
    const registry = new ChannelRegistry({ broker: new MemoryBroker({ history: { size: 2 } }) });
    const { url } = await serve(registry);
    const events = await openEvents(`${url}/?channels=busy,calm`);
    await until(() => (registry.names().length === 2 ? true : undefined));
    await publishAll(registry, ['busy', 'calm'], 'first');
    await events.take(2);
    events.close();
    await until(() => (registry.names().length === 0 ? true : undefined));
    for (let i = 0; i < 3; i++) await registry.channel('busy').publish(`busy ${i}`);
    await registry.channel('calm').publish('calm 0');
    const back = await events.reconnect();
    const received = (await back.take(4)).map(split);
    expect(received).toContainEqual(['ssekit-gap', 'busy', expect.stringContaining('"reason":"expired"')]);
    expect(received.filter(([event]) => event === 'ssekit-gap')).toHaveLength(1);
    expect(received).toContainEqual(['message', 'calm', 'calm 0']);
  });

  it('follows 30 channels without a warning of too many listeners, and releases them all', async () => {
    const warnings: Error[] = [];
    const warn = (warning: Error) => warnings.push(warning);
    process.on('warning', warn);
    try {
      const registry = new ChannelRegistry();
      const { url } = await serve(registry);
      const channels = Array.from({ length: 30 }, (_, i) => `c${i}`);
      const events = await openEvents(`${url}/?channels=${channels.join(',')}`);
      await until(() => (registry.names().length === 30 ? true : undefined));
      await registry.channel('c29').publish('last');
      expect(split(await events.next())).toEqual(['message', 'c29', 'last']);
      events.close();
      await until(() => (registry.names().length === 0 ? true : undefined));
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      expect(warnings.map((warning) => warning.message)).toEqual([]);
    } finally {
      process.off('warning', warn);
    }
  });

  it('bounds the channels of a stream, and refuses a name with a line break or the relay’s', async () => {
    const registry = new ChannelRegistry();
    const { served, url } = await serve(registry, { maxChannels: 2 });
    await openEvents(`${url}/?channels=a,b,c`);
    await until(() => (served.errors.length === 1 ? true : undefined));
    expect(served.errors[0]).toMatchObject({ code: 'TOO_MANY_CHANNELS' });
    await openEvents(`${url}/?channels=a`);
    await until(() => served.followed);
    await expect(served.followed?.add('line\nbreak')).rejects.toMatchObject({ code: 'INVALID_CHANNEL' });
    await expect(served.followed?.add(RELAY_CHANNEL)).rejects.toMatchObject({ code: 'INVALID_CHANNEL' });
    expect(() => registry.channel(RELAY_CHANNEL)).toThrow(expect.objectContaining({ code: 'INVALID_CHANNEL' }));
    await served.followed?.add('b');
    await expect(served.followed?.add('c')).rejects.toMatchObject({ code: 'TOO_MANY_CHANNELS' });
    expect(served.followed?.channels).toEqual(['a', 'b']);
    const long = Array.from({ length: 40 }, (_, i) => `${'n'.repeat(100)}${i}`);
    const { served: roomy, url: roomyUrl } = await serve(registry, { maxChannels: 100 });
    await openEvents(`${roomyUrl}/?channels=${long.join(',')}`);
    await until(() => (roomy.errors.length === 1 ? true : undefined));
    expect(roomy.errors[0]).toMatchObject({ code: 'TOO_MANY_CHANNELS' });
  });
});
