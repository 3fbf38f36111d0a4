// workerd killed (SIGKILL) and started again on the same storage between publishes: every
// client that reconnects with its Last-Event-ID ends with every acknowledged event, once each.
import { type EventReader, openEvents } from '@ssekit/testing';
import { afterAll, expect, it } from 'vitest';
import { prepare, startWorkerd, type Workerd } from './workerd.js';

let server: Workerd | undefined;
let remove: (() => void) | undefined;

afterAll(async () => {
  await server?.kill();
  remove?.();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One client across its connections: what it received in all of them, in order. */
interface Client {
  readonly second: boolean;
  reader: EventReader;
  readonly received: string[];
}

const received = (client: Client) => [...client.received, ...client.reader.received.map(({ data }) => data as string)];

it('keeps every acknowledged event through restarts, for clients that resume with Last-Event-ID', async () => {
  const prepared = await prepare();
  remove = prepared.remove;
  let running = await startWorkerd(prepared.dir);
  server = running;
  const room = 'restart';
  const urlOf = (second: boolean) => `${second ? running.secondUrl : running.url}/events/${room}`;
  const clients: Client[] = await Promise.all(
    Array.from({ length: 6 }, async (_, i) => ({
      second: i % 2 === 1,
      reader: await openEvents(urlOf(i % 2 === 1)),
      received: [],
    })),
  );
  const acknowledged: string[] = [];
  let n = 0;
  const publish = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const text = `e${n++}`;
      const response = await fetch(`${n % 2 ? running.url : running.secondUrl}/publish/${room}`, {
        method: 'POST',
        body: text,
      });
      expect(response.status).toBe(200);
      acknowledged.push(text);
    }
  };

  const RESTARTS = 3;
  for (let round = 0; round < RESTARTS; round++) {
    await publish(10);
    // Killed right after the last acknowledgement: some clients may not have read it yet.
    await running.kill();
    for (const client of clients) {
      client.received.push(...client.reader.received.map(({ data }) => data as string));
      client.reader.close();
    }
    running = await startWorkerd(prepared.dir);
    server = running;
    // Published while every client is away: only storage can give them these.
    await publish(5);
    for (const client of clients) {
      client.reader = await openEvents(urlOf(client.second), {
        lastEventId: client.reader.lastEventId ?? undefined,
      });
    }
  }
  await publish(10);

  const deadline = Date.now() + 10_000;
  while (clients.some((client) => received(client).length < acknowledged.length) && Date.now() < deadline) {
    await sleep(50);
  }
  await sleep(200); // room for a duplicate to show
  const counts = clients.map((client) => `${acknowledged.length} acknowledged / ${received(client).length} received`);
  console.log(`restart test, per client: ${counts.join('; ')}`);
  for (const client of clients) {
    expect(received(client)).toEqual(acknowledged);
    client.reader.close();
  }
}, 60_000);
