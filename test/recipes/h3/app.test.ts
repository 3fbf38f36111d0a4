// Runs the recipe as its users run it on Node: h3's own `serve()` (srvx's Node server) on
// a port the OS picks, in this process; every check goes over real HTTP.
import { serve } from 'h3';
import { afterAll, beforeAll } from 'vitest';
import { recipeChecks } from '../checks.js';
import { app } from './app.js';

type Server = ReturnType<typeof serve>;

const started = performance.now();
let server: Server;
let base: string;

beforeAll(async () => {
  server = serve(app, { port: 0, hostname: '127.0.0.1', silent: true });
  await server.ready();
  base = new URL('/', server.url).href;
});

afterAll(async () => {
  // `true`: the open streams end with the server, as a deploy's restart ends them.
  await server?.close(true);
  console.log(`[recipe h3] ${Math.round(performance.now() - started)} ms`);
});

recipeChecks('h3 v2 recipe on Node', 'h3', new URL('.', import.meta.url), () => base);
