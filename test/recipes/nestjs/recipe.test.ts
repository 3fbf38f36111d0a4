// The NestJS recipe of docs/recipes/nestjs.md, run as the page shows it, on Nest's Express and
// Fastify platforms: headers, exact bytes, a client that leaves, resume, fan-out, shutdown.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { INestApplication } from '@nestjs/common';
import { openEvents } from '@ssekit/testing';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { bootstrap } from './src/main.js';

const SCRIPT_BYTES =
  'retry: 1000\nevent: greeting\nid: 1\ndata: hello\ndata: nest\n\ndata: {"n":2}\n\n: open until you leave\n';

/** A GET read as raw text: `body()` is every byte so far, `ended` settles when the response closes. */
async function getRaw(url: string) {
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get(url, { agent: false }, resolve).on('error', reject);
  });
  onTestFinished(() => {
    res.destroy();
  });
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    body += chunk;
  });
  const ended = new Promise<void>((resolve) => res.on('close', resolve));
  return { res, body: () => body, ended };
}

async function until<T>(check: () => T | undefined | false | Promise<T | undefined | false>, ms = 2000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function stats(url: string): Promise<{ open: number; closed: number; lastClosedAt: number }> {
  return (await fetch(`${url}/stats`)).json() as never;
}

async function publish(url: string, room: string, data: unknown): Promise<string> {
  const response = await fetch(`${url}/rooms/${room}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(data),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

describe.each(['express', 'fastify'] as const)('NestJS recipe on %s', (platform) => {
  let app: INestApplication;
  let url: string;
  let started: number;

  beforeAll(async () => {
    started = performance.now();
    app = await bootstrap(platform);
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    await app?.close();
    console.log(
      `NestJS recipe on ${platform}: ${(performance.now() - started).toFixed(0)} ms, from bootstrap to close`,
    );
  });

  it('sends the event-stream headers that core sets', async () => {
    const { res } = await getRaw(`${url}/events`);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache, no-transform');
    expect(res.headers['x-accel-buffering']).toBe('no');
    expect(res.headers['content-length']).toBeUndefined();
  });

  it('sends the script byte for byte, then stays open', async () => {
    const raw = await getRaw(`${url}/events`);
    await until(() => raw.body().length >= SCRIPT_BYTES.length);
    expect(raw.body()).toBe(SCRIPT_BYTES);
    expect(raw.res.complete).toBe(false);
  });

  it('aborts stream.signal within a second of the client leaving', async () => {
    const before = await stats(url);
    const events = await openEvents(`${url}/events`);
    expect((await events.take(2)).map((event) => event.event)).toEqual(['greeting', 'message']);
    await until(async () => (await stats(url)).open === before.open + 1);
    const left = Date.now();
    events.close();
    const after = await until(async () => {
      const now = await stats(url);
      return now.closed === before.closed + 1 && now;
    });
    expect(after.open).toBe(before.open);
    expect(after.lastClosedAt - left).toBeLessThan(1000);
  });

  it('resumes a room after Last-Event-ID with exactly the events after it', async () => {
    const room = `resume-${platform}`;
    const ids: string[] = [];
    for (const n of [1, 2, 3]) ids.push(await publish(url, room, { n }));
    const events = await openEvents(`${url}/rooms/${room}/events`, { lastEventId: ids[0], json: true });
    const replayed = await events.take(2);
    expect(replayed.map(({ id, data }) => ({ id, data }))).toEqual([
      { id: ids[1], data: { n: 2 } },
      { id: ids[2], data: { n: 3 } },
    ]);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(events.received).toHaveLength(2);
  });

  it('brings a room event to two clients', async () => {
    const room = `fan-out-${platform}`;
    const first = await openEvents(`${url}/rooms/${room}/events`, { json: true });
    const second = await openEvents(`${url}/rooms/${room}/events`, { json: true });
    const id = await publish(url, room, { text: 'hi both' });
    for (const events of [first, second]) {
      expect(await events.next()).toMatchObject({ id, data: { text: 'hi both' } });
    }
  });

  it('closes with open streams within a second, telling clients to come back (shutdown hook)', async () => {
    const own = await bootstrap(platform);
    const ownUrl = (await own.getUrl()).replace('[::1]', '127.0.0.1');
    const raw = await getRaw(`${ownUrl}/events`);
    await until(() => raw.body().length >= SCRIPT_BYTES.length);
    const room = await openEvents(`${ownUrl}/rooms/lobby/events`);
    const start = performance.now();
    // Without the hook, close() waits for the clients: fail in 2 s rather than at the test's timeout.
    const took = await Promise.race([
      own.close().then(() => performance.now() - start),
      new Promise<number>((resolve) => setTimeout(resolve, 2000, Number.POSITIVE_INFINITY)),
    ]);
    expect(took).toBeLessThan(1000);
    await raw.ended;
    expect(raw.body().slice(SCRIPT_BYTES.length)).toMatch(/^retry: \d+\n/);
    expect(await room.waitForEnd()).toBe(true);
    expect(room.dropped).toBe(false);
    expect(room.retry).toBeGreaterThanOrEqual(1000);
  });
});

describe('docs/recipes/nestjs.md', () => {
  it('shows the code this test runs', () => {
    const page = readFileSync(new URL('../../../docs/recipes/nestjs.md', import.meta.url), 'utf8');
    const blocks = [...page.matchAll(/^```typescript\n(\/\/ (src\/[\w.-]+\.ts)\n[\s\S]*?)^```/gm)];
    const shown = new Map(blocks.map(([, code = '', file = '']) => [file, code]));
    for (const file of [
      'events.registry.ts',
      'events.controller.ts',
      'app.module.ts',
      'main.ts',
      'fastify-events.controller.ts',
    ]) {
      expect(shown.get(`src/${file}`), file).toBe(readFileSync(new URL(`src/${file}`, import.meta.url), 'utf8'));
    }
  });

  // The repository's tsconfig checks decorators as standard ones, which Nest's are not: the
  // recipe has its own, with experimentalDecorators, and is checked with it here.
  it('type-checks with its own tsconfig', () => {
    const tsc = spawnSync(
      fileURLToPath(new URL('../../../node_modules/.bin/tsc', import.meta.url)),
      ['-p', fileURLToPath(new URL('tsconfig.json', import.meta.url))],
      { encoding: 'utf8' },
    );
    expect(tsc.stdout).toBe('');
    expect(tsc.status).toBe(0);
  }, 60_000);
});
