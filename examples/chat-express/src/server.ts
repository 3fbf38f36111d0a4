/**
 * Starts the chat: `pnpm demo` at the repository root, or `pnpm start` here.
 * `PORT` (default 3000; 0 picks a free one) and `HOST` (default 127.0.0.1) say where;
 * `CURSOR_SECRET` (32 bytes or more) signs the resume cursors, with a development default.
 */
import type { AddressInfo, Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { type ChatOptions, createChat } from './app.js';

export interface StartOptions extends ChatOptions {
  /** Default 3000; 0 lets the OS pick a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
}

/** Starts the chat server; `close` ends open streams too. */
export async function start({ port = 3000, host = '127.0.0.1', ...chat }: StartOptions = {}) {
  const { app, registry, opened } = createChat(chat);
  await opened;

  // For the page's "Drop the connections" button: cut every connection but the one asking,
  // as a flaky network would, so you can watch the tabs reconnect and catch up.
  const sockets = new Set<Socket>();
  app.post('/drop', (req, res) => {
    for (const socket of sockets) if (socket !== req.socket) socket.destroy();
    res.status(204).end();
  });

  const server = app.listen(port, host);
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject).once('listening', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostname = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${hostname}:${address.port}`,
    close: async () => {
      // Every stream gets a retry hint and ends; then the server can close.
      await registry.close();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
    },
  };
}

// `tsx src/server.ts` starts the server; importing this file (as the tests do) does not.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const port = Number(process.env.PORT ?? 3000);
  try {
    const { url } = await start({
      port,
      host: process.env.HOST ?? '127.0.0.1',
      cursorSecret: process.env.CURSOR_SECRET || undefined,
    });
    console.log(`ssekit chat: ${url}\nOpen it in two browser tabs; Ctrl+C stops the server.`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    console.error(`Port ${port} is in use. Try another one: PORT=${port + 1} pnpm demo`);
    process.exitCode = 1;
  }
}
