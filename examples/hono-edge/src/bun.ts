// Bun: `pnpm start:bun`. Bun's own server; the default heartbeat (every 8 s) keeps quiet
// streams inside its 10 s idle timeout.
import { createApp } from './app.js';

declare const Bun: {
  version: string;
  serve(options: { hostname: string; port: number; fetch: (request: Request) => Response | Promise<Response> }): {
    port: number;
  };
};

const app = createApp(`Bun ${Bun.version}`);
const server = Bun.serve({ hostname: '127.0.0.1', port: Number(process.env.PORT ?? 8787), fetch: app.fetch });
console.log(`listening on http://127.0.0.1:${server.port}/`);
