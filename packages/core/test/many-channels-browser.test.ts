// Chromium over HTTP/1.1 holds at most six connections per origin: one EventSource per channel
// runs out at the seventh, and a page that follows many channels through followChannels needs
// one, leaving room for more tabs.
import http from 'node:http';
import { chromium, type Page } from 'playwright-core';
import { describe, expect, it, vi } from 'vitest';
import { ChannelRegistry, CursorKey, followChannels } from '../src/index.js';
import { createStream } from '../src/node/index.js';
import { launchChromium } from './chromium.js';
import { afterThisTest, listenForTest, until } from './helpers.js';

const CHANNELS = Array.from({ length: 10 }, (_, i) => `room:${i}`);

async function serve() {
  const registry = new ChannelRegistry();
  const key = new CursorKey('a secret for the browser test, 32 bytes+');
  const streams = { open: 0 };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/events' && url.pathname !== '/one') {
      // The page, and a 404 for its favicon.
      if (url.pathname === '/')
        res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>t</title>');
      else res.writeHead(404).end();
      return;
    }
    const stream = createStream(req, res, { heartbeat: 5_000 });
    streams.open++;
    stream.onClose(() => streams.open--);
    if (url.pathname === '/one') registry.channel(url.searchParams.get('channel') ?? '').subscribe(stream);
    else await followChannels(registry, stream, { channels: url.searchParams.get('channels')?.split(',') ?? [], key });
  });
  return { ...(await listenForTest(server)), registry, streams };
}

async function newPage(url: string): Promise<Page> {
  const browser = await launchChromium(chromium);
  afterThisTest(() => browser.close());
  const page = await browser.newPage();
  await page.goto(url);
  return page;
}

/** Opens EventSources on the page; each records `channel data` of what it receives. */
function openSources(page: Page, paths: string[]): Promise<void> {
  return page.evaluate((list) => {
    const state = { received: [] as string[], sources: [] as EventSource[] };
    Object.assign(window, { state });
    for (const path of list) {
      const source = new EventSource(path);
      source.onmessage = (event) => {
        // One stream of many channels: the channel is the first data line.
        const data = String(event.data);
        const cut = data.indexOf('\n');
        state.received.push(cut === -1 ? data : `${data.slice(0, cut)} ${data.slice(cut + 1)}`);
      };
      state.sources.push(source);
    }
  }, paths);
}

const pageState = (page: Page) =>
  page.evaluate(() => {
    const { state } = window as unknown as { state: { received: string[]; sources: EventSource[] } };
    return { received: [...state.received].sort(), readyStates: state.sources.map((source) => source.readyState) };
  });

describe('many channels in Chromium over HTTP/1.1', () => {
  it('one page follows 10 channels over one stream, and a second and third tab still connect', async () => {
    const { url, registry, streams } = await serve();
    const tabs: Page[] = [];
    const browser = await launchChromium(chromium);
    afterThisTest(() => browser.close());
    for (let tab = 0; tab < 3; tab++) {
      const page = await browser.newPage();
      await page.goto(url);
      await openSources(page, [`/events?channels=${CHANNELS.join(',')}`]);
      tabs.push(page);
    }
    await until(() => (streams.open === 3 && registry.get('room:9')?.size === 3 ? true : undefined), 10_000);
    for (const channel of CHANNELS) await registry.channel(channel).publish(`hello ${channel}`);
    const expected = CHANNELS.map((channel) => `${channel} hello ${channel}`).sort();
    for (const page of tabs) {
      await vi.waitFor(async () => expect((await pageState(page)).received).toEqual(expected), { timeout: 10_000 });
    }
    console.log(`[many channels] 3 tabs × 10 channels: ${streams.open} streams open, one per tab`);
    expect(streams.open).toBe(3);
  });

  it('the control: one EventSource per channel stalls at the seventh', async () => {
    const { url, registry, streams } = await serve();
    const page = await newPage(url);
    await openSources(
      page,
      CHANNELS.map((channel) => `/one?channel=${channel}`),
    );
    await vi.waitFor(
      async () => expect((await pageState(page)).readyStates.filter((state) => state === 1)).toHaveLength(6),
      { timeout: 10_000 },
    );
    // Given time, no seventh connection comes: the browser holds the other four back.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const { readyStates } = await pageState(page);
    console.log(
      `[many channels] 10 EventSources on one page: ${streams.open} streams open, readyStates ${readyStates}`,
    );
    expect(streams.open).toBe(6);
    // Six OPEN; the seventh and the rest CONNECTING, stalled by the browser.
    expect(readyStates.filter((state) => state === 1)).toHaveLength(6);
    expect(readyStates.filter((state) => state === 0)).toHaveLength(4);
    await registry.channel('room:9').publish('never arrives');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await pageState(page)).received).not.toContain('never arrives');
  });
});
