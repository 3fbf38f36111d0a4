// The example as `pnpm start` runs it: workerd's config generated from wrangler.jsonc (the
// file `wrangler deploy` reads), the Worker bundled as Wrangler bundles it, Durable Objects
// with SQLite storage on disk, and real HTTP clients on 127.0.0.1.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type EventReader, openEvents, type ReceivedEvent } from '@ssekit/testing';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshotPath } from '../../../packages/core/test/chromium.js';
import { binary, listeningSocket } from '../../../test/runtimes/launch.js';
// @ts-expect-error workerd-config.mjs is plain JavaScript, without types.
import { generate, parseJsonc, readWranglerConfig, workerdConfig } from '../scripts/workerd-config.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const TOKEN = 'a-test-publish-token-of-32-characters-or-more';

interface Message {
  name: string;
  text: string;
  at: string;
}
type Reader = EventReader<ReceivedEvent<string, Message>>;

let dir: string;
let capnp: string;
let workerd: ChildProcess;
let url: string;
let stderr = '';

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ssekit-workers-chat-'));
  ({ capnp } = await generate({ outDir: dir }));
  // The config's socket `http` is replaced by one the test opens, on a port the OS picks.
  const socket = await listeningSocket();
  try {
    workerd = spawn(binary('workerd'), ['serve', path.join(dir, 'config.capnp'), '--socket-fd', 'http=3'], {
      cwd: dir,
      env: { ...process.env, PUBLISH_TOKEN: TOKEN },
      stdio: ['ignore', 'ignore', 'pipe', socket.fd],
    });
  } finally {
    socket.release();
  }
  workerd.stderr?.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  url = `http://127.0.0.1:${socket.port}`;
  const exited = once(workerd, 'exit').then(([code]) => {
    throw new Error(`workerd exited (${code}):\n${stderr}`);
  });
  const answers = async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await (await fetch(url)).text();
      } catch (error) {
        if (attempt >= 200) throw error;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
  };
  await Promise.race([answers(), exited]);
});

