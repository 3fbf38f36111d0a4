import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserType, chromium } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';

/** Debian's Chromium; tests never download a browser. `.ci/run` installs it. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Launches headless Chromium with the flags this machine needs: no sandbox as root, and no
 * background networking, whose connections a closed network refuses by the dozen.
 */
export function launchChromium(chromium: BrowserType) {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: run "apt-get install -y chromium" (or set CHROMIUM_PATH)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

const screenshots = fileURLToPath(new URL('../../../test-output/screenshots/', import.meta.url));

/** Where a test keeps screenshot `name` (a PNG, kept after the run for people to look at). */
export function screenshotPath(name: string): string {
  mkdirSync(screenshots, { recursive: true });
  return `${screenshots}${name}.png`;
}

/**
 * For an example's browser tests: starts its server on a free port and Chromium before the
 * file's tests and stops both after them. Read `server` and `browser` inside the tests.
 */
export function serveToChromium<Server extends { url: string; close(): Promise<void> }>(
  start: (options: { port: number }) => Promise<Server>,
): { server: Server; browser: Browser } {
  const running = {} as { server: Server; browser: Browser };
  beforeAll(async () => {
    running.server = await start({ port: 0 });
    running.browser = await launchChromium(chromium);
  });
  afterAll(async () => {
    try {
      await running.browser?.close();
    } finally {
      await running.server?.close();
    }
  });
  return running;
}
