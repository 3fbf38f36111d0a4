// Instance two: Koa, with three routes in one middleware (no router needed for so few).
import { sse } from '@ssekit/koa';
import Koa from 'koa';
import { page } from './page.js';
import { announce, closeOnSignal, openFeed, publish, RETRY_MS, ready } from './shared.js';

await ready;
const app = new Koa();
const events = sse({ retry: RETRY_MS });

async function readText(req: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

app.use(async (ctx, next) => {
  if (ctx.method === 'GET' && ctx.path === '/') {
    ctx.type = 'html';
    ctx.body = page;
  } else if (ctx.method === 'GET' && ctx.path === '/events') {
    await events(ctx, async () => openFeed(ctx.sse));
  } else if (ctx.method === 'POST' && ctx.path === '/publish') {
    const { status, body } = await publish(await readText(ctx.req));
    ctx.status = status;
    ctx.body = body;
  } else {
    await next();
  }
});
const server = app.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => announce(server.address()));
closeOnSignal(() => server.close());
