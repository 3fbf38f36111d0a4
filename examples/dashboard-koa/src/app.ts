/**
 * The dashboard, as a Koa app. A sampler measures the process once a second and publishes
 * each sample to one channel; every open page is a subscriber, so a sample is serialized
 * once however many pages watch.
 *
 *   GET  /         the page (page.html)
 *   GET  /events   the stream: `history` (the last minute) on a first visit, then `sample` events
 *   POST /block    demo only: blocks the event loop for `?ms=` (default 300), to see it on the charts
 */
import { readFileSync } from 'node:fs';
import Router from '@koa/router';
import { ChannelRegistry, type SseStream } from '@ssekit/core';
import { sse } from '@ssekit/koa';
import Koa from 'koa';
import { type Sample, startSampler } from './sampler.js';

/** The events of the stream and the type of their data: `send` and `publish` check both. */
export type DashboardEvents = { history: Sample[]; sample: Sample };

/** How much a new page is shown at once: the charts' width, in samples. */
const HISTORY_SAMPLES = 60;
const MAX_BLOCK_MS = 2_000;

const page = readFileSync(new URL('./page.html', import.meta.url));

export interface DashboardOptions {
  /** How often to sample and push, in ms. Default 1 000. */
  intervalMs?: number;
}

/** Builds the app; `close` stops the sampler and ends every stream. */
export function createDashboard({ intervalMs = 1_000 }: DashboardOptions = {}) {
  // One process, so the in-memory broker; its history (a few minutes of samples) is what a
  // page that reconnects resumes from.
  const registry = new ChannelRegistry({ history: { size: 300 } });
  const metrics = registry.channel<DashboardEvents>('metrics');
  const recent: { id: string; sample: Sample }[] = [];

  const sampler = startSampler(intervalMs, (sample) => {
    metrics.publish(sample, { event: 'sample' }).then(
      (id) => {
        recent.push({ id, sample });
        if (recent.length > HISTORY_SAMPLES) recent.shift();
      },
      // Only after close(), when the registry refuses publishes: that sample is not needed.
      () => {},
    );
  });

  const router = new Router();
  router.get('/', (ctx) => {
    ctx.type = 'html';
    ctx.body = page;
  });

  router.get('/events', sse({ retry: 1_000 }), (ctx) => {
    const stream = ctx.sse as SseStream<DashboardEvents>;
    // A reconnecting page sends the id of the last sample it drew: the channel replays the
    // ones it missed. A new page gets the last minute at once, then everything after it.
    if (stream.lastEventId === undefined)
      stream.send(
        recent.map(({ sample }) => sample),
        { event: 'history' },
      );
    metrics.subscribe(stream, { lastEventId: stream.lastEventId ?? recent.at(-1)?.id ?? null });
    // Return without awaiting: Koa starts sending the stream when the middleware chain is done.
  });

  router.post('/block', (ctx) => {
    const ms = Math.min(Number(ctx.query.ms ?? 300) || 0, MAX_BLOCK_MS);
    const until = performance.now() + ms;
    while (performance.now() < until) {
      // Busy on purpose: the event loop delay and CPU charts show it within a second.
    }
    ctx.status = 204;
  });

  const app = new Koa();
  app.use(router.routes()).use(router.allowedMethods());

  return {
    app,
    close: () => {
      sampler.stop();
      return registry.close();
    },
  };
}
