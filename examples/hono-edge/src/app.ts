// One Hono app for every runtime: only Web APIs here, so the same code runs on Node, Bun,
// Deno and Cloudflare Workers. Each entry point (node.ts, bun.ts, deno.ts, worker.ts) only
// starts it the way its runtime expects.
import { ChannelRegistry } from '@ssekit/core';
import { channel, sse } from '@ssekit/hono';
import { Hono } from 'hono';
import { page } from './page.js';

/** Where a message posted on one tab reaches every tab, with the last 50 kept for late comers. */
const registry = new ChannelRegistry({ history: { size: 50 } });
const MAX_MESSAGE_LENGTH = 500;

/** The app, which tells its pages which runtime serves them. */
export function createApp(runtime: string): Hono {
  const app = new Hono();

  app.get('/', (c) => c.html(page(runtime)));

  // A tick every second. A reconnecting browser sends the last id it saw, so the count
  // carries on where it stopped instead of starting again.
  app.get(
    '/clock',
    sse(async (stream) => {
      let tick = Number(stream.lastEventId) || 0;
      while (!stream.closed) {
        stream.send({ tick: ++tick, time: new Date().toISOString(), runtime }, { event: 'tick', id: tick });
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }),
  );

  // Every message, to every open page; a page that reconnects gets what it missed.
  app.get('/messages', channel(registry, 'messages'));
  app.post('/messages', async (c) => {
    const text = (await c.req.text()).trim();
    if (text === '' || text.length > MAX_MESSAGE_LENGTH) {
      return c.json({ error: `a message has 1 to ${MAX_MESSAGE_LENGTH} characters` }, 400);
    }
    const id = await registry.channel('messages').publish({ text, runtime });
    return c.json({ id }, 201);
  });

  return app;
}
