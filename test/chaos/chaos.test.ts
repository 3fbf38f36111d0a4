// The short chaos run (DESIGN §4.9 under abuse): a few seconds of publishing, 60 clients,
// every fault kind. The long one is `pnpm chaos` (test/chaos/run.ts); CHAOS_SEED replays a seed.
import { describe, expect, it } from 'vitest';
import { formatReport, runChaos, SHORT } from './harness.js';
import { chooseSeed } from './random.js';

describe('chaos', () => {
  it('through delays, stalls, slow reads and cuts, every client ends with exactly the stored events and no app logs an error', async () => {
    const seed = chooseSeed();
    console.log(`[chaos] seed ${seed} (replay: CHAOS_SEED=${seed})`);
    const report = await runChaos({
      ...SHORT,
      seed,
      log: (line) => console.log(`[chaos] ${line}`),
      reportFile: `test-output/chaos/short-${seed}.json`,
    });
    console.log(formatReport(report));
    expect(report.failures).toEqual([]);
  }, 120_000);
});
