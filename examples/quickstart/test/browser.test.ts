// The quickstart page in headless Chromium: ticks appear, and after a dropped connection the
// browser reconnects with Last-Event-ID and the count carries on. Screenshot in
// test-output/screenshots/.
import { describe, expect, it } from 'vitest';
import { screenshotPath, serveToChromium } from '../../../packages/core/test/chromium.js';
import { start } from '../src/server.js';

const running = serveToChromium(start);

describe('the quickstart page in Chromium', () => {
  it('shows the ticks, and carries the count on after a dropped connection', async () => {
    const page = await running.browser.newPage({ viewport: { width: 980, height: 620 } });
    await page.goto(running.server.url);
    await page.waitForFunction(() => Number(document.getElementById('count')?.textContent) >= 2);
    expect(await page.textContent('#greeting')).toBe('Hello from ssekit!');

    await page.click('#drop');
    await page.waitForFunction(() => document.getElementById('opens')?.textContent === '2');
    await page.waitForFunction(() => document.getElementById('greeting')?.textContent?.startsWith('Welcome back!'));
    const resumedAfter = Number(/after tick (\d+)/.exec((await page.textContent('#greeting')) ?? '')?.[1]);
    // The first tick after the resume: the count and the id it carried, read together.
    const next = await page.waitForFunction((n) => {
      const count = Number(document.getElementById('count')?.textContent);
      return count > n && { count, lastId: document.getElementById('last-id')?.textContent };
    }, resumedAfter);
    expect(await next.jsonValue()).toEqual({ count: resumedAfter + 1, lastId: String(resumedAfter + 1) });
    await page.screenshot({ path: screenshotPath('quickstart') });
    await page.close();
  });
});
