// Instance three: Hono on Node.
import { serve } from '@hono/node-server';
import { sse } from '@ssekit/hono';
import { Hono } from 'hono';
import { page } from './page.js';
import { announce, closeOnSignal, openFeed, publish, RETRY_MS, ready } from './shared.js';

await ready;
const app = new Hono();
app.get('/', (c) => c.html(page));
app.get('/events', sse(openFeed, { retry: RETRY_MS }));
app.post('/publish', async (c) => {
  const { status, body } = await publish(await c.req.text());
  return c.json(body, status as 201);
});
const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: Number(process.env.PORT ?? 0) }, (info) =>
  announce(info),
);
closeOnSignal(() => server.close());
