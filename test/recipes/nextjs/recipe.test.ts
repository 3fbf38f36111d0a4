// The Next.js recipe (docs/recipes/nextjs.md), run as its users run it: `next build` once, then
// `next start`, and the routes read over HTTP. What Next.js adds between a route handler and
// the client (its own server, compression, rendering modes, module copies per route) is what
// these checks are about; ssekit's own behaviour is tested elsewhere.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openEvents } from '@ssekit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const dir = fileURLToPath(new URL('.', import.meta.url));
const nextBin = join(dir, 'node_modules/next/dist/bin/next');
const BUILD_TIMEOUT_MS = 180_000;

// vitest sets NODE_ENV=test, which next build would build with (and warn of): leave it out.
const { NODE_ENV: _, ...env } = process.env;
const childEnv = { ...env, NEXT_TELEMETRY_DISABLED: '1' };

let server: ChildProcess | undefined;
let serverOutput = '';
let base = '';
let testsStarted = 0;

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', resolve);
  });
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Stats {
  open: number;
  opened: number;
  lastEndedAt: number | null;
}

async function stats(): Promise<Stats> {
  const response = await fetch(`${base}/api/stats`);
  return (await response.json()) as Stats;
}

/** Polls the stats until `done` holds; returns them, or throws with the last ones seen. */
async function statsUntil(done: (stats: Stats) => boolean, ms: number): Promise<Stats> {
  const deadline = Date.now() + ms;
  for (;;) {
    const seen = await stats();
    if (done(seen)) return seen;
    if (Date.now() > deadline) throw new Error(`stats never matched within ${ms} ms: ${JSON.stringify(seen)}`);
    await sleep(20);
  }
}

