// The chat over HTTP with the `eventsource` client: rooms, posting, and resuming.
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, until } from '../../../packages/core/test/helpers.js';
import { start } from '../src/server.js';

let server: Awaited<ReturnType<typeof start>>;
beforeAll(async () => {
  server = await start({ port: 0 });
});
afterAll(() => server?.close());

interface Received {
  id: string;
  name: string;
  text: string;
}

/**
 * A client in `room`; `received` fills as messages arrive, `opens` counts connections. Each
 * connection waits for `beforeConnect()`, which lets a test hold a reconnect back.
 */
function join(room: string, lastEventId?: string, beforeConnect: () => Promise<unknown> = async () => {}) {
  const query = lastEventId ? `?lastEventId=${encodeURIComponent(lastEventId)}` : '';
  const source = new EventSource(`${server.url}/rooms/${room}/events${query}`, {
    fetch: async (url, init) => {
      await beforeConnect();
      return fetch(url, init);
    },
  });
  afterThisTest(() => source.close());
  const received: Received[] = [];
  let opens = 0;
  source.addEventListener('open', () => opens++);
  source.addEventListener('message', (event) => {
    const { name, text } = JSON.parse(event.data);
    received.push({ id: event.lastEventId, name, text });
  });
  const opened = new Promise((resolve) => source.addEventListener('open', resolve, { once: true }));
  return { source, received, opened, opens: () => opens };
}

async function post(room: string, body: unknown) {
  const res = await fetch(`${server.url}/rooms/${room}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function recent(room: string): Promise<{ messages: { id: string; message: Received }[]; lastEventId: string }> {
  return (await fetch(`${server.url}/rooms/${room}/messages`)).json();
}

describe('chat-express', () => {
  it('serves the page and lists the rooms, each with a welcome', async () => {
    const page = await fetch(server.url);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain('new EventSource(');
    expect(html).not.toMatch(/(src|href)="https?:/); // self-contained
    expect(await (await fetch(`${server.url}/rooms`)).json()).toEqual(['general', 'random', 'help']);
    const { messages, lastEventId } = await recent('help');
    expect(messages[0]?.message).toMatchObject({ name: 'ssekit', text: expect.stringContaining('#help') });
    expect(lastEventId).toBe(messages.at(-1)?.id);
  });

  it('delivers a message to every client in its room, and to no other room', async () => {
    const alice = join('general');
    const bob = join('general');
    const carol = join('random');
    await Promise.all([alice.opened, bob.opened, carol.opened]);

    const { status, body } = await post('general', { name: 'alice', text: 'hi all' });
    expect(status).toBe(201);
    await until(() => (alice.received.length === 1 && bob.received.length === 1) || undefined);
    for (const client of [alice, bob])
      expect(client.received).toEqual([{ id: body.id, name: 'alice', text: 'hi all' }]);
    await post('random', { name: 'carol', text: 'elsewhere' });
    await until(() => carol.received.length === 1 || undefined);
    expect(carol.received[0]?.text).toBe('elsewhere');
    expect(alice.received).toHaveLength(1);
  });

  it('gives a newcomer the recent messages and an id that closes the gap to its stream', async () => {
    await post('help', { name: 'dave', text: 'first' });
    const { messages, lastEventId } = await recent('help');
    expect(messages.at(-1)?.message).toMatchObject({ name: 'dave', text: 'first' });
    // Posted after the page loaded, before its stream opened: the stream replays it.
    const { body } = await post('help', { name: 'dave', text: 'in between' });
    const client = join('help', lastEventId);
    await until(() => client.received.length === 1 || undefined);
    expect(client.received).toEqual([{ id: body.id, name: 'dave', text: 'in between' }]);
  });

  it('resumes after a dropped connection with every message missed, once and in order', async () => {
    // The reconnect waits until the posts below are done: what it gets, it gets from history.
    let postedWhileAway = Promise.resolve();
    const client = join('random', undefined, () => postedWhileAway);
    await client.opened;
    await post('random', { name: 'erin', text: 'before' });
    await until(() => client.received.length === 1 || undefined);

    // Cut every connection (what the page's button does); post while the client is away.
    let away = () => {};
    postedWhileAway = new Promise((resolve) => {
      away = resolve;
    });
    const reconnected = new Promise((resolve) => client.source.addEventListener('open', resolve, { once: true }));
    expect((await fetch(`${server.url}/drop`, { method: 'POST' })).status).toBe(204);
    const missed = [];
    for (const text of ['while away 1', 'while away 2', 'while away 3']) {
      missed.push((await post('random', { name: 'frank', text })).body.id);
    }
    away();
    await reconnected;
    await until(() => client.received.length === 4 || undefined);
    const after = (await post('random', { name: 'erin', text: 'after' })).body.id;
    await until(() => client.received.length === 5 || undefined);

    expect(client.opens()).toBe(2);
    expect(client.received.map(({ text }) => text)).toEqual([
      'before',
      'while away 1',
      'while away 2',
      'while away 3',
      'after',
    ]);
    expect(client.received.slice(1).map(({ id }) => id)).toEqual([...missed, after]);
  });

  it('tells a client whose id history does not know to start over', async () => {
    const client = join('general', 'from-another-server');
    const gap = await new Promise<MessageEvent>((resolve) => client.source.addEventListener('ssekit-gap', resolve));
    expect(JSON.parse(gap.data)).toEqual({ lastEventId: 'from-another-server', reason: 'unknown' });
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
    expect((await fetch(`${server.url}/rooms/nowhere/events`)).status).toBe(404);
  });
});
