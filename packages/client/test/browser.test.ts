// The client in Chromium, loaded as a module with no bundler, against the Express channels()
// routes: many channels over one connection, changed while open, reconciled after a cut.
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { ChannelRegistry, CursorKey } from '@ssekit/core';
import { channels } from '@ssekit/express';
import { build } from 'esbuild';
import express, { type RequestHandler } from 'express';
import { chromium, type Page } from 'playwright-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { launchChromium } from '../../core/test/chromium.js';
import { afterThisTest, listenForTest, until } from '../../core/test/helpers.js';

let clientCode = '';
beforeAll(async () => {
  const entry = fileURLToPath(new URL('../src/index.ts', import.meta.url));
  const { outputFiles } = await build({ entryPoints: [entry], bundle: true, format: 'esm', write: false });
  clientCode = outputFiles[0]?.text ?? '';
});

// The page records what each subscription receives as `<subscribed> <channel> <event> <text>`.
const PAGE = `<!doctype html><title>client</title>
<script type="module">
  import { ChannelsClient } from '/client.js';
  const state = { received: [], gaps: [], refused: [] };
  const client = new ChannelsClient({ url: '/events', onRefused: (refusal) => state.refused.push(refusal) });
  window.test = {
    state,
    follow(names, events) {
      for (const name of names) {
        client.subscribe(name, (e) => state.received.push(\`\${name} \${e.channel} \${e.event} \${e.data.text}\`), {
          events,
          onGap: (gap) => state.gaps.push(\`\${gap.channel} \${gap.reason}\`),
        });
      }
    },
    leave(names) {
      for (const name of names) client.unsubscribe(name);
    },
  };
</script>`;

interface TestWindow {
  test: {
    state: { received: string[]; gaps: string[]; refused: { channel: string; status: number }[] };
    follow(names: string[], events?: string[]): void;
    leave(names: string[]): void;
  };
}

async function serve(registry = new ChannelRegistry()) {
  const feed = channels(registry, {
    key: new CursorKey('a secret for the client browser test, 32+ bytes'),
    authorize: (channel) => (channel.startsWith('secret') ? 403 : true),
    retry: 100,
  });
  const streams = { open: 0, opened: 0 };
  const calls: unknown[] = [];
  const sockets = new Set<Socket>();
  // While `holding`, reconnects wait here: the page stays down while the test publishes.
  const held: (() => void)[] = [];
  let holding = false;
  const events: RequestHandler = (req, res, next) => {
    streams.open++;
    streams.opened++;
    sockets.add(req.socket);
    res.on('close', () => streams.open--);
    feed.events(req, res, next);
  };
  const app = express()
    .get('/', (_req, res) => {
      res.type('html').send(PAGE);
    })
    .get('/client.js', (_req, res) => {
      res.type('text/javascript').send(clientCode);
    })
    .get('/events', (req, res, next) => {
      if (holding) held.push(() => events(req, res, next));
      else events(req, res, next);
    })
    .post('/events/subscriptions', express.json(), (req, res, next) => {
      calls.push(req.body);
      feed.subscriptions(req, res, next);
    });
  const { url } = await listenForTest(app.listen(0, '127.0.0.1'));
  return {
    url,
    registry,
    streams,
    calls,
    held,
    /** Cuts every stream's connection, as a network drop does, and holds the reconnects. */
    cut() {
      holding = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
    },
    /** Lets the held reconnects through. */
    resume() {
      holding = false;
      for (const open of held.splice(0)) open();
    },
    /** Waits until each channel has `count` subscribers in this process. */
    subscribers: (names: string[], count: number) =>
      until(() => (names.every((name) => (registry.get(name)?.size ?? 0) === count) ? true : undefined), 10_000),
  };
}

async function openPage(url: string): Promise<Page> {
  const browser = await launchChromium(chromium);
  afterThisTest(() => browser.close());
  const page = await browser.newPage();
  const errors: Error[] = [];
  page.on('pageerror', (error) => errors.push(error));
  afterThisTest(() => expect(errors).toEqual([]));
  await page.goto(url);
  await page.waitForFunction(() => 'test' in window);
  return page;
}

const follow = (page: Page, names: string[], events?: string[]) =>
  page.evaluate(([names, events]) => (window as unknown as TestWindow).test.follow(names, events), [
    names,
    events,
  ] as const);
const leave = (page: Page, names: string[]) =>
  page.evaluate((names) => (window as unknown as TestWindow).test.leave(names), names);
const state = (page: Page) => page.evaluate(() => (window as unknown as TestWindow).test.state);

