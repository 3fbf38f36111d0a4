// Deno: `pnpm start:deno`. Deno's own server; only the network and PORT are allowed.
import { createApp } from './app.js';

declare const Deno: {
  version: { deno: string };
  env: { get(name: string): string | undefined };
  serve(
    options: { hostname: string; port: number; onListen: (address: { port: number }) => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): unknown;
};

const app = createApp(`Deno ${Deno.version.deno}`);
Deno.serve(
  {
    hostname: '127.0.0.1',
    port: Number(Deno.env.get('PORT') ?? 8787),
    onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}/`),
  },
  app.fetch,
);
