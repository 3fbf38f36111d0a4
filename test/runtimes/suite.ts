// The runtime matrix: the fixture app (fixture/app.ts) on one real runtime, checked over
// HTTP on loopback, once through @ssekit/hono and once through core's createResponse.
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_MAX_BUFFERED_BYTES, DEFAULT_MAX_EVENT_BYTES } from '@ssekit/core';
import { openEvents } from '@ssekit/testing';
import '@ssekit/testing/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRaw } from '../../packages/core/test/helpers.js';
import type { StreamReport } from './fixture/app.js';
import { bundle, type RunningServer, type Runtime, residentBytes, runtimeVersion, startServer } from './launch.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const entries: Record<Runtime, string> = {
  node20: 'node.ts',
  node24: 'node.ts',
  bun: 'bun.ts',
  deno: 'deno.ts',
  workerd: 'worker.ts',
};
const KINDS = ['hono', 'core'] as const;

/** Figures for the closing note and for anyone comparing runtimes, written per runtime. */
const figures: Record<string, unknown> = {};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens a stream and resolves with the request once its first bytes arrived. */
function openStream(url: string): Promise<{ request: http.ClientRequest; response: http.IncomingMessage }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, (response) => response.once('data', () => resolve({ request, response })));
    request.on('error', reject);
  });
}

/** Reads a stream at full speed to its end; resolves with the ids of its events, in order. */
async function readIds(url: string): Promise<number[]> {
  const events = await openEvents(url);
  // The server ends a burst's stream once it has sent what it accepted.
  if (!(await events.waitForEnd(20_000))) throw new Error(`${url} did not end within 20 s`);
  return events.received.map(({ id }) => Number(id));
}

const MiB = 1024 * 1024;
/** Bursts sent in one turn (bytes of data) and their event sizes: the 330 kB among them. */
const BURSTS = [
  { burst: 100_000, size: 100 },
  { burst: 330_000, size: 200 },
  { burst: 1_000_000, size: 1000 },
  { burst: 8_000_000, size: 64 * 1024 },
  { burst: 8_000_000, size: 2 * MiB },
];

/** Polls `check` until it returns a value, for at most `ms`. */
async function poll<T>(check: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`nothing after ${ms} ms`);
    await sleep(20);
  }
}

