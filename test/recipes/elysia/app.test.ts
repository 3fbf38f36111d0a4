// Runs the recipe as its users run it: `bun app.ts` under the Bun that test/runtimes pins,
// started as a child process by test/runtimes' launcher, which waits for the URL the app
// prints. Bun runs the TypeScript itself, @ssekit/core's sources included (the workspace
// package exports them); every check goes over real HTTP.

import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { type RunningServer, runtimeVersion, startServer } from '../../runtimes/launch.js';
import { recipeChecks } from '../checks.js';

const started = performance.now();
let server: RunningServer | undefined;
let base: string;

beforeAll(async () => {
  server = await startServer('bun', fileURLToPath(new URL('app.ts', import.meta.url)));
  base = `${server.url}/`;
});

afterAll(async () => {
  await server?.stop();
  console.log(`[recipe elysia] ${await runtimeVersion('bun')}: ${Math.round(performance.now() - started)} ms`);
});

recipeChecks('Elysia recipe on Bun', 'elysia', new URL('.', import.meta.url), () => base);
