// Instance one: Express.
import { sse } from '@ssekit/express';
import express from 'express';
import { page } from './page.js';
import { announce, closeOnSignal, openFeed, publish, RETRY_MS, ready } from './shared.js';

await ready;
const app = express();
app.get('/', (_req, res) => {
  res.type('html').send(page);
});
app.get('/events', sse({ retry: RETRY_MS }), (_req, res) => openFeed(res.sse));
app.post('/publish', express.text(), async (req, res) => {
  const { status, body } = await publish(req.body);
  res.status(status).json(body);
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => announce(server.address()));
closeOnSignal(() => server.close());
