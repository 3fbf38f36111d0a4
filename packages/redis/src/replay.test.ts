// Replays from Redis come a page at a time, each read only when the one before has been taken,
// so that a resuming client costs what a live one costs however long the history.
import { createClient } from '@redis/client';
import type { BrokerMessage } from '@ssekit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../test/redis-server.js';
import { RedisBroker } from './index.js';

let redis: RedisServer;
let admin: ReturnType<typeof createClient>;
let broker: RedisBroker;
beforeAll(async () => {
  redis = await startRedis({ persist: false });
  admin = createClient({ url: redis.url });
  await admin.connect();
  broker = new RedisBroker({ url: redis.url, history: { size: 1000 } });
  await broker.ready;
});
afterAll(async () => {
  await broker?.close();
  admin?.destroy();
  await redis?.stop();
});

/** How many XRANGE commands the server has run so far. */
async function xranges(): Promise<number> {
  const stats = String(await admin.sendCommand(['INFO', 'commandstats']));
  return Number(/cmdstat_xrange:calls=(\d+)/.exec(stats)?.[1] ?? 0);
}

describe('RedisBroker.replay', () => {
  it('reads history in pages of about pageBytes, each only when the one before is taken', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(await broker.publish('paged', { data: `${i}:${'x'.repeat(10_000)}` }));
    const before = await xranges();
    const replay = await broker.replay('paged', ids[0] as string, { pageBytes: 40_000 });
    expect(replay.gap).toBeUndefined();
    expect(await xranges()).toBe(before + 1); // the first read, of the client's id and one more
    const pages: BrokerMessage[][] = [];
    for await (const page of replay.pages) {
      pages.push([...page]);
      // One read per page, made only when the page is asked for.
      expect(await xranges()).toBe(before + pages.length);
    }
    expect(pages.flat().map((m) => m.id)).toEqual(ids.slice(1));
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(4);
  });

  it('ends a replay that history has overtaken with REPLAY_OVERTAKEN, never skipping quietly', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await broker.publish('overtaken', { data: String(i) }));
    const replay = await broker.replay('overtaken', ids[0] as string, { pageBytes: 1 });
    const pages = replay.pages[Symbol.asyncIterator]();
    const first = await pages.next();
    expect((first.value as BrokerMessage[]).map((m) => m.id)).toEqual([ids[1]]);
    // History moves on past the point the replay had reached.
    await admin.sendCommand(['XTRIM', 'ssekit:overtaken', 'MAXLEN', '3']);
    await expect(pages.next()).rejects.toMatchObject({ code: 'REPLAY_OVERTAKEN' });
  });
});
