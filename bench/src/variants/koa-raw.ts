/**
 * `koa-raw`: Koa 3 streaming the `raw` loop's frames the Koa way, with a `PassThrough` as
 * the response body, and no ssekit: what Koa itself costs per stream and per event, to read
 * `ssekit-koa` against.
 */
import { createServer } from 'node:http';
import { PassThrough } from 'node:stream';
import Koa from 'koa';
import type { Variant } from '../variant.js';
import { HEADERS, rawBroadcast } from './raw-shared.js';

export function createVariant(): Variant {
  const { count, add, publish, settle } = rawBroadcast();
  const app = new Koa();
  // Koa logs every client that leaves a streamed body as an error (ERR_STREAM_PREMATURE_CLOSE):
  // what a hand-written Koa stream gets, and only noise in the bench's output.
  app.silent = true;
  app.use((ctx) => {
    if (ctx.path !== '/events') return;
    const body = new PassThrough();
    ctx.set(HEADERS);
    ctx.body = body;
    body.write(':\n\n');
    // Koa pipes the body and leaves it open when the client goes.
    ctx.res.once('close', () => body.destroy());
    add(body);
  });
  return { server: createServer(app.callback()), open: count, publish, settle };
}
