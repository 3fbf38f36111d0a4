// The chat page in headless Chromium: two tabs talk to each other through the browser's own
// EventSource, a tab that left a room catches up on its return, and a dropped connection
// costs nothing. Screenshots go to test-output/screenshots/.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { screenshotPath, serveToChromium } from '../../../packages/core/test/chromium.js';
import { start } from '../src/server.js';

const running = serveToChromium(start);

async function openTab(name: string): Promise<Page> {
  const context = await running.browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  await page.goto(running.server.url);
  await page.fill('#name', name);
  await page.dispatchEvent('#name', 'change');
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'open');
  return page;
}

async function say(page: Page, text: string) {
  await page.fill('#text', text);
  await page.click('#composer button');
  await page.waitForFunction(() => (document.getElementById('text') as HTMLInputElement).value === '');
}

const texts = (page: Page) => page.locator('#messages .text').allTextContents();

async function shows(page: Page, text: string) {
  await page.locator('#messages .text', { hasText: text }).waitFor();
}

describe('the chat-express page in Chromium', () => {
  it('carries a conversation between two tabs', async () => {
    const alice = await openTab('alice');
    const bob = await openTab('bob');
    expect(await texts(alice)).toEqual(['Welcome to #general. Open this page in a second tab and say hello.']);

    await say(alice, 'Hi Bob, can you see this?');
    await shows(bob, 'Hi Bob, can you see this?');
    await say(bob, 'Loud and clear, over SSE.');
    await shows(alice, 'Loud and clear, over SSE.');

    const conversation = [
      'Welcome to #general. Open this page in a second tab and say hello.',
      'Hi Bob, can you see this?',
      'Loud and clear, over SSE.',
    ];
    expect(await texts(alice)).toEqual(conversation);
    expect(await texts(bob)).toEqual(conversation);
    expect(await alice.locator('#messages li.mine .name').allTextContents()).toEqual(['alice']);
    await alice.screenshot({ path: screenshotPath('chat-express-alice') });
    await bob.screenshot({ path: screenshotPath('chat-express-bob') });
    await Promise.all([alice.context().close(), bob.context().close()]);
  });

  it('catches a tab up on a room it left, and after a dropped connection', async () => {
    const carol = await openTab('carol');
    const dave = await openTab('dave');
    await carol.click('#rooms button[data-room="random"]');
    await dave.click('#rooms button[data-room="random"]');
    await carol.waitForFunction(() => document.getElementById('status')?.dataset.state === 'open');
    await dave.waitForFunction(() => document.getElementById('status')?.dataset.state === 'open');

    // Dave steps into #help; what Carol says in #random meanwhile is there when he comes back.
    await dave.click('#rooms button[data-room="help"]');
    await say(carol, 'Posted while Dave was in #help');
    await dave.click('#rooms button[data-room="random"]');
    await shows(dave, 'Posted while Dave was in #help');

    // Every connection is cut, and Dave's reconnect held back until Carol has posted: her
    // message reaches him from history, with the Last-Event-ID his browser sends.
    await dave.waitForFunction(() => document.getElementById('status')?.dataset.state === 'open');
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    await dave.route('**/rooms/random/events**', async (route) => {
      await held;
      await route.continue();
    });
    await carol.click('#drop');
    await dave.waitForFunction(() => document.getElementById('status')?.dataset.state === 'reconnecting');
    await say(carol, 'Posted while Dave was reconnecting');
    expect(await dave.getAttribute('#status', 'data-state')).toBe('reconnecting');
    release();
    await shows(dave, 'Posted while Dave was reconnecting');
    await dave.waitForFunction(() => document.getElementById('status')?.dataset.state === 'open');

    const seen = await texts(dave);
    expect(seen.filter((text) => text.startsWith('Posted while'))).toEqual([
      'Posted while Dave was in #help',
      'Posted while Dave was reconnecting',
    ]);
    expect(Number(await dave.textContent('#opens'))).toBeGreaterThanOrEqual(4);
    await dave.screenshot({ path: screenshotPath('chat-express-resumed') });
    await Promise.all([carol.context().close(), dave.context().close()]);
  });
});
