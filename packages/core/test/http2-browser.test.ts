import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStream, type NodeRequest, type NodeResponse } from '../src/node/index.js';
import { launchChromium } from './chromium.js';
import { listen } from './helpers.js';

/**
 * Ten EventSources from one page to one origin, in headless Chromium over TLS: on HTTP/2
 * they share one connection and all stream; on HTTP/1.1 the browser's six connections per
 * origin leave four waiting (the control).
 */
const SOURCES = 10;
let browser: Browser;
let dir: string;
let tls: { key: Buffer; cert: Buffer };
const versions: string[] = [];

function handler(req: NodeRequest, res: NodeResponse): void {
  if (!req.url?.startsWith('/events')) {
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>h2</title>');
    return;
  }
  versions.push(req.httpVersion);
  createStream(req, res).send(`hello from ${req.url}`);
}

beforeAll(async () => {
  // A throwaway self-signed certificate for 127.0.0.1, made here with OpenSSL.
  dir = mkdtempSync(path.join(tmpdir(), 'ssekit-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  tls = { key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) };
  browser = await launchChromium(chromium);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** How many of `SOURCES` EventSources on one page get their first event within `ms`. */
async function openFromOnePage(origin: string, ms: number): Promise<number> {
  const context = await browser.newContext({ ignoreHTTPSErrors: true });
  try {
    const page = await context.newPage();
    await page.goto(origin);
    return await page.evaluate(
      ({ count, ms }) =>
        new Promise<number>((resolve) => {
          let received = 0;
          const sources = Array.from({ length: count }, (_, i) => new EventSource(`/events/${i}`));
          const finish = () => {
            for (const source of sources) source.close();
            resolve(received);
          };
          for (const source of sources) {
            source.onmessage = () => {
              if (++received === count) finish();
            };
          }
          setTimeout(finish, ms);
        }),
      { count: SOURCES, ms },
    );
  } finally {
    await context.close();
  }
}

describe('many EventSources from one page in Chromium', () => {
  it('all stream at once over HTTP/2', async () => {
    versions.length = 0;
    const server = await listen(http2.createSecureServer({ ...tls, allowHTTP1: true }, handler), 'https');
    try {
      expect(await openFromOnePage(server.url, 10_000)).toBe(SOURCES);
      expect(versions).toEqual(Array(SOURCES).fill('2.0'));
    } finally {
      await server.close();
    }
  });

  it('stall past six on HTTP/1.1 (the control)', async () => {
    versions.length = 0;
    const server = await listen(https.createServer(tls, handler), 'https');
    try {
      expect(await openFromOnePage(server.url, 1_500)).toBe(6);
      expect(versions.every((version) => version === '1.1')).toBe(true);
    } finally {
      await server.close();
    }
  });
});
