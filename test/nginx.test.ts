// Debian's nginx in front of an ssekit server, with a stock `proxy_pass` and nginx's default
// response buffering left on: events must still arrive as they are sent, because the
// stream's own headers (`X-Accel-Buffering: no`) turn buffering off for it. A control stream
// without that header shows what the default does to it.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStream } from '../packages/core/src/node/index.js';
import { listen } from '../packages/core/test/helpers.js';

const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((file) => existsSync(file)) ?? 'nginx';
const SECOND_EVENT_AFTER_MS = 1_000;

let upstream: Awaited<ReturnType<typeof listen>>;
let nginx: ChildProcess;
let dir: string;
let proxyPort: number;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

beforeAll(async () => {
  upstream = await listen(
    http.createServer((req, res) => {
      if (req.url === '/control') {
        // What a hand-written stream without ssekit's headers sends.
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write('data: first\n\n');
        setTimeout(() => res.end('data: second\n\n'), SECOND_EVENT_AFTER_MS);
        return;
      }
      const stream = createStream(req, res, { heartbeat: false });
      stream.send('first');
      setTimeout(() => {
        stream.send('second');
        stream.close();
      }, SECOND_EVENT_AFTER_MS);
    }),
  );
  dir = mkdtempSync(path.join(tmpdir(), 'ssekit-nginx-'));
  proxyPort = await freePort();
  // The stock reverse proxy: no proxy_buffering, proxy_http_version or header settings.
  writeFileSync(
    path.join(dir, 'nginx.conf'),
    `daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${proxyPort};
    location / {
      proxy_pass http://127.0.0.1:${upstream.port};
    }
  }
}
`,
  );
  nginx = spawn(NGINX, ['-p', dir, '-c', path.join(dir, 'nginx.conf')], { stdio: 'ignore' });
  for (let attempt = 0; ; attempt++) {
    const up = await new Promise<boolean>((resolve) =>
      net
        .connect(proxyPort, '127.0.0.1')
        .once('connect', function (this: net.Socket) {
          this.destroy();
          resolve(true);
        })
        .once('error', () => resolve(false)),
    );
    if (up) break;
    if (attempt > 200 || nginx.exitCode !== null) throw new Error(`nginx did not start (${NGINX})`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}, 30_000);

afterAll(async () => {
  if (nginx && nginx.exitCode === null) {
    nginx.kill('SIGQUIT');
    await once(nginx, 'exit');
  }
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Milliseconds from the request to each `data:` line's arrival through nginx. Raw rather than
 * @ssekit/testing: the point is when each chunk leaves nginx, taken as the socket delivers it;
 * a reader gives events, without the time each one arrived.
 */
function arrivals(pathname: string): Promise<{ text: string; at: number }[]> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const seen: { text: string; at: number }[] = [];
    http
      .get({ host: '127.0.0.1', port: proxyPort, path: pathname }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          for (const [, text] of chunk.matchAll(/^data: (.*)$/gm))
            seen.push({ text: text ?? '', at: Date.now() - started });
        });
        res.on('end', () => resolve(seen));
      })
      .on('error', reject);
  });
}

describe('behind nginx with its default buffering', () => {
  it('delivers each event as it is sent', async () => {
    const [first, second] = await arrivals('/events');
    expect(first?.text).toBe('first');
    expect(second?.text).toBe('second');
    // The first event did not wait for the second, nor for the end of the response.
    expect(first?.at).toBeLessThan(SECOND_EVENT_AFTER_MS / 2);
    expect(second?.at).toBeGreaterThanOrEqual(SECOND_EVENT_AFTER_MS - 50);
    console.log(`[nginx] first event after ${first?.at} ms, second after ${second?.at} ms`);
  });

  it('holds back a stream without ssekit headers (the control)', async () => {
    const [first] = await arrivals('/control');
    expect(first?.at).toBeGreaterThanOrEqual(SECOND_EVENT_AFTER_MS - 50);
    console.log(`[nginx] control: first event held until ${first?.at} ms`);
  });
});
