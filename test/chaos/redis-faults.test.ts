// Short Redis fault probes (issue 16 §4, §6): each scenario against real redis-server
// processes, two app instances and eight clients, in a few seconds. The long ones:
// `pnpm chaos -- --run faults`. EXPECTED (redis-faults.ts) holds what they ask of the broker.
import { describe, expect, it } from 'vitest';
import { formatFaultReport, runFaultScenario, SCENARIOS, SHORT_FAULTS } from './redis-faults.js';

describe('Redis faults', () => {
  for (const scenario of SCENARIOS) {
    it(`${scenario}: every acknowledged event is received or covered by a gap, once, and every publish settles in time`, async () => {
      const report = await runFaultScenario(scenario, SHORT_FAULTS, (line) => console.log(`[faults] ${line}`));
      console.log(formatFaultReport(report));
      expect(report.failures).toEqual([]);
    }, 30_000);
  }
});
