// `pnpm bench:runtimes` on Bun: the variant in argv, served by Bun.serve on a port the OS picks.
import { createBenchApp, webVariant } from './app.js';

declare const Bun: {
  argv: string[];
  gc(full: boolean): void;
  serve(options: {
    hostname: string;
    port: number;
    idleTimeout: number;
    fetch: (request: Request) => Promise<Response>;
  }): { port: number };
};

const fetch = createBenchApp(webVariant(Bun.argv[2]), () => Bun.gc(true));
// Bun closes a connection silent for 10 s by default; the idle streams are silent on purpose.
const server = Bun.serve({ hostname: '127.0.0.1', port: 0, idleTimeout: 0, fetch });
console.log(`listening on http://127.0.0.1:${server.port}`);
