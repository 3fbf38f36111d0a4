// `pnpm bench:runtimes` on Deno: the variant in the arguments, served by Deno.serve on a
// port the OS picks; `gc` is there with `--v8-flags=--expose-gc`.
import { createBenchApp, webVariant } from './app.js';

declare const Deno: {
  args: string[];
  serve(
    options: { hostname: string; port: number; onListen: (address: { port: number }) => void },
    handler: (request: Request) => Promise<Response>,
  ): unknown;
};

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
Deno.serve(
  { hostname: '127.0.0.1', port: 0, onListen: ({ port }) => console.log(`listening on http://127.0.0.1:${port}`) },
  createBenchApp(webVariant(Deno.args[0]), gc),
);
