// Instance four: Fastify. `pnpm start` runs the other three; test/redis-cluster.test.ts runs
// all four.
import { sse, ssekit } from '@ssekit/fastify';
import Fastify from 'fastify';
import { page } from './page.js';
import { announce, closeOnSignal, openFeed, publish, RETRY_MS, ready } from './shared.js';

await ready;
const app = Fastify();
await app.register(ssekit);
// The publish body is text/plain; Fastify parses it as a string.
app.get('/', (_, reply) => reply.type('text/html').send(page));
app.get('/events', sse(openFeed, { retry: RETRY_MS }));
app.post('/publish', async (request, reply) => {
  const { status, body } = await publish(request.body);
  return reply.code(status).send(body);
});
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
announce(app.server.address());
closeOnSignal(() => void app.close());
