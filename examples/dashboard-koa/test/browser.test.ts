// The dashboard page in headless Chromium: the charts fill from history at once, move with
// every sample, and show a blocked event loop and a second tab. Screenshots go to
// test-output/screenshots/.
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { screenshotPath, serveToChromium } from '../../../packages/core/test/chromium.js';
import { start } from '../src/server.js';

const running = serveToChromium(start);

async function openDashboard(): Promise<Page> {
  const page = await running.browser.newPage({ viewport: { width: 1100, height: 760 } });
  await page.goto(running.server.url);
  await page.waitForFunction(() => document.getElementById('status')?.dataset.state === 'open');
  return page;
}

const sampleCount = (page: Page) => page.evaluate(() => Number(document.body.dataset.samples));
const chartPixels = (page: Page, id: string) =>
  page.evaluate((id) => (document.getElementById(id) as HTMLCanvasElement).toDataURL(), id);

describe('the dashboard-koa page in Chromium', () => {
  it('draws live charts that move with every sample', async () => {
    const page = await openDashboard();
    await page.waitForFunction(() => Number(document.body.dataset.samples) >= 3, undefined, { timeout: 10_000 });
    for (const id of ['cpu-value', 'memory-value', 'loop-value', 'streams-value']) {
      expect(await page.textContent(`#${id}`)).toMatch(/^\d+(\.\d)?$/);
    }
    const before = { samples: await sampleCount(page), cpu: await chartPixels(page, 'cpu-chart') };
    await page.waitForFunction((seen) => Number(document.body.dataset.samples) > seen, before.samples);
    expect(await chartPixels(page, 'cpu-chart')).not.toBe(before.cpu);

    // Busy for 300 ms: the event loop card shows it with the next sample.
    await page.click('#block');
    await page.waitForFunction(() => /^max (\d+)/.exec(document.getElementById('loop-max')?.textContent ?? '')?.[1]);
    await page.waitForFunction(
      () => Number(/^max ([\d.]+)/.exec(document.getElementById('loop-max')?.textContent ?? '')?.[1]) >= 250,
      undefined,
      { timeout: 5_000 },
    );
    await page.screenshot({ path: screenshotPath('dashboard-koa') });
  });

  it('shows a second tab the history at once and counts it among the open streams', async () => {
    const first = await openDashboard();
    await first.waitForFunction(() => Number(document.body.dataset.samples) >= 2, undefined, { timeout: 10_000 });
    const second = await openDashboard();
    // The history arrives with the stream: no waiting for samples to accumulate.
    expect(await sampleCount(second)).toBeGreaterThanOrEqual(await sampleCount(first));
    const openStreams = () => second.evaluate(() => Number(document.getElementById('streams-value')?.textContent));
    await second.waitForFunction(() => Number(document.getElementById('streams-value')?.textContent) >= 2);
    expect(await openStreams()).toBeGreaterThanOrEqual(2);
    await second.screenshot({ path: screenshotPath('dashboard-koa-second-tab') });
  });
});
