// The dashboard over HTTP with the `eventsource` client: a minute of history for a new page,
// a sample every second, resuming after Last-Event-ID, and the charts' numbers being real.
import { EventSource, type EventSourceInit } from 'eventsource';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { afterThisTest, until } from '../../../packages/core/test/helpers.js';
import type { Sample } from '../src/sampler.js';
import { start } from '../src/server.js';

let server: Awaited<ReturnType<typeof start>>;
beforeAll(async () => {
  server = await start({ port: 0 });
});
afterAll(() => server?.close());

interface Received {
  id: string;
  sample: Sample;
}

/** The place of an id in the broker's one sequence (`<epoch>-<n>`); this channel is its only user. */
const place = (id: string) => Number(id.split('-').at(-1));

/** Whether `ids` follow each other with no id missing or repeated. */
const consecutive = (ids: string[]) => ids.every((id, i) => i === 0 || place(id) === place(ids[i - 1] ?? '') + 1);

function watch(init?: EventSourceInit) {
  const source = new EventSource(`${server.url}/events`, init);
  afterThisTest(() => source.close());
  const history: Sample[][] = [];
  const samples: Received[] = [];
  source.addEventListener('history', (event) => history.push(JSON.parse(event.data)));
  source.addEventListener('sample', (event) => samples.push({ id: event.lastEventId, sample: JSON.parse(event.data) }));
  return { source, history, samples };
}

describe('dashboard-koa', () => {
  it('serves a self-contained page that draws on canvases', async () => {
    const res = await fetch(server.url);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(html).toContain("new EventSource('/events')");
    expect(html.match(/<canvas /g)).toHaveLength(4);
    expect(html).not.toMatch(/(src|href)="https?:/);
  });

  it('pushes a sample of CPU, memory, event loop delay and open streams every second', async () => {
    const page = watch();
    await until(() => page.samples.length >= 3 || undefined, 8_000);
    const [first, , third] = page.samples;
    // Two intervals: never early, and late only by what a busy machine adds.
    const seconds = ((third?.sample.at ?? 0) - (first?.sample.at ?? 0)) / 1000;
    expect(seconds).toBeGreaterThan(1.5);
    expect(seconds).toBeLessThan(5);
    const { sample } = third as Received;
    expect(sample.cpu).toBeGreaterThanOrEqual(0);
    expect(sample.cores).toBeGreaterThanOrEqual(1);
    expect(sample.rss).toBeGreaterThan(sample.heapUsed);
    expect(sample.heapTotal).toBeGreaterThanOrEqual(sample.heapUsed);
    expect(sample.loopP99).toBeGreaterThanOrEqual(sample.loopP50);
    expect(sample.loopMax).toBeGreaterThanOrEqual(sample.loopP99);
    expect(sample.openStreams).toBeGreaterThanOrEqual(1);
    expect(consecutive(page.samples.map(({ id }) => id))).toBe(true);
  });

  it('shows a new page the last minute at once, then carries on without a gap', async () => {
    const earlier = watch();
    await until(() => earlier.samples.length >= 3 || undefined, 8_000);
    const page = watch();
    await until(() => (page.history.length === 1 && page.samples.length >= 1) || undefined, 8_000);
    const history = page.history[0] ?? [];
    expect(history.length).toBeGreaterThanOrEqual(3);
    expect(history.length).toBeLessThanOrEqual(60);
    // The history ends with the sample before the page's first live one: none missing, none twice.
    const first = page.samples[0] as Received;
    const index = earlier.samples.findIndex(({ id }) => id === first.id);
    expect(index).toBeGreaterThan(0);
    expect(history.at(-1)).toEqual(earlier.samples[index - 1]?.sample);
  });

  it('counts each open page among the open streams', async () => {
    const pages = [watch(), watch(), watch()];
    await until(() => pages.every((page) => page.samples.length >= 1) || undefined, 8_000);
    const newest = pages.map((page) => page.samples.at(-1)?.sample.openStreams ?? 0);
    for (const count of newest) expect(count).toBeGreaterThanOrEqual(3);
  });

  it('resumes after Last-Event-ID with the samples missed, and no history', async () => {
    const before = watch();
    await until(() => before.samples.length >= 1 || undefined, 8_000);
    const lastSeen = before.samples[0] as Received;
    before.source.close();
    await new Promise((resolve) => setTimeout(resolve, 2_200)); // away for two samples or so

    const reconnectedAt = Date.now();
    const after = watch({
      fetch: (url, init) => fetch(url, { ...init, headers: { ...init.headers, 'Last-Event-ID': lastSeen.id } }),
    });
    await until(() => after.samples.length >= 3 || undefined, 8_000);
    expect(after.history).toEqual([]);
    // The samples taken while away came from history, then the live ones, in one sequence.
    expect(after.samples.filter(({ sample }) => sample.at < reconnectedAt).length).toBeGreaterThanOrEqual(2);
    expect(consecutive([lastSeen.id, ...after.samples.map(({ id }) => id)])).toBe(true);
  });

  it('shows a blocked event loop in the next samples, even a block right after a sample', async () => {
    const page = watch();
    await until(() => page.samples.length >= 1 || undefined, 8_000);
    // Block just after a sample arrives: the moment a reset histogram used to lose it.
    const before = page.samples.length;
    await until(() => page.samples.length > before || undefined, 8_000);
    const seen = page.samples.length;
    expect((await fetch(`${server.url}/block?ms=300`, { method: 'POST' })).status).toBe(204);
    await until(() => page.samples.length >= seen + 2 || undefined, 8_000);
    const worst = Math.max(...page.samples.slice(seen).map(({ sample }) => sample.loopMax));
    expect(worst).toBeGreaterThanOrEqual(250);
  });
});
