// Node: `pnpm start:node`. @hono/node-server turns the app into a node:http server.
import { serve } from '@hono/node-server';
import { createApp } from './app.js';

const app = createApp(`Node ${process.version}`);
serve({ fetch: app.fetch, hostname: '127.0.0.1', port: Number(process.env.PORT ?? 8787) }, ({ port }) =>
  console.log(`listening on http://127.0.0.1:${port}/`),
);
