// `next build`, once per suite run: scripts/test.mjs runs it before the tests, so that the
// build's two cores of work do not run beside the suite's timing tests; recipe.test.ts runs it
// when started alone. --webpack: see next.config.mjs (Turbopack cannot resolve this repo's
// `./x.js` imports of `./x.ts`).
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
// vitest sets NODE_ENV=test, which next build would build with (and warn of): leave it out.
const { NODE_ENV: _, ...env } = process.env;
const started = performance.now();
const { status } = spawnSync(process.execPath, [join(dir, 'node_modules/next/dist/bin/next'), 'build', '--webpack'], {
  cwd: dir,
  env: { ...env, NEXT_TELEMETRY_DISABLED: '1' },
  stdio: 'inherit',
  timeout: 180_000,
});
// next build writes next-env.d.ts, which puts Next.js's global types (a required `NODE_ENV`,
// among others) into every file of the repo's own type-check (tsconfig.json includes test/):
// gone once the build has type-checked the app with it.
rmSync(join(dir, 'next-env.d.ts'), { force: true });
console.log(`next build: ${((performance.now() - started) / 1000).toFixed(1)} s`);
process.exit(status ?? 1);
