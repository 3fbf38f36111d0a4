// The chat over HTTP, with @ssekit/client on the `eventsource` client as a page would use it:
// rooms, posting, one connection for every joined room, and resuming.
import { type ChannelRefusal, ChannelsClient } from '@ssekit/client';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, until } from '../../../packages/core/test/helpers.js';
import type { ChatMessage, RoomEvents } from '../src/app.js';
import { start } from '../src/server.js';

let server: Awaited<ReturnType<typeof start>>;
beforeAll(async () => {
  server = await start({ port: 0 });
});
afterAll(() => server?.close());

type Channels = { [room: `room:${string}`]: RoomEvents };

/**
 * A page's client that joins `rooms`: `received` fills as messages arrive, `follows` counts
 * each room's starts from now (the client's `onFollow`). Each connection waits for
 * `beforeConnect()`, which lets a test hold a reconnect back.
 */
function visitor(rooms: string[], beforeConnect: () => Promise<unknown> = async () => {}) {
  class HeldEventSource extends EventSource {
    constructor(url: string | URL, init?: EventSourceInit) {
      super(url, {
        ...init,
        fetch: async (input, requestInit) => {
          await beforeConnect();
          return fetch(input, requestInit);
        },
      });
    }
  }
  const received: (Pick<ChatMessage, 'name' | 'text'> & { room: string })[] = [];
  const follows = new Map<string, number>();
  const refused: ChannelRefusal[] = [];
  const client = new ChannelsClient<Channels>({
    url: `${server.url}/events`,
    EventSource: HeldEventSource as unknown as typeof globalThis.EventSource,
    onRefused: (refusal) => refused.push(refusal),
  });
  afterThisTest(() => client.close());
  const join = (room: string) =>
    client.subscribe(`room:${room}`, ({ data: { name, text } }) => received.push({ room, name, text }), {
      onFollow: () => follows.set(room, (follows.get(room) ?? 0) + 1),
    });
  for (const room of rooms) join(room);
  /** Resolves once the server follows each of `names` for this client. */
  const following = (names = rooms) => until(() => names.every((room) => follows.has(room)) || undefined);
  return { client, received, follows, refused, join, following };
}

