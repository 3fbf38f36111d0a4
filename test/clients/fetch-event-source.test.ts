// @microsoft/fetch-event-source in Chromium, loaded from its own ESM build, against the same
// app on Express, Koa and Hono: what it hands to onmessage, how it resumes after a drop, what
// it does when a stream ends cleanly, and the settings that make it resume without loss.
//
// Its parser (lib/esm/parse.js, 2.0.1) calls onmessage at every blank line, whether or not the
// block had data: a heartbeat or a retry hint followed by a blank line arrives as an empty
// message, which an app cannot tell from send(''). Its fetchEventSource (lib/esm/fetch.js)
// calls onclose when a body ends and stops for good, unless onclose throws: the error goes to
// onerror, and the request is made again after the last `retry:` (1 s if none).
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  entries,
  messages,
  type PageWindow,
  received,
  receiver,
  useChromium,
  waitForData,
  waitForEntry,
} from './page.js';
import { eventually, frameworks, heartbeats, RETRY_MS, sleep, startServer } from './servers.js';

const chromium = useChromium();

/** The page at /fetch-event-source.html imports the package's ESM build and puts it here. */
type FesWindow = PageWindow & { fetchEventSourceModule: typeof import('@microsoft/fetch-event-source') };

/**
 * - `default`: only onmessage, and onclose / onerror that log and return, as an app that
 *   wrote none would behave.
 * - `readme`: the handlers of the package's README: onopen accepts a content type equal to
 *   `text/event-stream`, onclose throws to retry, onerror rethrows fatal errors.
 * - `recipe`: what docs/clients.md recommends: onopen accepts `text/event-stream` with a
 *   charset, stops on 204, retries 5xx and 429; onclose throws to come back.
 */
type Mode = 'default' | 'readme' | 'recipe';

async function start(page: Page, path: string, mode: Mode) {
  await page.evaluate(
    ({ path, mode }) => {
      const w = window as unknown as PageWindow;
      const { fetchEventSource, EventStreamContentType } = (w as FesWindow).fetchEventSourceModule;
      class RetriableError extends Error {}
      class FatalError extends Error {}
      const controller = new AbortController();
      w.stop = () => controller.abort();
      const onopen =
        mode === 'default'
          ? undefined
          : async (response: Response) => {
              w.log.push({ type: 'open', detail: String(response.status) });
              const type = response.headers.get('content-type') ?? '';
              if (mode === 'recipe') {
                if (response.status === 204) throw new FatalError('the channel has ended');
                if (response.ok && type.startsWith(EventStreamContentType)) return;
              } else if (response.ok && type === EventStreamContentType) return;
              if (response.status >= 400 && response.status < 500 && response.status !== 429) {
                throw new FatalError(String(response.status));
              }
              throw new RetriableError(`${response.status} ${type}`);
            };
      fetchEventSource(path, {
        signal: controller.signal,
        ...(onopen && { onopen }),
        onmessage: ({ event, data, id }) => {
          w.log.push({ type: 'message', event, data, id });
        },
        onclose: () => {
          w.log.push({ type: 'close' });
          if (mode !== 'default') throw new RetriableError('the stream ended');
        },
        onerror: (error: Error) => {
          w.log.push({ type: 'error', detail: error.message });
          if (error instanceof FatalError) throw error;
          // undefined: the next attempt waits for the last `retry:` the server sent.
        },
      }).then(
        () => w.log.push({ type: 'resolved' }),
        (error: Error) => w.log.push({ type: 'rejected', detail: error.message }),
      );
    },
    { path, mode },
  );
}

// What reaches onmessage depends on the bytes each adapter writes: every framework.
//
// Three of these fail while core ends its heartbeats, its opening (`:` or `retry: 100`) and the
// retry hint of registry.close() with a blank line: each arrives as { event: '', data: '',
// id: '' }. They pass once each is a lone line, with no blank line after it.
describe.concurrent.each(frameworks)('fetch-event-source 2.0.1 in Chromium, %s', (framework) => {
  it('never hands a heartbeat or the opening retry of a channel route to onmessage', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/fetch-event-source.html`, onTestFinished);
    await start(page, '/beat/a', 'default');
    const id = await server.publishAfterHeartbeats('a', receiver(page));
    expect(await messages(page)).toEqual([{ type: 'message', event: '', data: 'one', id }]);
  });

  it('never hands the heartbeats or the opening comment of an sse() route to onmessage', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/fetch-event-source.html`, onTestFinished);
    await start(page, '/plain', 'default');
    await waitForData(page, 'bye');
    expect(await messages(page)).toEqual([
      { type: 'message', event: '', data: 'hello', id: 'p1' },
      { type: 'message', event: '', data: 'bye', id: 'p2' },
    ]);
    expect(heartbeats(server.requestsTo('/plain')[0]?.body ?? '')).toBeGreaterThanOrEqual(3);
  });

  it('resumes with Last-Event-ID after a drop, without loss', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/fetch-event-source.html`, onTestFinished);
    await start(page, '/channels/a', 'default');
    const second = await server.publishAcrossDrop('a', receiver(page));
    expect(await received(page)).toEqual(['1', '2', '3', '4']);
    expect(server.requestsTo('/channels/a').map(({ header, status }) => ({ header, status }))).toEqual([
      { header: undefined, status: 200 },
      { header: second, status: 200 },
    ]);
  });

  it('stops at registry.close() by default; the retry hint before the end is not a message', async ({
    onTestFinished,
  }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/fetch-event-source.html`, onTestFinished);
    await start(page, '/channels/a', 'default');
    await server.subscribers('a', 1);
    const id = await server.publish('a', 'one');
    await waitForData(page, 'one');
    await server.registry.close();
    await waitForEntry(page, 'resolved');
    await sleep(RETRY_MS * 3);
    expect(server.requestsTo('/channels/a')).toHaveLength(1);
    // Fails while the hint is `retry: N\n\n` (and the opening `retry: 100\n\n`): each arrives
    // as an empty message.
    expect(await messages(page)).toEqual([{ type: 'message', event: '', data: 'one', id }]);
  });
});

