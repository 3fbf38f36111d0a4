// @ssekit/cloudflare in workerd from npm: streams in two Worker services, one Durable Object
// per channel with SQLite storage on disk, publishes from other requests, a restart of the
// whole runtime, an object the runtime evicts, one that fails, one that resets.
import { type EventReader, openEvents } from '@ssekit/testing';
import { brokerContract } from '@ssekit/testing/broker-contract';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepare, startWorkerd, type Workerd } from './workerd.js';

let dir: string;
let remove: () => void;
let server: Workerd;

beforeAll(async () => {
  ({ dir, remove } = await prepare());
  server = await startWorkerd(dir);
}, 60_000);

afterAll(async () => {
  await server?.kill();
  remove?.();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let rooms = 0;
const nextRoom = (name: string) => `${name}-${++rooms}-${Date.now().toString(36)}`;

async function publish(url: string, room: string, text: string): Promise<Response> {
  return fetch(`${url}/publish/${room}`, { method: 'POST', body: text });
}

interface ObjectState {
  inFlight: number;
  links: number;
  constructions: number;
}

async function inspect(room: string): Promise<ObjectState> {
  return (await fetch(`${server.url}/object/${room}/inspect`)).json() as Promise<ObjectState>;
}

/** Polls until `check` holds, for at most `ms`. */
async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** The data of each event a reader received, in order. */
const texts = (reader: EventReader) => reader.received.map(({ data }) => data);

describe('a channel across Worker services and requests', () => {
  it('reaches streams opened by many requests of two services, once each and in order', async () => {
    const room = nextRoom('fan');
    const readers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => openEvents(`${i % 2 ? server.secondUrl : server.url}/events/${room}`)),
    );
    const published: string[] = [];
    for (let i = 0; i < 30; i++) {
      // Each publish is a request of its own, on either service.
      const response = await publish(i % 3 ? server.url : server.secondUrl, room, `m${i}`);
      expect(response.status).toBe(200);
      published.push(`m${i}`);
    }
    await until(() => readers.every((reader) => reader.received.length >= 30), 10_000, 'every stream to get 30');
    await sleep(200); // room for a duplicate to show
    for (const reader of readers) expect(texts(reader)).toEqual(published);
    // Ids follow publish order, as compareIds says.
    const ids = (readers[0] as EventReader).received.map(({ id }) => Number(id?.split('-')[1]));
    expect(ids).toEqual(ids.map((_, i) => (ids[0] as number) + i));

    // The object serves no stream: no request of it is open, and it holds one link (a
    // WebSocket) per isolate that follows the channel, here one per Worker service.
    const state = await inspect(room);
    expect(state).toMatchObject({ inFlight: 0, links: 2 });
    for (const reader of readers) reader.close();
    // The Worker notices a client that left at its next heartbeat (1 s here); with the last
    // stream of the channel in an isolate, the isolate's link closes.
    await sleep(2_000);
    console.log('links 2 s after the clients left', await inspect(room));
    // Any later request that uses the broker in an isolate closes the links left there.
    await publish(server.url, nextRoom('other'), 'x');
    await publish(server.secondUrl, nextRoom('other'), 'x');
    await until(async () => (await inspect(room)).links === 0, 5_000, 'every link to close');
  });

  it("closes a link left by streams that have gone at the channel's next event", async () => {
    const room = nextRoom('leave');
    const readers = await Promise.all([
      openEvents(`${server.url}/events/${room}`),
      openEvents(`${server.secondUrl}/events/${room}`),
    ]);
    expect((await inspect(room)).links).toBe(2);
    for (const reader of readers) reader.close();
    await sleep(2_000); // past a heartbeat: both isolates saw their stream go
    // The second service's isolate uses the broker no more: its link closes at this event.
    expect((await publish(server.url, room, 'to nobody')).status).toBe(200);
    await until(async () => (await inspect(room)).links === 0, 5_000, 'both links to close');
  });

  it('publishes through the authenticated route, and refuses a wrong token', async () => {
    const room = nextRoom('api');
    const reader = await openEvents(`${server.url}/events/${room}`);
    const post = (token: string, body: unknown) =>
      fetch(`${server.secondUrl}/api/publish`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post('a-wrong-token-of-32-characters-at-least!', { channel: room, data: 'x' })).status).toBe(401);
    expect((await post('a-test-token-of-32-characters-at-least', { data: 'x' })).status).toBe(400);
    const tooLarge = { channel: room, data: 'x'.repeat(1024 * 1024) };
    expect((await post('a-test-token-of-32-characters-at-least', tooLarge)).status).toBe(413);
    const ok = await post('a-test-token-of-32-characters-at-least', { channel: room, data: { n: 1 }, event: 'note' });
    expect(ok.status).toBe(200);
    const { id } = (await ok.json()) as { id: string };
    expect(await reader.next()).toMatchObject({ event: 'note', data: '{"n":1}', id });
    expect(reader.received).toHaveLength(1);
    reader.close();
  });
});

