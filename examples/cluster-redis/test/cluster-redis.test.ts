// `pnpm start` as a newcomer runs it: one command starts the three instances and the front,
// on a real Redis; three Chromium tabs open the page through the front.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, screenshotPath } from '../../../packages/core/test/chromium.js';
import { type RedisServer, startRedis } from '../../../packages/redis/test/redis-server.js';

let redis: RedisServer;
let start: ChildProcess;
let front: string;
let browser: Browser;

beforeAll(async () => {
  redis = await startRedis();
  start = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../src/start.ts', import.meta.url))], {
    env: { ...process.env, REDIS_URL: redis.url, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  front = await new Promise<string>((resolve, reject) => {
    let out = '';
    start.stdout?.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      const match = /front listening on (http:\/\/\S+?)\/? /.exec(out);
      if (match) resolve(match[1] as string);
    });
    start.once('exit', (code) => reject(new Error(`start exited (${code})`)));
  });
  browser = await launchChromium(chromium);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (start && start.exitCode === null) {
    start.kill('SIGTERM');
    await once(start, 'exit');
  }
  await redis?.stop();
});

describe('the cluster-redis example', () => {
  it('shows each tab its instance, and every tab every message, whichever instance took it', async () => {
    const tabs = await Promise.all([1, 2, 3].map(() => browser.newPage()));
    const shown: string[] = [];
    for (const tab of tabs) {
      await tab.goto(front);
      await tab.waitForFunction(() => document.getElementById('status')?.textContent === 'open');
      shown.push((await tab.textContent('#instance')) ?? '');
    }
    for (const name of shown) expect(['express', 'koa', 'hono']).toContain(name);

    // A tab's subscription is live a moment after its stream opens: post until all have one.
    const first = tabs[0];
    const everyTabHasOne = async () =>
      (await Promise.all(tabs.map((tab) => tab.locator('#messages li').count()))).every((count) => count > 0);
    for (let attempt = 0; attempt < 20 && !(await everyTabHasOne()); attempt++) {
      await first?.fill('#text', 'hello from tab one');
      await first?.click('#send button');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    for (const tab of tabs) {
      expect(await tab.textContent('#messages li')).toMatch(
        /^hello from tab one \(posted to (express|koa|hono), event \d+-\d+\)$/,
      );
    }
    for (const [i, tab] of tabs.entries()) await tab.screenshot({ path: screenshotPath(`cluster-redis-tab-${i + 1}`) });
    await Promise.all(tabs.map((tab) => tab.close()));
  });
});
