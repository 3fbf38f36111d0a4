import { describe, expect, it } from 'vitest';
import { type BrokerMessage, ChannelRegistry, channelRoute, MemoryBroker, type Replay } from './index.js';

/** Every message of a replay's pages, and its gap. */
async function read(replay: Replay) {
  const messages: BrokerMessage[] = [];
  for await (const page of replay.pages) messages.push(...page);
  return { gap: replay.gap, ids: messages.map((m) => m.id) };
}

/** `<epoch>-<n>` split in two. */
const parts = (id: string) => {
  const at = id.lastIndexOf('-');
  return { epoch: id.slice(0, at), n: Number(id.slice(at + 1)) };
};

describe('MemoryBroker', () => {
  it('counts ids per channel under a random epoch, so one channel tells nothing of another', async () => {
    const broker = new MemoryBroker();
    const a = [await broker.publish('a', { data: '1' }), await broker.publish('a', { data: '2' })];
    const b = await broker.publish('b', { data: '1' });
    expect(a.map((id) => parts(id).n)).toEqual([1, 2]);
    expect(parts(b).n).toBe(1);
    expect(parts(b).epoch).not.toBe(parts(a[0] as string).epoch);
    // Not the time the process (or the channel) started.
    const now = Date.now().toString(36);
    for (const id of [...a, b]) expect(parts(id).epoch).not.toContain(now.slice(0, 5));
    await broker.close();
  });

  it('answers expired for an id the channel gave and dropped, unknown for any other', async () => {
    const broker = new MemoryBroker({ history: { size: 2 } });
    const a = [];
    for (let i = 0; i < 4; i++) a.push(await broker.publish('a', { data: String(i) }));
    const b = await broker.publish('b', { data: 'b' });
    const { epoch } = parts(a[0] as string);
    // Dropped from history, but the next one is still held: nothing is missing.
    expect(await read(await broker.replay('a', a[1] as string))).toEqual({ gap: undefined, ids: a.slice(2) });
    expect(await read(await broker.replay('a', a[2] as string))).toEqual({ gap: undefined, ids: a.slice(3) });
    // Expired: the ids after it that history still holds follow the gap.
    expect(await read(await broker.replay('a', a[0] as string))).toEqual({ gap: 'expired', ids: a.slice(2) });
    // The newest needs nothing, even once history no longer holds it.
    expect(await read(await broker.replay('a', a[3] as string))).toEqual({ gap: undefined, ids: [] });
    for (const foreign of [b, `${epoch}-5`, `${epoch}-01`, 'made-up']) {
      expect(await read(await broker.replay('a', foreign))).toEqual({ gap: 'unknown', ids: [] });
    }
    await broker.close();
  });

  it('gives the end of history as newestId, from which replay misses nothing', async () => {
    const broker = new MemoryBroker({ history: { size: 2 } });
    // Nothing published and nobody listening: a start before anything.
    const before = await broker.newestId('a');
    const first = await broker.publish('a', { data: '1' });
    const start = await broker.newestId('a');
    expect(start).toBe(first);
    const second = await broker.publish('a', { data: '2' });
    expect(await read(await broker.replay('a', before))).toEqual({ gap: undefined, ids: [first, second] });
    expect(await read(await broker.replay('a', start))).toEqual({ gap: undefined, ids: [second] });
    expect(await read(await broker.replay('b', await broker.newestId('b')))).toEqual({ gap: undefined, ids: [] });
    // A channel that exists but has sent nothing yet starts at its `-0`; once history lost its
    // first events, replay from there says so.
    await broker.subscribe('c', () => {});
    const empty = await broker.newestId('c');
    expect(empty).toMatch(/-0$/);
    const c = [];
    for (let i = 0; i < 3; i++) c.push(await broker.publish('c', { data: String(i) }));
    expect(await read(await broker.replay('c', empty))).toEqual({ gap: 'expired', ids: c.slice(1) });
    await broker.close();
  });

  it('stores an event once per idempotency key while history holds it', async () => {
    const broker = new MemoryBroker({ history: { size: 2 } });
    const delivered: string[] = [];
    await broker.subscribe('a', (message) => delivered.push(message.id));
    const first = await broker.publish('a', { data: 'x', idempotencyKey: 'order-1' });
    expect(await broker.publish('a', { data: 'x', idempotencyKey: 'order-1' })).toBe(first);
    const other = await broker.publish('a', { data: 'y', idempotencyKey: 'order-2' });
    expect(other).not.toBe(first);
    // The same key on another channel is another event.
    expect(await broker.publish('b', { data: 'x', idempotencyKey: 'order-1' })).not.toBe(first);
    expect(delivered).toEqual([first, other]);
    // Once history has dropped the event, its key is forgotten with it.
    await broker.publish('a', { data: 'z' });
    expect(await broker.publish('a', { data: 'x', idempotencyKey: 'order-1' })).not.toBe(first);
    await broker.close();
  });

  it('refuses channel names that are not well-formed Unicode, at the call site', async () => {
    const broker = new MemoryBroker();
    const invalid = expect.objectContaining({ code: 'INVALID_CHANNEL' });
    for (const name of ['user:\ud800', 'doc:\udc00x', '\ud83d']) {
      expect(() => broker.publish(name, { data: 'x' })).toThrow(invalid);
      expect(() => broker.subscribe(name, () => {})).toThrow(invalid);
      expect(() => broker.replay(name, 'x')).toThrow(invalid);
      expect(() => new ChannelRegistry({ broker }).channel(name)).toThrow(invalid);
    }
    // Made from a request, such a name is the client's error: 400, and nothing in the app's log.
    const route = channelRoute<{ room: string }>(new ChannelRegistry({ broker }), (request) => `room:${request.room}`);
    expect(route({ room: '\ud800' })).toEqual({ status: 400 });
    expect(route({ room: 'ok' })).toHaveProperty('subscribe');
    // A well-formed name with U+FFFD or an astral character is a name like any other.
    const ids = [
      await broker.publish('doc:\ufffd', { data: '1' }),
      await broker.publish('doc:\u{1f600}', { data: '1' }),
    ];
    expect(ids.map((id) => parts(id).n)).toEqual([1, 1]);
    await broker.close();
  });

  it('refuses an idempotency key that is not one', () => {
    const news = new ChannelRegistry().channel('news');
    for (const key of ['', 'k'.repeat(257), 'a\ud800']) {
      expect(() => news.publish('x', { idempotencyKey: key })).toThrow(
        expect.objectContaining({ code: 'INVALID_OPTION' }),
      );
    }
  });
});
