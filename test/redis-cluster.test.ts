// Four app processes (Express, Koa, Fastify and Hono on Node, from examples/cluster-redis)
// share one real Redis. Clients on each; publishes on all three; then one process is killed mid-stream
// and Redis itself is restarted mid-stream. Every client must end with every acknowledged
// event exactly once, in the one order Redis gave them.
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { EventSource } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInstance } from '../examples/cluster-redis/src/start.js';
import { type RedisServer, startRedis } from '../packages/redis/test/redis-server.js';

const NAMES = ['express', 'koa', 'fastify', 'hono'] as const;
const CLIENTS_PER_INSTANCE = 3;
const EVENTS = 150;

let redis: RedisServer;
const children: ChildProcess[] = [];
let urls: string[] = [];
const dead = new Set<string>();

beforeAll(async () => {
  redis = await startRedis();
  const instances = NAMES.map((name) => startInstance(name, { REDIS_URL: redis.url }));
  children.push(...instances.map(({ child }) => child));
  urls = await Promise.all(instances.map(({ url }) => url));
}, 60_000);

afterAll(async () => {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    }),
  );
  await redis?.stop();
});

/** A client that starts on instance `home`, and on a reconnect goes to the next one that is up. */
function client(home: number) {
  const received: { id: string; text: string }[] = [];
  const instances: string[] = [];
  const source = new EventSource('http://cluster.invalid/events', {
    fetch: async (_url, init) => {
      for (let i = 0; i < urls.length; i++) {
        const base = urls[(home + i) % urls.length] as string;
        if (dead.has(base)) continue;
        try {
          return await fetch(`${base}/events`, init);
        } catch {
          // That instance is down: a load balancer would try the next.
        }
      }
      throw new Error('no instance is up');
    },
  });
  source.addEventListener('instance', (event) => instances.push(event.data));
  let warmedUp = false;
  source.onmessage = (event) => {
    const { text } = JSON.parse(event.data) as { text: string };
    if (text === 'warm-up') warmedUp = true;
    else received.push({ id: event.lastEventId, text });
  };
  return { source, received, instances, home, warmedUp: () => warmedUp };
}

/** Publishes `text` on the `n`th instance that is up, retrying until Redis acknowledges it. */
async function publish(n: number, text: string, refusals: { count: number }): Promise<string> {
  for (let attempt = 0; attempt < 400; attempt++) {
    const live = urls.filter((url) => !dead.has(url));
    const target = live[(n + attempt) % live.length] as string;
    try {
      const response = await fetch(`${target}/publish`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: text,
      });
      if (response.status === 201) return ((await response.json()) as { id: string }).id;
      await response.arrayBuffer();
    } catch {
      // The instance went away between the list and the request.
    }
    refusals.count++;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`"${text}" was never acknowledged`);
}

describe('four processes on one Redis', () => {
  it('deliver every event once, in one order, through an instance crash and a Redis restart', async () => {
    const clients = NAMES.flatMap((_, home) => Array.from({ length: CLIENTS_PER_INSTANCE }, () => client(home)));
    const refusals = { count: 0 };
    // A stream's subscription is live once an event reaches it: warm up until all have one.
    for (let n = 0; !clients.every(({ warmedUp }) => warmedUp()); n++) {
      await publish(n, 'warm-up', refusals);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const acknowledged: string[] = [];
    let refusedWhileRedisWasDown = 0;
    for (let i = 0; i < EVENTS; i++) {
      if (i === 50) {
        // The Express instance crashes mid-stream; its clients reconnect elsewhere.
        dead.add(urls[0] as string);
        children[0]?.kill('SIGKILL');
      }
      if (i === 100) {
        await redis.kill();
        const before = refusals.count;
        const restarted = new Promise((resolve) => setTimeout(resolve, 500)).then(() => redis.restart());
        acknowledged.push(await publish(i, `m${i}`, refusals));
        await restarted;
        refusedWhileRedisWasDown = refusals.count - before;
        continue;
      }
      acknowledged.push(await publish(i, `m${i}`, refusals));
    }
    expect(refusedWhileRedisWasDown).toBeGreaterThan(0);

    const deadline = Date.now() + 20_000;
    while (clients.some(({ received }) => received.length < EVENTS) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const { source } of clients) source.close();

    const expected = acknowledged.map((id, i) => ({ id, text: `m${i}` }));
    for (const { received, instances, home } of clients) {
      expect(received).toEqual(expected);
      // Clients of the crashed instance ended on another one.
      if (home === 0) expect(instances.slice(-1)[0]).not.toBe('express');
    }
    console.log(
      `[redis-cluster] ${clients.length} clients x ${EVENTS} events: ${clients.reduce((n, c) => n + c.received.length, 0)} received, ` +
        `${clients.filter((c) => c.home === 0).length} moved after the crash, ${refusedWhileRedisWasDown} publishes refused while Redis was down`,
    );
  }, 60_000);
});