afterAll(async () => {
  // Open links to the objects keep workerd from ending on SIGTERM.
  if (workerd && workerd.exitCode === null && workerd.signalCode === null) {
    workerd.kill('SIGKILL');
    await once(workerd, 'exit');
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Posts a message to a room as the page does (a form), or as JSON; resolves with the response. */
function post(room: string, body: Record<string, unknown>, as: 'json' | 'form' = 'json') {
  return fetch(`${url}/rooms/${room}/messages`, {
    method: 'POST',
    headers: { 'content-type': as === 'json' ? 'application/json' : 'application/x-www-form-urlencoded' },
    body: as === 'json' ? JSON.stringify(body) : new URLSearchParams(body as Record<string, string>).toString(),
  });
}

/** Posts a message and returns its id, once the room's object stored it. */
async function say(room: string, text: string, as: 'json' | 'form' = 'json'): Promise<string> {
  const response = await post(room, { name: 'test', text }, as);
  expect(response.status).toBe(201);
  return ((await response.json()) as { id: string }).id;
}

/**
 * A client of the room, after `lastEventId`. A fresh page follows from the moment its link to
 * the room's object opens, just after the response head; a test that starts from an id it
 * knows gets every later message however soon it posts, through replay or live, and each once.
 */
function follow(room: string, lastEventId: string): Promise<Reader> {
  return openEvents<{ message: Message }>(`${url}/rooms/${room}/events`, { lastEventId, json: true, timeout: 5_000 });
}

const texts = (events: ReceivedEvent<string, Message>[]) => events.map(({ event, data }) => `${event}:${data.text}`);

describe('the config', () => {
  it('is generated from wrangler.jsonc, with its class, binding and date', () => {
    const wrangler = readWranglerConfig();
    const bindings = wrangler.durable_objects.bindings as { name: string; class_name: string }[];
    expect(bindings.length).toBeGreaterThan(0);
    for (const { name, class_name } of bindings) {
      expect(
        wrangler.migrations.some((m: { new_sqlite_classes?: string[] }) => m.new_sqlite_classes?.includes(class_name)),
      ).toBe(true);
      expect(capnp).toContain(`(name = "${name}", durableObjectNamespace = "${class_name}")`);
      expect(capnp).toMatch(new RegExp(`\\(className = "${class_name}", uniqueKey = "[^"]+", enableSql = true\\)`));
    }
    expect(capnp).toContain(`compatibilityDate = "${wrangler.compatibility_date}"`);
    for (const [name, value] of Object.entries(wrangler.vars as Record<string, string>)) {
      expect(capnp).toContain(`(name = "${name}", text = "${value}")`);
    }
    // The secret comes from workerd's environment, never from a file.
    expect(capnp).toContain('(name = "PUBLISH_TOKEN", fromEnvironment = "PUBLISH_TOKEN")');
    expect(readFileSync(path.join(root, 'wrangler.jsonc'), 'utf8')).not.toMatch(/"PUBLISH_TOKEN"\s*:/);
  });

  it('reads comments and trailing commas outside strings only', () => {
    const text = `// a comment
    {
      "url": "https://example.com/a//b", /* a block
      comment */ "glob": "/* not a comment */",
      "quote": "say \\"//hi\\"", // end
      "list": [1, 2, /* trailing */ ],
      "nested": { "a": ",}" , },
    }`;
    expect(parseJsonc(text)).toEqual({
      url: 'https://example.com/a//b',
      glob: '/* not a comment */',
      quote: 'say "//hi"',
      list: [1, 2],
      nested: { a: ',}' },
    });
  });

  it('refuses a Durable Object class without SQLite storage, and keys it does not translate', () => {
    const base = {
      main: 'src/worker.ts',
      compatibility_date: '2026-11-01',
      durable_objects: { bindings: [{ name: 'CHANNELS', class_name: 'ChannelObject' }] },
    };
    const options = { storageDir: dir };
    expect(() =>
      workerdConfig({ ...base, migrations: [{ tag: 'v1', new_classes: ['ChannelObject'] }] }, options),
    ).toThrow(/new_sqlite_classes/);
    expect(() => workerdConfig({ ...base, migrations: [] }, options)).toThrow(/no migration creates/);
    expect(() =>
      workerdConfig(
        {
          ...base,
          durable_objects: { bindings: [{ name: 'X', class_name: 'ChannelObject', script_name: 'other' }] },
          migrations: [{ tag: 'v1', new_sqlite_classes: ['ChannelObject'] }],
        },
        options,
      ),
    ).toThrow(/script_name/);
  });
});

describe('the chat in workerd', () => {
  it('serves its page, with an EventSource per room of ROOMS from its newest message', async () => {
    const newest = await say('general', 'before the page');
    const response = await fetch(url);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).toContain('new EventSource(section.dataset.events)');
    expect(html).toContain(`data-events="/rooms/general/events?lastEventId=${newest}"`);
    for (const room of ['random', 'help'])
      expect(html).toMatch(new RegExp(`data-room="${room}" data-events="/rooms/${room}/events`));
    // The page's URL works as a reconnect would: from that id on.
    const page = await openEvents(`${url}/rooms/general/events?lastEventId=${newest}`, { json: true });
    const next = await say('general', 'after the page');
    expect(await page.next()).toMatchObject({ id: next, data: { text: 'after the page' } });
  });

  it('delivers a posted message to every client of the room, once each and in order', async () => {
    const start = await say('general', 'before anyone listens');
    const [a, b] = await Promise.all([follow('general', start), follow('general', start)]);
    const ids = [await say('general', 'one'), await say('general', 'two', 'form'), await say('general', 'three')];
    for (const client of [a as Reader, b as Reader]) {
      const events = await client.take(3);
      expect(texts(events)).toEqual(['message:one', 'message:two', 'message:three']);
      expect(events.map(({ id }) => id)).toEqual(ids);
      expect(events[0]?.data).toMatchObject({ name: 'test', at: expect.stringMatching(/^\d{4}-/) });
    }
    // Nothing more was queued before the next message: each arrived once.
    await say('general', 'four');
    expect(texts([await (a as Reader).next(), await (b as Reader).next()])).toEqual(['message:four', 'message:four']);
    // Another room is another channel.
    const other = await follow('random', await say('random', 'elsewhere'));
    await say('general', 'not for random');
    const last = await say('random', 'for random');
    expect(await other.next()).toMatchObject({ id: last, data: { text: 'for random' } });
  });

  it('gives a client that reconnects with Last-Event-ID exactly what it missed', async () => {
    const client = await follow('help', await say('help', 'start'));
    const seen = await say('help', 'seen');
    expect((await client.next()).id).toBe(seen);
    client.close();
    const missed = [await say('help', 'missed 1'), await say('help', 'missed 2')];
    const again = await client.reconnect();
    const replayed = await again.take(2);
    expect(replayed.map(({ id }) => id)).toEqual(missed);
    expect(texts(replayed)).toEqual(['message:missed 1', 'message:missed 2']);
    await say('help', 'live');
    expect(texts([await again.next()])).toEqual(['message:live']);
  });

  it('publishes from outside with the bearer token only', async () => {
    const publish = (token: string | undefined, body: unknown) =>
      fetch(`${url}/api/publish`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
        body: JSON.stringify(body),
      });
    const message = { channel: 'room:general', event: 'message', data: { name: 'cron', text: 'from outside' } };
    const client = await follow('general', await say('general', 'before the api'));
    expect((await publish(`${TOKEN}x`, message)).status).toBe(401);
    expect((await publish(undefined, message)).status).toBe(401);
    const accepted = await publish(TOKEN, message);
    expect(accepted.status).toBe(200);
    const { id } = (await accepted.json()) as { id: string };
    expect(await client.next()).toMatchObject({ id, event: 'message', data: { name: 'cron', text: 'from outside' } });
  });

  it('refuses an invalid message, and a room name it does not know how to name', async () => {
    const refused = [
      await post('general', { name: 'test', text: '   ' }),
      await post('general', { name: '', text: 'hello' }),
      await post('general', { text: 'hello' }),
      await post('general', { name: 'test', text: 'x'.repeat(501) }),
      await post('general', { name: 'x'.repeat(41), text: 'hello' }, 'form'),
      await post('general', { name: 'test', text: 42 }),
      await fetch(`${url}/rooms/general/messages`, { method: 'POST', body: '{"name":' }),
      await fetch(`${url}/rooms/general/messages`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"name":',
      }),
    ];
    expect(refused.map(({ status }) => status)).toEqual([400, 400, 400, 400, 400, 400, 400, 400]);
    expect(await refused[0]?.json()).toEqual({ error: 'a text has 1 to 500 characters' });
    const big = await post('general', { name: 'test', text: 'x'.repeat(5000) });
    expect(big.status).toBe(413);
    expect((await post('No%20Such', { name: 'test', text: 'hello' })).status).toBe(404);
    expect((await fetch(`${url}/rooms/${'x'.repeat(33)}/events`)).status).toBe(404);
  });
});

describe('the page in Chromium', () => {
  let browser: Browser | undefined;
  afterAll(() => browser?.close());

  it('carries a message typed in one tab to the room in another', async () => {
    browser = await launchChromium(chromium);
    const [first, second] = await Promise.all([browser.newPage(), browser.newPage()]);
    if (!first || !second) throw new Error('no page');
    for (const page of [first, second]) {
      await page.goto(url);
      await page.waitForFunction(() =>
        [...document.querySelectorAll('.room .status')].every((status) => status.textContent === 'open'),
      );
    }
    await first.fill('#name', 'Ada');
    await first.selectOption('#room', 'random');
    await first.fill('#text', 'hello from Chromium');
    await first.click('#send button');
    const item = second.locator('[data-room="random"] li', { hasText: 'hello from Chromium' });
    await item.waitFor();
    expect(await item.textContent()).toBe('Ada: hello from Chromium');
    expect(await second.locator('[data-room="general"] li', { hasText: 'hello from Chromium' }).count()).toBe(0);
    await first.screenshot({ path: screenshotPath('workers-chat') });
    await Promise.all([first.close(), second.close()]);
  });
});
