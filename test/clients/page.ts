// One headless Chromium per test file (Debian's, never a downloaded one), a fresh document
// per test, and a log in the page that every client writes to the same way.
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { launchChromium } from '../../packages/core/test/chromium.js';
import type { OnFinished, Receiver } from './servers.js';

/** What a client in the page did: a message it handed to the app, or something else (open, error…). */
export type Entry = { type: 'message'; event: string; data: string; id: string } | { type: string; detail?: string };

/** The page's globals, as the test scripts use them. */
export type PageWindow = Window & { log: Entry[]; stop?: () => void };

/** Launches Chromium before the file's tests and closes it after them. */
export function useChromium(): { open(url: string, onFinished: OnFinished): Promise<Page> } {
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  // A new tab costs ~300 ms of a loaded 2-core machine; a navigation, a tenth of that. Tabs
  // are kept and reused: leaving a document closes its connections and ends its timers.
  const idle: Page[] = [];
  beforeAll(async () => {
    browser = await launchChromium(chromium);
    context = await browser.newContext();
  });
  afterAll(async () => {
    await browser?.close();
  });
  return {
    /** A fresh document at `url`; left for about:blank (with its connections) when the test finishes. */
    async open(url, onFinished) {
      if (!context) throw new Error('Chromium is not running');
      const page = idle.pop() ?? (await context.newPage());
      onFinished(async () => {
        await page.goto('about:blank');
        idle.push(page);
      });
      await page.goto(url);
      await page.evaluate(() => {
        (window as unknown as PageWindow).log = [];
      });
      return page;
    },
  };
}

/** Everything the page logged so far. */
export function entries(page: Page): Promise<Entry[]> {
  return page.evaluate(() => (window as unknown as PageWindow).log);
}

/** The messages the client handed to the app, in order. */
export async function messages(page: Page) {
  return (await entries(page)).filter((entry) => entry.type === 'message') as Extract<Entry, { type: 'message' }>[];
}

/** The data of the messages that carry some: what the app published (it never publishes ''). */
export async function received(page: Page): Promise<string[]> {
  return (await messages(page)).map((message) => message.data).filter((data) => data !== '');
}

/**
 * Waits until `check` holds in the page. It polls inside the page, so that tests running side
 * by side do not flood the browser with round trips.
 */
export async function waitInPage<Arg>(page: Page, check: (arg: Arg) => boolean, arg: Arg, ms = 10_000) {
  // Cast: playwright's own types for `arg` do not follow a generic through.
  await page.waitForFunction(check as (arg: unknown) => boolean, arg, { polling: 10, timeout: ms });
}

/** Waits until the client has handed over a message with `data`. */
export function waitForData(page: Page, data: string, ms?: number) {
  return waitInPage(
    page,
    (data) => (window as unknown as PageWindow).log.some((entry) => 'data' in entry && entry.data === data),
    data,
    ms,
  );
}

/** The page's client as the steps in servers.ts see it: it has `data` once it handed it over. */
export function receiver(page: Page): Receiver {
  return { has: (data) => waitForData(page, data) };
}

/** Waits until the page logged an entry of `type` (and `detail`, if given). */
export function waitForEntry(page: Page, type: string, detail?: string, ms?: number) {
  return waitInPage(
    page,
    ({ type, detail }) =>
      (window as unknown as PageWindow).log.some(
        (entry) => entry.type === type && (detail === undefined || ('detail' in entry && entry.detail === detail)),
      ),
    { type, detail },
    ms,
  );
}
