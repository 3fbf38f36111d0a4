// `pnpm bench:runtimes` on Node (20 and 24): the Web-`Response` variants through
// @hono/node-server's `serve`, Node's most direct path from a fetch handler to `node:http`
// (Node has no Web server of its own), and `node-http-raw`, the main bench's `raw` loop on
// plain `node:http`, for reference. `gc` is there with `--expose-gc`.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener, serve } from '@hono/node-server';
import { rawBroadcast } from '../variants/raw-shared.js';
import { controlRoutes, createBenchApp, webVariant } from './app.js';

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const variant = process.argv[2];
const listening = (port: number) => console.log(`listening on http://127.0.0.1:${port}`);

if (variant === 'node-http-raw') {
  const broadcast = rawBroadcast();
  const control = getRequestListener(controlRoutes(broadcast, gc));
  const server = createServer((req, res) => (req.url === '/events' ? broadcast.open(res) : control(req, res)));
  server.listen(0, '127.0.0.1', () => listening((server.address() as AddressInfo).port));
} else {
  serve({ fetch: createBenchApp(webVariant(variant), gc), hostname: '127.0.0.1', port: 0 }, ({ port }) =>
    listening(port),
  );
}