export function runtimeSuite(runtime: Runtime): void {
  describe(`on ${runtime}`, () => {
    let server: RunningServer;
    let token = 0;
    const nextToken = (name: string) => `${name}-${++token}`;
    const report = async (name: string): Promise<StreamReport | null> =>
      (await fetch(`${server.url}/report?token=${name}`)).json() as Promise<StreamReport | null>;
    /** The report of stream `name` once it has `field`; the server notes its own times. */
    const reportWith = (name: string, field: 'endedAt' | 'stoppedAt', ms: number) =>
      poll(async () => {
        const current = await report(name);
        return current?.[field] ? current : undefined;
      }, ms);

    beforeAll(async () => {
      server = await startServer(runtime, await bundle(path.join(here, 'fixture', entries[runtime]), runtime));
      figures.version = await runtimeVersion(runtime);
      figures.reported = await (await fetch(`${server.url}/runtime`)).json();
    });

    afterAll(async () => {
      await server?.stop();
      const dir = path.resolve(here, '../../test-output/runtimes');
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, `${runtime}.json`), `${JSON.stringify(figures, null, 2)}\n`);
      console.log(`[${runtime}] ${JSON.stringify(figures)}`);
      // No warning and no uncaught error. (@hono/node-server and Deno log the reason of each
      // body that ssekit errors to cut a slow client off; that is their policy.)
      // Bun's warning that it timed a request out is the heartbeat test's control.
      const stderr = (server?.stderr() ?? '').replace(/^warn: Bun\.serve\(\) timed out a request .*\n/m, '');
      expect(stderr).not.toMatch(/warn|deprecat|uncaught|hung|TypeError|ReferenceError/i);
    });

    describe.each(KINDS)('through %s', (kind) => {
      /** Opens a stream of `scenario`, then leaves as a client does: its token, and when. */
      const openAndLeave = async (scenario: string) => {
        const name = nextToken(scenario);
        const { request } = await openStream(`${server.url}/${kind}/${scenario}?token=${name}`);
        const disconnectedAt = Date.now();
        request.destroy();
        return { name, disconnectedAt };
      };

      it('sends the event-stream headers and exactly the bytes of each event', async () => {
        const { res, body } = await getRaw(`${server.url}/${kind}/basic`);
        expect(res.statusCode).toBe(200);
        expect(res.headers['content-type']).toBe('text/event-stream; charset=utf-8');
        expect(res.headers['cache-control']).toBe('no-cache, no-transform');
        expect(res.headers['x-accel-buffering']).toBe('no');
        expect(res.headers['x-app']).toBe('fixture');
        expect(body).toBe(
          'retry: 2500\n' +
            'event: greeting\nid: 1\ndata: {"hello":"world"}\n\n' +
            'id: two\ndata: line one\ndata: line two\n\n' +
            'data: héllo ✓ 🚀\n\n',
        );
      });

      it('reads Last-Event-ID from the header and from the query', async () => {
        const url = `${server.url}/${kind}/last-event-id`;
        for (const [events, seen] of [
          [await openEvents(url, { lastEventId: 'h-41' }), 'h-41'],
          [await openEvents(`${url}?lastEventId=q-42`), 'q-42'],
          [await openEvents(url), 'none'],
        ] as const) {
          await expect(events).toEmitInOrder([{ event: 'resumed-after', data: seen }]);
          await expect(events).toEndWithin(2_000);
        }
      });

      it('ends the signal and stops a producer that would run forever within a second of a disconnect', async () => {
        const { name, disconnectedAt } = await openAndLeave('forever');
        const stopped = await reportWith(name, 'stoppedAt', 3_000);
        expect(stopped.endCode).toBe('CLIENT_GONE');
        // The loop saw the end and left: its code after the loop ran, within the second.
        expect(stopped.stoppedAt).toBeLessThan(disconnectedAt + 1_000);
        figures[`${kind}: producer, disconnect to signal (ms)`] = (stopped.endedAt ?? 0) - disconnectedAt;
      });

      it('notices within a second that the client of a quiet stream left', async () => {
        const { name, disconnectedAt } = await openAndLeave('quiet');
        const ended = await reportWith(name, 'endedAt', 3_000);
        expect(ended.endCode).toBe('CLIENT_GONE');
        expect(ended.endedAt).toBeLessThan(disconnectedAt + 1_000);
        figures[`${kind}: quiet stream, disconnect to signal (ms)`] = (ended.endedAt ?? 0) - disconnectedAt;
      });

      it('keeps a client that does not read within the stream bound, not the runtime memory', async () => {
        const name = nextToken('flood');
        const limitBytes = 256 * 1024 * 1024;
        const before = residentBytes(server.pid);
        const { request, response } = await openStream(
          `${server.url}/${kind}/flood?token=${name}&limitBytes=${limitBytes}`,
        );
        response.pause();
        let ended: StreamReport;
        let grownBytes: number;
        try {
          ended = await reportWith(name, 'stoppedAt', 20_000);
          grownBytes = residentBytes(server.pid) - before;
        } finally {
          request.destroy();
        }
        // Cut off at its bound: the producer offered far less than it would have.
        expect(ended.endCode).toBe('BUFFER_OVERFLOW');
        expect(ended.offeredBytes).toBeLessThan(32 * 1024 * 1024);
        expect(grownBytes).toBeLessThan(64 * 1024 * 1024);
        figures[`${kind}: slow client, offered before cut-off (KiB)`] = Math.round(ended.offeredBytes / 1024);
        figures[`${kind}: slow client, server RSS growth (MiB)`] = Math.round(grownBytes / 1024 / 102.4) / 10;
      });
    });

    // Bun closes a connection idle for 10 s, checked every few seconds: a silent stream was
    // seen cut at 10 to 12 s, so the event comes at 15 s.
    it('keeps quiet streams open past the idle timeout with its default heartbeat', async () => {
      const aliveAfter = 15_000;
      const timeout = aliveAfter + 5_000;
      const openedAt = Date.now();
      const streams = await Promise.all(
        KINDS.map((kind) =>
          openEvents(`${server.url}/${kind}/quiet?token=${nextToken('idle')}&aliveAfter=${aliveAfter}`, { timeout }),
        ),
      );
      // On Bun, the control: without heartbeats its idle timeout cuts the stream first.
      const silent =
        runtime === 'bun'
          ? await openEvents(`${server.url}/core/silent?token=${nextToken('silent')}&aliveAfter=${aliveAfter}`)
          : undefined;
      const silentCut = silent?.waitForEnd(timeout).then((ended) => ({ ended, cutAfter: Date.now() - openedAt }));
      for (const [i, events] of streams.entries()) {
        // One response throughout (a cut would end the reader first): the opening comment, at
        // least one heartbeat, then the event.
        await expect(events).toEmitInOrder([{ event: 'alive', data: 'still here' }]);
        expect(Date.now() - openedAt).toBeGreaterThanOrEqual(aliveAfter);
        expect(events.comments.length).toBeGreaterThanOrEqual(2);
        figures[`${KINDS[i]}: heartbeats in 15 s`] = events.comments.length - 1;
      }
      if (silent && silentCut) {
        const { ended, cutAfter } = await silentCut;
        expect(ended).toBe(true);
        expect(silent.dropped).toBe(true);
        expect(silent.comments).toEqual(['']);
        expect(silent.received).toEqual([]);
        expect(cutAfter).toBeLessThan(aliveAfter);
        figures['without heartbeats, cut by the runtime after (ms)'] = cutAfter;
      }
    }, 25_000);

    it('fans out a channel to subscribers of both kinds, and replays its history after Last-Event-ID', async () => {
      const channel = nextToken('room');
      const subscribers = await Promise.all(
        KINDS.map((kind) => openEvents(`${server.url}/${kind}/channel?name=${channel}`)),
      );
      const ids: string[] = [];
      for (const text of ['one', 'two', 'three']) {
        const response = await fetch(`${server.url}/publish?name=${channel}`, { method: 'POST', body: text });
        ids.push(((await response.json()) as { id: string }).id);
      }
      const events = ['one', 'two', 'three'].map((data, i) => ({ event: 'message', id: ids[i], data }));
      for (const subscriber of subscribers) await expect(subscriber).toEmitInOrder(events);

      const fromHeader = await openEvents(`${server.url}/hono/channel?name=${channel}`, { lastEventId: ids[0] });
      await expect(fromHeader).toEmitInOrder(events.slice(1));
      const fromQuery = await openEvents(`${server.url}/core/channel?name=${channel}&lastEventId=${ids[1]}`);
      await expect(fromQuery).toEmitInOrder(events.slice(2));
    });

    // After the figures above, so that the memory the bursts took does not blur them.
    it.each(KINDS)(
      'delivers every event of a burst that send accepted, in order, and refuses only its tail, through %s',
      async (kind) => {
        const before = residentBytes(server.pid);
        const rows: string[] = [];
        for (const { burst, size } of BURSTS) {
          const name = nextToken('burst');
          const count = Math.max(1, Math.round(burst / size));
          const large = size > DEFAULT_MAX_EVENT_BYTES / 2;
          const ids = await readIds(
            `${server.url}/${kind}/${large ? 'burst-large' : 'burst'}?token=${name}&size=${size}&count=${count}`,
          );
          const seen = (await reportWith(name, 'endedAt', 5_000)).burst;
          if (!seen) throw new Error('the burst was not reported');
          expect(seen.acceptedAfterRefusal).toBe(0);
          expect(ids).toEqual(Array.from({ length: seen.accepted }, (_, id) => id));
          const maxEventBytes = large ? 4 * MiB : DEFAULT_MAX_EVENT_BYTES;
          expect(seen.peakBufferedBytes).toBeLessThanOrEqual(DEFAULT_MAX_BUFFERED_BYTES + maxEventBytes);
          if (burst <= DEFAULT_MAX_BUFFERED_BYTES + maxEventBytes - size) expect(seen.refused).toBe(0);
          rows.push(`${burst} B in ${size} B events: ${ids.length}/${seen.accepted} of ${count}`);
        }
        const grownBytes = residentBytes(server.pid) - before;
        expect(grownBytes).toBeLessThan(96 * MiB);
        figures[`${kind}: bursts, delivered/accepted of sent`] = rows;
        figures[`${kind}: bursts, server RSS growth (MiB)`] = Math.round(grownBytes / 1024 / 102.4) / 10;
      },
    );
  });
}