async function post(room: string, body: unknown) {
  const res = await fetch(`${server.url}/rooms/${room}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

const openStreams = async (): Promise<number> => (await (await fetch(`${server.url}/stats`)).json()).streams;

/** Waits until the server counts `count` open streams. */
async function streamsOpen(count: number) {
  let open = -1;
  for (let tries = 0; tries < 200 && open !== count; tries++) {
    open = await openStreams();
    if (open !== count) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  expect(open).toBe(count);
}

describe('chat-express', () => {
  it('serves the page, the client module it imports, and the rooms, each with a welcome', async () => {
    const page = await fetch(server.url);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain("import { ChannelsClient } from '/client.js'");
    expect(html).not.toMatch(/(src|href)="https?:/); // self-contained
    const client = await fetch(`${server.url}/client.js`);
    expect(client.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const code = await client.text();
    expect(code).toContain('ChannelsClient');
    expect(code).not.toMatch(/^\s*import\b/m); // one module: the browser loads nothing else
    expect(await (await fetch(`${server.url}/rooms`)).json()).toEqual(['general', 'random', 'help']);
    const { messages } = await (await fetch(`${server.url}/rooms/help/messages`)).json();
    expect(messages[0]).toMatchObject({
      id: expect.any(String),
      name: 'ssekit',
      text: expect.stringContaining('#help'),
    });
  });

  it('delivers a message to every client in its room, and to no other room', async () => {
    const alice = visitor(['general']);
    const bob = visitor(['general', 'random']);
    const carol = visitor(['random']);
    await Promise.all([alice.following(), bob.following(), carol.following()]);

    const { status, body } = await post('general', { name: 'alice', text: 'hi all' });
    expect(status).toBe(201);
    expect(body).toEqual({ id: expect.any(String) });
    await post('random', { name: 'carol', text: 'elsewhere' });
    await until(() => (bob.received.length === 2 && carol.received.length === 1) || undefined);
    expect(alice.received).toEqual([{ room: 'general', name: 'alice', text: 'hi all' }]);
    expect(bob.received).toEqual([
      { room: 'general', name: 'alice', text: 'hi all' },
      { room: 'random', name: 'carol', text: 'elsewhere' },
    ]);
    expect(carol.received).toEqual([{ room: 'random', name: 'carol', text: 'elsewhere' }]);
  });

  it('joining 3 rooms keeps 1 connection, counted by the server', async () => {
    await streamsOpen(0);
    const dave = visitor(['general']);
    await dave.following();
    await streamsOpen(1);
    // Joined on the open stream, by calls: no new connection.
    const leaveRandom = dave.join('random');
    const leaveHelp = dave.join('help');
    await dave.following(['general', 'random', 'help']);
    await streamsOpen(1);
    for (const room of ['general', 'random', 'help']) await post(room, { name: 'dave', text: `in ${room}` });
    await until(() => dave.received.length === 3 || undefined);
    expect(dave.received.map(({ room }) => room)).toEqual(['general', 'random', 'help']);

    leaveRandom();
    leaveHelp();
    await post('random', { name: 'erin', text: 'dave left' });
    await post('general', { name: 'erin', text: 'still here?' });
    await until(() => dave.received.length === 4 || undefined);
    expect(dave.received.at(-1)).toEqual({ room: 'general', name: 'erin', text: 'still here?' });
    await streamsOpen(1);
    // The last room left: the connection closes.
    dave.client.unsubscribe('room:general');
    await streamsOpen(0);
  });

  it('resumes every room after a dropped connection with every message missed, once and in order', async () => {
    // The reconnect waits until the posts below are done: what it gets, it gets from history.
    let postedWhileAway = Promise.resolve();
    const frank = visitor(['random', 'help'], () => postedWhileAway);
    await frank.following();
    await post('random', { name: 'gina', text: 'before' });
    await until(() => frank.received.length === 1 || undefined);

    // Cut every connection (what the page's button does); post while the client is away.
    let away = () => {};
    postedWhileAway = new Promise((resolve) => {
      away = resolve;
    });
    expect((await fetch(`${server.url}/drop`, { method: 'POST' })).status).toBe(204);
    await until(() => (frank.client.readyState === 0 ? true : undefined));
    for (const text of ['while away 1', 'while away 2']) await post('random', { name: 'gina', text });
    await post('help', { name: 'gina', text: 'while away 3' });
    away();
    await until(() => frank.received.length === 4 || undefined);
    await post('help', { name: 'gina', text: 'after' });
    await until(() => frank.received.length === 5 || undefined);

    // In order within each room; the rooms' replays may interleave.
    const texts = (room: string) => frank.received.filter((message) => message.room === room).map(({ text }) => text);
    expect(texts('random')).toEqual(['before', 'while away 1', 'while away 2']);
    expect(texts('help')).toEqual(['while away 3', 'after']);
    // Resumed, not started over: each room was followed from now once, when joined.
    expect(Object.fromEntries(frank.follows)).toEqual({ random: 1, help: 1 });
  });

  it('tells a stream resuming from a cursor it cannot read to reload each room', async () => {
    const url = `${server.url}/events?channels=room:general,room:help&lastEventId=from-another-server`;
    const source = new EventSource(url);
    afterThisTest(() => source.close());
    const gaps: string[] = [];
    await new Promise<void>((resolve) =>
      source.addEventListener('ssekit-gap', (event) => {
        if (gaps.push(event.data) === 2) resolve();
      }),
    );
    const lost = JSON.stringify({ lastEventId: 'from-another-server', reason: 'unknown' });
    expect(gaps.sort()).toEqual([`room:general\n${lost}`, `room:help\n${lost}`]);
  });

  it('refuses channels that are not rooms, alone', async () => {
    const henry = visitor(['general', 'nowhere']);
    await henry.following(['general']);
    await until(() => henry.refused.length === 1 || undefined);
    expect(henry.refused).toEqual([{ channel: 'room:nowhere', status: 403 }]);
    const unknownStream = await fetch(`${server.url}/events/subscriptions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ stream: 'no-such-stream', subscribe: ['room:help'] }),
    });
    expect(unknownStream.status).toBe(404);
  });

  it('refuses bad messages and unknown rooms, as JSON', async () => {
    expect(await post('general', { name: '', text: 'x' })).toEqual({
      status: 400,
      body: { error: 'name: 1 to 32 characters' },
    });
    expect((await post('general', { name: 'a', text: ' ' })).status).toBe(400);
    expect((await post('general', { name: 'a', text: 'x'.repeat(501) })).status).toBe(400);
    expect((await post('general', '{not json')).status).toBe(400);
    expect(await post('nowhere', { name: 'a', text: 'x' })).toEqual({
      status: 404,
      body: { error: 'no room "nowhere"' },
    });
    expect((await fetch(`${server.url}/rooms/nowhere/messages`)).status).toBe(404);
  });
});