/** Waits until the page received exactly `expected` (in any order), then checks nothing more comes. */
async function expectReceived(page: Page, expected: string[]) {
  const sorted = [...expected].sort();
  await vi.waitFor(async () => expect((await state(page)).received.sort()).toEqual(sorted), { timeout: 10_000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect((await state(page)).received.sort()).toEqual(sorted);
}

const rooms = (count: number, from = 0) => Array.from({ length: count }, (_, i) => `room:${from + i}`);

describe('@ssekit/client in Chromium', () => {
  it('follows 10 channels over one connection, each event to its own handlers', async () => {
    const server = await serve();
    const page = await openPage(server.url);
    const names = rooms(10);
    await follow(page, names, ['message', 'said']);
    await server.subscribers(names, 1);
    for (const name of names) {
      await server.registry.channel(name).publish({ text: `hello ${name}` });
      await server.registry.channel(name).publish({ text: `said in ${name}` }, { event: 'said' });
    }
    await expectReceived(
      page,
      names.flatMap((name) => [`${name} ${name} message hello ${name}`, `${name} ${name} said said in ${name}`]),
    );
    // Subscribed in one task: all ten asked for when the stream opened, no call needed.
    expect(server.streams).toEqual({ open: 1, opened: 1 });
    expect(server.calls).toEqual([]);
  });

  it('subscribes and unsubscribes on the open stream with one call, and an unsubscribed channel gets nothing more', async () => {
    const server = await serve();
    const page = await openPage(server.url);
    await follow(page, ['room:a', 'room:b']);
    await server.subscribers(['room:a', 'room:b'], 1);
    await page.evaluate(() => {
      const { test } = window as unknown as TestWindow;
      test.follow(['room:c']);
      test.leave(['room:b']);
    });
    await server.subscribers(['room:c'], 1);
    await server.subscribers(['room:b'], 0);
    for (const name of ['room:a', 'room:b', 'room:c']) await server.registry.channel(name).publish({ text: name });
    await expectReceived(page, ['room:a room:a message room:a', 'room:c room:c message room:c']);
    expect(server.calls).toEqual([{ stream: expect.any(String), subscribe: ['room:c'], unsubscribe: ['room:b'] }]);
    expect(server.streams).toEqual({ open: 1, opened: 1 });
  });

  it('after a cut, resumes every channel and reconciles: nothing lost, nothing twice', async () => {
    const server = await serve();
    const page = await openPage(server.url);
    const opened = rooms(5); // asked for in the URL
    const added = rooms(2, 5); // added by a call while open
    await follow(page, opened);
    await server.subscribers(opened, 1);
    await follow(page, added);
    await server.subscribers(added, 1);
    const all = [...opened, ...added];
    const publishAll = (round: number, names = all) =>
      Promise.all(names.map((name) => server.registry.channel(name).publish({ text: `${name}#${round}` })));
    await publishAll(1);
    const got = (name: string, round: number) => `${name} ${name} message ${name}#${round}`;
    await expectReceived(
      page,
      all.map((name) => got(name, 1)),
    );
    // room:4 was in the URL: a reconnect by the browser asks for it again, and the client must
    // drop it again.
    await leave(page, ['room:4']);
    await server.subscribers(['room:4'], 0);

    server.cut();
    await until(() => (server.held.length === 1 ? true : undefined), 10_000);
    // Published while the page is down: history replays them on the resume.
    await publishAll(2);
    // Subscribed while down: asked for once the new stream is announced.
    await follow(page, ['late']);
    server.resume();
    await server.subscribers(['late'], 1);
    await server.subscribers(['room:4'], 0);
    await publishAll(3, [...all, 'late']);

    const kept = all.filter((name) => name !== 'room:4');
    await expectReceived(page, [
      ...kept.flatMap((name) => [got(name, 1), got(name, 2), got(name, 3)]),
      got('room:4', 1),
      got('late', 3),
    ]);
    expect(server.streams).toEqual({ open: 1, opened: 2 });
    // The browser's own reconnect asks for the URL's channels again, room:4 among them, and the
    // client drops it in the call that adds `late`. If the cut came before the change's event
    // reached the page, the client reopened by itself from the call's cursor, without room:4.
    expect(server.calls.at(-1)).toMatchObject({ subscribe: ['late'] });
    expect([[], ['room:4']]).toContainEqual((server.calls.at(-1) as { unsubscribe: string[] }).unsubscribe);
    expect((await state(page)).gaps).toEqual([]);
  });

  it('reports a refused channel once and does not ask again, while the others flow', async () => {
    const server = await serve();
    const page = await openPage(server.url);
    await follow(page, ['room:1', 'secret:1']);
    await server.subscribers(['room:1'], 1);
    await follow(page, ['secret:2']);
    await vi.waitFor(async () => expect((await state(page)).refused).toHaveLength(2), { timeout: 10_000 });
    await server.registry.channel('room:1').publish({ text: 'open' });
    await expectReceived(page, ['room:1 room:1 message open']);
    expect((await state(page)).refused).toEqual([
      { channel: 'secret:1', status: 403 },
      { channel: 'secret:2', status: 403 },
    ]);
    expect(server.calls).toEqual([{ stream: expect.any(String), subscribe: ['secret:2'], unsubscribe: [] }]);
  });

  it('reports a gap to the subscribers of that channel alone', async () => {
    const server = await serve(new ChannelRegistry({ history: { size: 2 } }));
    const page = await openPage(server.url);
    await follow(page, ['room:1', 'busy']);
    await server.subscribers(['room:1', 'busy'], 1);
    await server.registry.channel('room:1').publish({ text: 'before' });
    await server.registry.channel('busy').publish({ text: 'before' });
    await vi.waitFor(async () => expect((await state(page)).received).toHaveLength(2), { timeout: 10_000 });

    server.cut();
    await until(() => (server.held.length === 1 ? true : undefined), 10_000);
    await server.registry.channel('room:1').publish({ text: 'while down' });
    // More than history holds: what busy missed is gone.
    for (let n = 0; n < 5; n++) await server.registry.channel('busy').publish({ text: `lost ${n}` });
    server.resume();

    await vi.waitFor(async () => expect((await state(page)).gaps).toEqual(['busy expired']), { timeout: 10_000 });
    await vi.waitFor(async () => expect((await state(page)).received).toContain('room:1 room:1 message while down'), {
      timeout: 10_000,
    });
  });
});