async function publish(room: string, text: string): Promise<string> {
  const response = await fetch(`${base}/api/rooms/${room}/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

beforeAll(async () => {
  // The suite builds once before its tests (scripts/test.mjs); alone, this test builds.
  if (!process.env.SSEKIT_NEXTJS_BUILT) {
    const build = spawnSync(process.execPath, [join(dir, 'build.mjs')], { encoding: 'utf8' });
    if (build.status !== 0) throw new Error(`next build exited with ${build.status}:\n${build.stdout}${build.stderr}`);
  }

  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const started = spawn(process.execPath, [nextBin, 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: dir,
    env: childEnv,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server = started;
  started.stdout?.on('data', (chunk: Buffer) => {
    serverOutput += chunk;
  });
  started.stderr?.on('data', (chunk: Buffer) => {
    serverOutput += chunk;
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (started.exitCode !== null) throw new Error(`next start exited with ${started.exitCode}:\n${serverOutput}`);
    try {
      if ((await fetch(`${base}/api/stats`)).ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`next start did not answer within 30 s:\n${serverOutput}`);
    await sleep(100);
  }
  testsStarted = performance.now();
}, BUILD_TIMEOUT_MS + 60_000);

afterAll(async () => {
  if (testsStarted)
    console.log(`tests against next start: ${((performance.now() - testsStarted) / 1000).toFixed(1)} s`);
  const running = server;
  if (!running?.pid || running.exitCode !== null) return;
  const exited = new Promise<boolean>((resolve) => running.once('exit', () => resolve(true)));
  // The whole group: next start may run its server in a child process.
  process.kill(-running.pid, 'SIGTERM');
  if (!(await Promise.race([exited, sleep(2_000).then(() => false)]))) {
    try {
      process.kill(-running.pid, 'SIGKILL');
    } catch {
      // Gone between the two.
    }
    await exited;
  }
});

const SCRIPT_BYTES =
  ':\n' +
  'event: greeting\nid: 1\ndata: hello\n\n' +
  'event: progress\nid: 2\ndata: {"done":1,"of":2}\n\n' +
  'event: progress\nid: 3\ndata: {"done":2,"of":2}\n\n';

describe('Next.js App Router recipe', () => {
  it('answers with the event-stream headers, uncompressed', async () => {
    const events = await openEvents(`${base}/api/events`);
    expect(events.status).toBe(200);
    expect(events.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(events.headers.get('cache-control')).toBe('no-cache, no-transform');
    expect(events.headers.get('x-accel-buffering')).toBe('no');
    // fetch asks for gzip and br; `no-transform` keeps Next's compression off the stream.
    expect(events.headers.get('content-encoding')).toBeNull();
  });

  it('sends the script byte for byte', async () => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 5_000);
    const response = await fetch(`${base}/api/events`, { signal: controller.signal });
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    try {
      while (text.length < SCRIPT_BYTES.length) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
    } catch {
      // Timed out: the comparison below shows what came.
    } finally {
      clearTimeout(timer);
      controller.abort();
    }
    expect(text).toBe(SCRIPT_BYTES);
  });

  it('sends each event when it is sent, not buffered', async () => {
    const events = await openEvents(`${base}/api/events`);
    const arrivals: number[] = [];
    for (let n = 0; n < 3; n++) {
      await events.next();
      arrivals.push(performance.now());
    }
    const [first = 0, second = 0, third = 0] = arrivals;
    expect(second - first).toBeGreaterThanOrEqual(150);
    expect(third - second).toBeGreaterThanOrEqual(150);
  });

  it("ends the handler's work within a second of the client leaving", async () => {
    // The streams of the tests before have ended by now, or this waits for them.
    await statsUntil((seen) => seen.open === 0, 3_000);
    const events = await openEvents(`${base}/api/events`);
    await events.take(3);
    expect((await stats()).open).toBe(1);
    const left = Date.now();
    events.close();
    const after = await statsUntil((seen) => seen.open === 0, 3_000);
    // When the server's handler ended (its clock is this machine's), not when a poll saw it:
    // on a loaded machine the polls themselves take a while.
    const ended = (after.lastEndedAt ?? Number.POSITIVE_INFINITY) - left;
    console.log(`client left -> handler ended within ${ended.toFixed(0)} ms`);
    expect(ended).toBeLessThan(1_000);
  });

  it('resumes a room after the Last-Event-ID, from the history', async () => {
    const room = `resume-${Date.now()}`;
    const live = await openEvents(`${base}/api/rooms/${room}/events`, { json: true });
    const ids = [await publish(room, 'one'), await publish(room, 'two'), await publish(room, 'three')];
    expect((await live.take(3)).map((event) => event.id)).toEqual(ids);
    live.close();

    const resumed = await openEvents(`${base}/api/rooms/${room}/events`, { json: true, lastEventId: ids[0] });
    const missed = await resumed.take(2);
    expect(missed.map(({ event, id, data }) => ({ event, id, data }))).toEqual([
      { event: 'message', id: ids[1], data: { text: 'two' } },
      { event: 'message', id: ids[2], data: { text: 'three' } },
    ]);
    expect(await resumed.collect({ ms: 300 })).toEqual([]);
  });

  it('delivers a room event to every client of the room, across route modules', async () => {
    const room = `fanout-${Date.now()}`;
    const [a, b] = await Promise.all([
      openEvents(`${base}/api/rooms/${room}/events`, { json: true }),
      openEvents(`${base}/api/rooms/${room}/events`, { json: true }),
    ]);
    const id = await publish(room, 'to both');
    for (const client of [a, b]) {
      expect(await client.next()).toMatchObject({ event: 'message', id, data: { text: 'to both' } });
    }
  });

  it('streams from the Edge runtime too, unbuffered', async () => {
    const events = await openEvents(`${base}/api/edge/events`, { json: true });
    expect(events.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    expect(events.headers.get('content-encoding')).toBeNull();
    const arrivals: number[] = [];
    for (let n = 1; n <= 3; n++) {
      expect(await events.next()).toMatchObject({ event: 'tick', id: String(n), data: { n } });
      arrivals.push(performance.now());
    }
    const [first = 0, second = 0, third = 0] = arrivals;
    expect(second - first).toBeGreaterThanOrEqual(150);
    expect(third - second).toBeGreaterThanOrEqual(150);
    expect(await events.waitForEnd()).toBe(true);
  });

  it('refuses a message that is not { text }', async () => {
    const response = await fetch(`${base}/api/rooms/any/messages`, { method: 'POST', body: '[1]' });
    expect(response.status).toBe(400);
  });

  it('logged no error on the server', () => {
    // `after` outside a request, or a handler that threw, would be logged here.
    expect(serverOutput).not.toMatch(/error|fail|warn/i);
  });

  it('shows in docs/recipes/nextjs.md the code that this test runs', () => {
    const page = readFileSync(join(dir, '../../../docs/recipes/nextjs.md'), 'utf8');
    const shown = new Map(
      [...page.matchAll(/^\*\*`([^`]+)`\*\*\n\n```(?:ts|typescript|js)\n([\s\S]*?)^```$/gm)].map(
        ([, file = '', code = '']) => [file, code],
      ),
    );
    const files = [
      'next.config.mjs',
      'lib/registry.ts',
      'lib/stats.ts',
      'app/api/events/route.ts',
      'app/api/rooms/[room]/events/route.ts',
      'app/api/rooms/[room]/messages/route.ts',
      'app/api/stats/route.ts',
      'app/api/edge/events/route.ts',
    ];
    expect([...shown.keys()].sort()).toEqual([...files].sort());
    for (const file of files) expect(shown.get(file), file).toBe(readFileSync(join(dir, file), 'utf8'));
  });
});
