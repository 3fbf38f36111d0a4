import http from 'node:http';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CorsOptions } from '../src/index.js';
import { createStream } from '../src/node/index.js';
import { launchChromium } from './chromium.js';
import { listen } from './helpers.js';

/**
 * Headless Chromium's EventSource on a page of one origin (`localhost`) reading streams of
 * another (`127.0.0.1`): the browser, not our assertions, decides whether the CORS answer
 * lets the page read the events.
 */
let browser: Browser;
let page: Awaited<ReturnType<typeof listen>>;
let streams: Awaited<ReturnType<typeof listen>>;
let pageOrigin = '';
const seenOrigins: (string | undefined)[] = [];

const policies: Record<string, CorsOptions | undefined> = {
  none: undefined,
  open: { origin: '*' },
  credentials: { origin: (origin) => origin === pageOrigin, credentials: true },
  'other-origin': { origin: 'https://elsewhere.example', credentials: true },
};

beforeAll(async () => {
  browser = await launchChromium(chromium);
  page = await listen(
    http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html>')),
  );
  pageOrigin = `http://localhost:${page.port}`;
  streams = await listen(
    http.createServer((req, res) => {
      seenOrigins.push(req.headers.origin);
      const stream = createStream(req, res, { cors: policies[req.url?.slice(1) ?? ''] });
      stream.send('readable', { event: 'hello' });
    }),
  );
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await page?.close();
  await streams?.close();
});

/** What a page on `pageOrigin` gets from `new EventSource(url, { withCredentials })`. */
async function readFromPage(path: string, withCredentials: boolean): Promise<string> {
  const tab = await browser.newPage();
  try {
    await tab.goto(pageOrigin);
    return await tab.evaluate(
      ({ url, withCredentials }) =>
        new Promise<string>((resolve) => {
          const source = new EventSource(url, { withCredentials });
          source.addEventListener('hello', (event) => {
            source.close();
            resolve(`event: ${(event as MessageEvent).data}`);
          });
          source.onerror = () => {
            source.close();
            resolve('error');
          };
        }),
      { url: `http://127.0.0.1:${streams.port}/${path}`, withCredentials },
    );
  } finally {
    await tab.close();
  }
}

describe('a cross-origin EventSource in Chromium', () => {
  it('reads a stream whose policy allows the page, with and without credentials', async () => {
    expect(await readFromPage('open', false)).toBe('event: readable');
    expect(await readFromPage('credentials', true)).toBe('event: readable');
    expect(seenOrigins).toContain(pageOrigin);
  });

  it('cannot read a stream without a policy, one that names another origin, or "*" with credentials', async () => {
    expect(await readFromPage('none', false)).toBe('error');
    expect(await readFromPage('other-origin', true)).toBe('error');
    // The browser itself refuses "*" for a credentialed request: why the option refuses it too.
    expect(await readFromPage('open', true)).toBe('error');
  });
});
