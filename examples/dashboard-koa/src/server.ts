/**
 * Starts the dashboard: `pnpm start` here, or `pnpm --filter @ssekit/example-dashboard-koa start`
 * at the root. `PORT` (default 3000; 0 picks a free one) and `HOST` (default 127.0.0.1) say where.
 */
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createDashboard, type DashboardOptions } from './app.js';

export interface StartOptions extends DashboardOptions {
  /** Default 3000; 0 lets the OS pick a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

/** Starts the dashboard server; `close` ends open streams too. */
export async function start({ port = 3000, host = '127.0.0.1', ...options }: StartOptions = {}) {
  const dashboard = createDashboard(options);
  const server = dashboard.app.listen(port, host);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject).once('listening', () => {
      server.off('error', reject);
      resolve();
    });
  }).catch(async (error: unknown) => {
    await dashboard.close(); // its sampler's timers would keep the process alive
    throw error;
  });
  const address = server.address() as AddressInfo;
  const hostname = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${hostname}:${address.port}`,
    close: async () => {
      await dashboard.close();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

// `tsx src/server.ts` starts the server; importing this file (as the tests do) does not.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000);
  try {
    const { url } = await start({ port, host: process.env.HOST ?? '127.0.0.1' });
    console.log(`ssekit dashboard: ${url}\nOpen it in a browser; Ctrl+C stops the server.`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    console.error(`Port ${port} is in use. Try another one: PORT=${port + 1} pnpm start`);
    process.exitCode = 1;
  }
}