// A client's own policies (what it does at an end, at a 503 or a 204) do not depend on the
// framework: every adapter answers with the same bytes and statuses (test/conformance,
// test/channels.test.ts). They run once, each client on another framework.
describe.concurrent('fetch-event-source 2.0.1 in Chromium, its own policies, on hono', () => {
  const framework = 'hono';

  it('retries a 503 from a proxy with Last-Event-ID (its default onopen rejects what is not an event stream)', async ({
    onTestFinished,
  }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/fetch-event-source.html`, onTestFinished);
    await start(page, '/channels/a', 'default');
    const second = await server.publishAcrossDrop('a', receiver(page), { failNext: 503 });
    expect(await received(page)).toEqual(['1', '2', '3', '4']);
    expect(server.requestsTo('/channels/a').map(({ header, status }) => ({ header, status }))).toEqual([
      { header: undefined, status: 200 },
      { header: second, status: 503 },
      { header: second, status: 200 },
    ]);
  });

  it('stops for good when a stream ends cleanly (maxLifetime), unless onclose throws', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/fetch-event-source.html`, onTestFinished);
    await start(page, '/lifetime/a', 'default');
    await waitForEntry(page, 'resolved'); // onclose ran, and fetchEventSource's promise resolved
    await sleep(RETRY_MS * 4);
    expect(server.requestsTo('/lifetime/a')).toHaveLength(1);
    expect((await entries(page)).filter((entry) => entry.type !== 'message')).toEqual([
      { type: 'close' },
      { type: 'resolved' },
    ]);
  });

  it('with onclose throwing, comes back after each clean end (maxLifetime) and resumes without loss', async ({
    onTestFinished,
  }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/fetch-event-source.html`, onTestFinished);
    await start(page, '/lifetime/a', 'recipe');
    const first = await server.publishAcrossCleanEnd('a', receiver(page));
    expect(await received(page)).toEqual(['1', '2']);
    // Which request resumed depends on when maxLifetime ended the first stream (90–110%).
    expect(server.requestsTo('/lifetime/a').map(({ header }) => header)).toContain(first);
  });

  it('with the README onopen, never opens: ssekit adds "; charset=utf-8" to text/event-stream', async ({
    onTestFinished,
  }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/fetch-event-source.html`, onTestFinished);
    await start(page, '/channels/a', 'readme');
    // Rejected before the body is read, so no `retry:` is seen: it tries again every 1 s.
    await eventually(() => (server.requestsTo('/channels/a').length >= 2 ? true : undefined));
    expect(server.requestsTo('/channels/a').every(({ status }) => status === 200)).toBe(true);
    expect(await received(page)).toEqual([]);
  });

  it('stops at the 204 that answers a reconnect to an ended channel, with the recipe', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/fetch-event-source.html`, onTestFinished);
    await start(page, '/channels/a', 'recipe');
    await server.subscribers('a', 1);
    server.registry.end('a');
    // One reconnect after the end, answered 204, and the recipe's FatalError ends it.
    await waitForEntry(page, 'rejected');
    await sleep(RETRY_MS * 3);
    expect(server.requestsTo('/channels/a').map(({ status }) => status)).toEqual([200, 204]);
  });

  it('asks again forever for an ended channel with the README handlers: a 204 is `ok`', async ({ onTestFinished }) => {
    const server = await startServer(framework, onTestFinished);
    const page = await chromium.open(`${server.url}/fetch-event-source.html`, onTestFinished);
    // Fixed for the charset only: a 204 has no content type, so onopen throws RetriableError
    // and the client asks again at every `retry:`.
    await startReadmeWithCharset(page, '/channels/a');
    await server.subscribers('a', 1);
    server.registry.end('a');
    await eventually(() =>
      server.requestsTo('/channels/a').filter(({ status }) => status === 204).length >= 4 ? true : undefined,
    );
  });
});

/** The README's handlers with `startsWith` for the content type, and nothing for 204. */
async function startReadmeWithCharset(page: Page, path: string) {
  await page.evaluate(
    ({ path }) => {
      const w = window as unknown as PageWindow;
      const { fetchEventSource, EventStreamContentType } = (w as FesWindow).fetchEventSourceModule;
      class RetriableError extends Error {}
      class FatalError extends Error {}
      fetchEventSource(path, {
        async onopen(response) {
          w.log.push({ type: 'open', detail: String(response.status) });
          if (response.ok && response.headers.get('content-type')?.startsWith(EventStreamContentType)) return;
          if (response.status >= 400 && response.status < 500 && response.status !== 429) throw new FatalError();
          throw new RetriableError();
        },
        onmessage: ({ event, data, id }) => {
          w.log.push({ type: 'message', event, data, id });
        },
        onclose() {
          throw new RetriableError();
        },
        onerror(error) {
          if (error instanceof FatalError) throw error;
        },
      });
    },
    { path },
  );
}