describe('when an object fails', () => {
  it('an overloaded object refuses publishes with BROKER_UNAVAILABLE; streams keep their heartbeats and go on after', async () => {
    const room = nextRoom('overload');
    const reader = await openEvents(`${server.url}/events/${room}`);
    expect((await publish(server.url, room, 'before')).status).toBe(200);
    await fetch(`${server.url}/object/${room}/overload?on=1`);
    try {
      const refused = await publish(server.secondUrl, room, 'refused');
      expect(refused.status).toBe(503);
      expect(await refused.text()).toMatch(/cannot publish channel/);
      const heartbeats = reader.comments.length;
      await until(() => reader.comments.length >= heartbeats + 2, 5_000, 'two heartbeats');
      expect(reader.ended).toBe(false);
    } finally {
      await fetch(`${server.url}/object/${room}/overload?on=0`);
    }
    expect((await publish(server.url, room, 'after')).status).toBe(200);
    await until(() => reader.received.length >= 2, 5_000, 'the event after');
    expect(texts(reader)).toEqual(['before', 'after']);
    reader.close();
  });

  it('an object that resets ends its streams with a retry hint, and they resume after their last id', async () => {
    const room = nextRoom('reset');
    const readers = await Promise.all([
      openEvents(`${server.url}/events/${room}`),
      openEvents(`${server.secondUrl}/events/${room}`),
    ]);
    expect((await publish(server.url, room, 'one')).status).toBe(200);
    await until(() => readers.every((reader) => reader.received.length === 1), 5_000, 'the first event');
    await fetch(`${server.url}/object/${room}/reset`);
    await until(() => readers.every((reader) => reader.ended), 5_000, 'the streams to end');
    for (const reader of readers) expect(reader.retry).toBeGreaterThan(0);
    // Published while nobody listens: the resumed streams get it from history.
    expect((await publish(server.url, room, 'two')).status).toBe(200);
    const resumed = await Promise.all(readers.map((reader) => reader.reconnect()));
    expect((await publish(server.secondUrl, room, 'three')).status).toBe(200);
    await until(() => resumed.every((reader) => reader.received.length === 2), 5_000, 'two events each');
    for (const reader of resumed) {
      expect(texts(reader)).toEqual(['two', 'three']);
      reader.close();
    }
  });
});

describe('an object evicted while idle', () => {
  it('is built again from storage: links kept by hibernation still deliver, and history replays', async () => {
    const room = nextRoom('evict');
    const reader = await openEvents(`${server.url}/events/${room}`);
    const first = await (await publish(server.url, room, 'one')).text();
    const before = await inspect(room);
    // workerd evicts an idle object after about 10 s; its links hibernate with it.
    await sleep(12_000);
    expect((await publish(server.secondUrl, room, 'two')).status).toBe(200);
    const after = await inspect(room);
    expect(after.constructions).toBeGreaterThan(before.constructions);
    expect(after.links).toBe(1);
    await until(() => reader.received.length === 2, 5_000, 'the event after eviction');
    expect(texts(reader)).toEqual(['one', 'two']);
    const late = await openEvents(`${server.secondUrl}/events/${room}`, { lastEventId: first });
    expect((await late.next()).data).toBe('two');
    reader.close();
    late.close();
  }, 30_000);
});

it('drops history older than maxAge, with its idempotency keys, and says so on a resume from before', async () => {
  const response = await fetch(`${server.url}/max-age`);
  expect(await response.json()).toEqual({
    afterFirst: { gap: 'expired', data: ['three', 'two again'] },
    afterThird: { data: ['two again'] },
  });
});

describe('the broker contract, run in workerd on the Durable Objects broker', () => {
  brokerContract.forEach((contractCase, index) => {
    it(contractCase.name, async () => {
      const response = await fetch(`${server.url}/contract/${index}`);
      expect(await response.text()).toBe('ok');
    });
  });
});
