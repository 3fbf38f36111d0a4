import { once } from 'node:events';
import http from 'node:http';
import type http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

type AnyServer = http.Server | http2.Http2SecureServer;

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

/** A GET whose response body is collected as text until `until` says stop or it ends. */
export function get(url: string, headers: Record<string, string> = {}, until?: (body: string) => boolean) {
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
      res.on('end', () => resolve({ res, body }));
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
