#!/usr/bin/env node
// The whole suite, as CI runs it: type check, lint, then every vitest test. Ends with the
// line `N passed, N failed` that CI reads, and exits non-zero when anything failed.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = (name) => `${root}node_modules/.bin/${name}`;
const results = `${root}test-output/vitest.json`;

function run(label, command, args) {
  console.log(`\n== ${label}: ${[command.replace(root, ''), ...args].join(' ')}`);
  const { status, error } = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (error) console.error(error);
  return status === 0;
}

const failedChecks = [];
if (!run('typecheck', bin('tsc'), ['-p', 'tsconfig.json', '--noEmit'])) failedChecks.push('typecheck');
if (!run('lint', bin('biome'), ['check', '--error-on-warnings', '.'])) failedChecks.push('lint');

// The Next.js recipe's `next build`, once and before the tests: its two cores of work would
// otherwise run beside the suite's timing tests. Its test then only starts what was built.
if (run('build (Next.js recipe)', process.execPath, ['test/recipes/nextjs/build.mjs'])) {
  process.env.SSEKIT_NEXTJS_BUILT = '1';
} else failedChecks.push('build:nextjs');

mkdirSync(`${root}test-output`, { recursive: true });
rmSync(results, { force: true });
const vitestOk = run('tests', bin('vitest'), [
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${results}`,
  ...process.argv.slice(2),
]);

// Every benchmark variant and scenario, small and once, and the Redis latency bench: catches
// a broken bench or an ssekit that loses events under load. Figures from them mean nothing;
// `pnpm bench` and `pnpm bench:redis` measure.
if (!run('bench (quick)', bin('tsx'), ['bench/src/run.ts', '--quick'])) failedChecks.push('bench:quick');
const redisQuick = ['bench/src/redis-latency.ts', '--streams', '50', '--events', '20', '--rate', '50', '--runs', '1'];
if (!run('bench redis (quick)', bin('tsx'), redisQuick)) failedChecks.push('bench:redis');

let passed = 0;
let failed = 0;
try {
  const report = JSON.parse(readFileSync(results, 'utf8'));
  passed = report.numPassedTests;
  failed = report.numFailedTests + report.numPendingTests + report.numTodoTests;
  // A test file that fails to load counts no test; count it as one failure.
  failed += report.testResults.filter((file) => file.status === 'failed' && file.assertionResults.length === 0).length;
} catch {
  failedChecks.push('vitest (no report)');
}
if (!vitestOk && failed === 0) failedChecks.push('vitest');
failed += failedChecks.length;

if (failedChecks.length > 0) console.log(`\nfailed checks: ${failedChecks.join(', ')}`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
