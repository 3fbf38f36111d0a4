// Bundles each entry point into dist/ with esbuild, as Wrangler does for Workers: one plain
// JavaScript file per runtime, with no TypeScript loader needed to run it.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

/** Builds every entry; the Node bundle may use Node's modules, the others only Web APIs. */
export async function buildAll() {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const common = { bundle: true, format: 'esm', target: 'es2022', logLevel: 'warning', absWorkingDir: here };
  await Promise.all([
    build({ ...common, entryPoints: ['src/node.ts'], outfile: 'dist/node.js', platform: 'node' }),
    build({ ...common, entryPoints: ['src/bun.ts'], outfile: 'dist/bun.js', platform: 'browser', conditions: ['bun'] }),
    build({
      ...common,
      entryPoints: ['src/deno.ts'],
      outfile: 'dist/deno.js',
      platform: 'browser',
      conditions: ['deno'],
    }),
    build({
      ...common,
      entryPoints: ['src/worker.ts'],
      outfile: 'dist/worker.js',
      platform: 'browser',
      conditions: ['workerd', 'worker'],
    }),
  ]);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await buildAll();
