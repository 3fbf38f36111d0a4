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

const chartPixels = (page: Page, id: string) =>
  page.evaluate((id) => (document.getElementById(id) as HTMLCanvasElement).toDataURL(), id);

describe('the dashboard-koa page in Chromium', () => {
  it('draws live charts that move with every sample', async () => {
    const page = await openDashboard();
    await page.waitForFunction(() => Number(document.body.dataset.samples) >= 3, undefined, { timeout: 10_000 });
    for (const id of ['cpu-value', 'memory-value', 'loop-value', 'streams-value']) {
      expect(await page.textContent(`#${id}`)).toMatch(/^\d+(\.\d)?$/);
    }
    const before = {
      samples: await page.evaluate(() => Number(document.body.dataset.samples)),
      cpu: await chartPixels(page, 'cpu-chart'),
    };
    await page.waitForFunction((seen) => Number(document.body.dataset.samples) > seen, before.samples);
    expect(await chartPixels(page, 'cpu-chart')).not.toBe(before.cpu);

    // Busy for 300 ms: the event loop card shows it with the next sample.
    await page.click('#block');
    await page.waitForFunction(
      () => Number(/^max ([\d.]+)/.exec(document.getElementById('loop-max')?.textContent ?? '')?.[1]) >= 250,
      undefined,
      { timeout: 5_000 },
    );
    await page.screenshot({ path: screenshotPath('dashboard-koa') });
    await page.close();
  });

  it('shows a second tab the history at once and counts it among the open streams', async () => {
    const first = await openDashboard();
    await first.waitForFunction(() => Number(document.body.dataset.samples) >= 2, undefined, { timeout: 10_000 });
    const streamsBefore = Number(await first.textContent('#streams-value'));
    const second = await openDashboard();
    // The history comes with the stream: two samples sooner than the second a live one takes.
    await second.waitForFunction(() => Number(document.body.dataset.samples) >= 2, undefined, { timeout: 900 });
    await first.waitForFunction(
      (before) => Number(document.getElementById('streams-value')?.textContent) > before,
      streamsBefore,
      { timeout: 5_000 },
    );
    await second.screenshot({ path: screenshotPath('dashboard-koa-second-tab') });
    await Promise.all([first.close(), second.close()]);
  });
});
