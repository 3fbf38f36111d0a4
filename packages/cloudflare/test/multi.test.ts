// Many channels over one stream (`channels()` of @ssekit/hono) on Workers with the Durable
// Objects broker: subscribe calls are requests of their own, on the stream's isolate or on
// another (relayed through the broker), and a cursor resumes every channel on either.
import { type EventReader, openEvents } from '@ssekit/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { prepare, startWorkerd, type Workerd } from './workerd.js';

let server: Workerd;
let remove: () => void;

beforeAll(async () => {
  const prepared = await prepare();
  remove = prepared.remove;
  server = await startWorkerd(prepared.dir);
}, 60_000);

afterAll(async () => {
  await server?.kill();
  remove?.();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function call(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/multi/subscriptions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function publish(channel: string, text: string): Promise<void> {
  expect((await fetch(`${server.url}/publish/${channel}`, { method: 'POST', body: text })).status).toBe(200);
}

/** The `message` events a reader got, as `channel: text`. */
const messages = (reader: EventReader) =>
  reader.received.filter(({ event }) => event === 'message').map(({ data }) => (data as string).replace('\n', ': '));

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

it('follows channels added by calls to either Worker service, and resumes them all from one cursor', async () => {
  const [a, b, c] = ['a', 'b', 'c'].map((name) => `${name}-${Date.now().toString(36)}`) as [string, string, string];
  const reader = await openEvents(`${server.url}/multi?channels=${a}`);
  const { stream } = JSON.parse((await reader.next()).data as string) as { stream: string };
  // b through the stream's own isolate, c through the other service's, relayed by the broker.
  expect(await call(server.url, { stream, subscribe: [b] })).toMatchObject({ status: 200, body: { subscribed: [b] } });
  expect(await call(server.secondUrl, { stream, subscribe: [c] })).toMatchObject({
    status: 200,
    body: { subscribed: [c] },
  });
  // The calls' requests are over: what they started for the stream must outlive them.
  await sleep(1_500);
  await publish(a, 'one');
  await publish(b, 'two');
  await publish(c, 'three');
  await until(() => messages(reader).length === 3, 'three messages');
  expect(messages(reader)).toEqual([`${a}: one`, `${b}: two`, `${c}: three`]);

  expect(await call(server.secondUrl, { stream, unsubscribe: [a] })).toMatchObject({
    status: 200,
    body: { unsubscribed: [a] },
  });
  await publish(a, 'not followed');
  reader.close();
  // Published while the client is away, then resumed on the other service from the cursor.
  await publish(b, 'four');
  await publish(c, 'five');
  const resumed = await openEvents(`${server.secondUrl}/multi`, { lastEventId: reader.lastEventId ?? undefined });
  await until(() => messages(resumed).length === 2, 'the two missed messages');
  await publish(c, 'six');
  await until(() => messages(resumed).length === 3, 'the live message');
  await sleep(200); // room for a duplicate or a message of `a` to show
  expect(messages(resumed)).toEqual([`${b}: four`, `${c}: five`, `${c}: six`]);
  expect(resumed.received.some(({ event }) => event === 'ssekit-gap')).toBe(false);
  resumed.close();
});
