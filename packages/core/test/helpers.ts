import { once } from 'node:events';
import http from 'node:http';
import type http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';

type AnyServer = http.Server | http2.Http2SecureServer;

const cleanups: (() => unknown)[] = [];
// Registered in each test file that imports this module: vitest gives every file its own.
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Runs `cleanup` after the current test; the last registered runs first. */
export function afterThisTest(cleanup: () => unknown): void {
  cleanups.push(cleanup);
}

/** {@link listen}, and close the server after the current test. */
export async function listenForTest<S extends AnyServer>(server: S, protocol: 'http' | 'https' = 'http') {
  const listening = await listen(server, protocol);
  afterThisTest(listening.close);
  return listening;
}

/** Starts `server` on 127.0.0.1 with a port the OS picks; `close` ends every connection. */
export async function listen<S extends AnyServer>(server: S, protocol: 'http' | 'https' = 'http') {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const sockets = new Set<{ destroy(): void }>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return {
    server,
    url: `${protocol}://127.0.0.1:${port}`,
    port,
    /** Connections open on the server now. */
    connections: () => new Promise<number>((resolve) => server.getConnections((_, count) => resolve(count))),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Resolves when `signal` aborts, or rejects after `ms`. */
export function aborted(signal: AbortSignal, ms = 5_000): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`signal did not abort within ${ms} ms`)), ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * A GET whose body is collected as raw text until `until` says stop or it ends: for tests whose
 * point is the exact bytes. Tests of events read them through @ssekit/testing.
 */
export function getRaw(url: string, headers: Record<string, string> = {}, until?: (body: string) => boolean) {
  return new Promise<{ res: http.IncomingMessage; body: string }>((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (until?.(body)) {
          req.destroy();
          resolve({ res, body });
        }
      });
      // 'close' also when the server cuts the connection mid-stream.
      res.on('close', () => resolve({ res, body }));
    });
    req.on('error', reject);
  });
}

/** Polls `check` until it returns a value other than undefined or `ms` pass. */
export async function until<T>(check: () => T | undefined, ms = 5_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
