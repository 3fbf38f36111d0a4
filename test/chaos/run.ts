/**
 * The long chaos run: `pnpm chaos` (1,000 clients, 90 s of publishing), or with options:
 * `pnpm chaos -- --clients 300 --publish-seconds 30 --seed 42` (or CHAOS_SEED=42).
 * `--short` starts from the test suite's settings instead. Prints the figures and exits
 * non-zero on any failure; the full report goes to test-output/chaos/long-<seed>.json.
 *
 * `pnpm chaos -- --run faults` runs the Redis fault probes instead (redis-faults.ts), all of
 * them or those named with `--scenario`, long or (`--short`) as in the suite.
 * `pnpm chaos -- --run replay` measures what stalled replays of a long Redis history cost the
 * server (replay-memory.ts): 1,000 events of 100 KB, 1 then 50 clients that never read.
 */
import { parseArgs } from 'node:util';
import { type ChaosOptions, formatReport, LONG, runChaos, SHORT } from './harness.js';
import { chooseSeed } from './random.js';
import {
  formatFaultReport,
  LONG_FAULTS,
  runFaultScenario,
  SCENARIOS,
  type Scenario,
  SHORT_FAULTS,
} from './redis-faults.js';
import { measureReplayMemory } from './replay-memory.js';

// `pnpm chaos -- --seed 42` passes the `--` on.
const args = process.argv.slice(2);
const { values } = parseArgs({
  args: args[0] === '--' ? args.slice(1) : args,
  options: {
    short: { type: 'boolean', default: false },
    run: { type: 'string', default: 'chaos' },
    scenario: { type: 'string', multiple: true },
    seed: { type: 'string' },
    clients: { type: 'string' },
    'bulk-clients': { type: 'string' },
    channels: { type: 'string' },
    'publish-seconds': { type: 'string' },
    rate: { type: 'string' },
    'bulk-rate': { type: 'string' },
    'catch-up-seconds': { type: 'string' },
    'client-gap-ms': { type: 'string' },
    'redis-gap-ms': { type: 'string' },
  },
});

if (values.run === 'faults') {
  const scenarios = (values.scenario ?? SCENARIOS) as Scenario[];
  const unknown = scenarios.filter((name) => !SCENARIOS.includes(name));
  if (unknown.length > 0) throw new Error(`--scenario ${unknown.join(', ')}: not one of ${SCENARIOS.join(', ')}`);
  let failed = 0;
  for (const scenario of scenarios) {
    const report = await runFaultScenario(scenario, values.short ? SHORT_FAULTS : LONG_FAULTS, (line) =>
      console.log(`[faults] ${line}`),
    );
    console.log(`${formatFaultReport(report)}\n`);
    if (report.failures.length > 0) failed++;
  }
  console.log(`${scenarios.length - failed} of ${scenarios.length} scenarios passed`);
  process.exit(failed === 0 ? 0 : 1);
} else if (values.run === 'replay') {
  const report = await measureReplayMemory({
    events: 1000,
    eventBytes: 100_000,
    stalled: [1, 50],
    holdMs: 5_000,
    log: (line) => console.log(`[replay-memory] ${line}`),
  });
  // A replay may hold its buffer bound, a page and an event; 4 MB each leaves the allocator room.
  const over = report.figures.filter((figure) => figure.peakRssGrowth > figure.stalled * 4e6 + 20e6);
  process.exit(over.length === 0 ? 0 : 1);
} else if (values.run !== 'chaos') {
  throw new Error(`--run ${values.run}: chaos, faults or replay`);
}

const number = (value: string | undefined, name: string): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a number, got "${value}"`);
  return n;
};
const base = values.short ? SHORT : LONG;
const seed = chooseSeed(values.seed ?? process.env.CHAOS_SEED);
const options: ChaosOptions = {
  ...base,
  seed,
  clients: number(values.clients, 'clients') ?? base.clients,
  bulkClients: number(values['bulk-clients'], 'bulk-clients') ?? base.bulkClients,
  channels: number(values.channels, 'channels') ?? base.channels,
  publishMs: (number(values['publish-seconds'], 'publish-seconds') ?? base.publishMs / 1000) * 1000,
  rate: number(values.rate, 'rate') ?? base.rate,
  bulkRate: number(values['bulk-rate'], 'bulk-rate') ?? base.bulkRate,
  catchUpMs: (number(values['catch-up-seconds'], 'catch-up-seconds') ?? base.catchUpMs / 1000) * 1000,
  clientGapMs: number(values['client-gap-ms'], 'client-gap-ms') ?? base.clientGapMs,
  redisGapMs: number(values['redis-gap-ms'], 'redis-gap-ms') ?? base.redisGapMs,
  log: (line) => console.log(`[chaos] ${line}`),
  reportFile: `test-output/chaos/${values.short ? 'short' : 'long'}-${seed}.json`,
};
console.log(`[chaos] seed ${seed} (replay: CHAOS_SEED=${seed} pnpm chaos${values.short ? ' -- --short' : ''})`);
const report = await runChaos(options);
console.log(formatReport(report));
console.log(`\nfull report: ${options.reportFile}`);
process.exit(report.failures.length === 0 ? 0 : 1);
