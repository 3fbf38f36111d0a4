// @ssekit/testing's README claims vitest 4 and supertest 7. This suite runs on the newest it
// installs; test/testing-lowest holds the lowest (vitest 4.0.0, supertest 7.0.0) and is run
// here with its own vitest, as a user with those versions runs their tests.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

it('works on the lowest vitest and supertest it claims', () => {
  const cwd = fileURLToPath(new URL('./testing-lowest/', import.meta.url));
  const run = spawnSync('node_modules/.bin/vitest', ['run', '--reporter=json'], { cwd, encoding: 'utf8' });
  const report = JSON.parse(run.stdout) as { numPassedTests: number; numFailedTests: number };
  expect(run.stderr).not.toMatch(/Error/);
  expect({ passed: report.numPassedTests, failed: report.numFailedTests }).toEqual({ passed: 5, failed: 0 });
}, 60_000);
