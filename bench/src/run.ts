/**
 * `pnpm bench` (full) and `pnpm bench:quick`: every variant through every scenario, runs
 * interleaved (A B C, B C A, …), medians, ratios to `raw`, the targets. Writes
 * Markdown and JSON; a full run also updates the table in bench/README.md.
 *
 * Options: --quick, --runs N, --scenarios a,b, --variants a,b, --out DIR, --ssekit dist|src
 * (default: dist, the build `pnpm build` makes, as published; src for --quick).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULT_MAX_BUFFERED_BYTES } from '@ssekit/core';
import { type RunResult, runOnce, type SsekitFrom } from './orchestrate.js';
import { markdownTable, markdownTargets, type ScenarioSummary, summarize, targets } from './report.js';
import { FULL, QUICK, VARIANTS } from './scenarios.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    scenarios: { type: 'string' },
    variants: { type: 'string' },
    out: { type: 'string' },
    ssekit: { type: 'string' },
  },
});
const quick = values.quick;
const runs = Number(values.runs ?? (quick ? 1 : 3));
const scenarios = (quick ? QUICK : FULL).filter(
  (s) => !values.scenarios || values.scenarios.split(',').includes(s.name),
);
const variants = values.variants ? values.variants.split(',') : VARIANTS;
const benchDir = new URL('..', import.meta.url);
const outDir = values.out ?? fileURLToPath(new URL(quick ? 'results/quick' : 'results', benchDir));
/** A client's bytes can also sit in the socket's own buffer: one write past its 16 KiB mark. */
const SOCKET_SLACK_KB = 64;

const ssekitFrom: SsekitFrom = (values.ssekit ?? (quick ? 'src' : 'dist')) === 'src' ? 'src' : 'dist';
if (ssekitFrom === 'dist' && !existsSync(new URL('../packages/core/dist/index.js', benchDir))) {
  console.error('ssekit is not built: run `pnpm build` first (`pnpm bench` does), or pass --ssekit src.');
  process.exit(1);
}

const startedAt = new Date();
const summaries: ScenarioSummary[] = [];
const raw: Record<string, Record<string, RunResult[]>> = {};

for (const scenario of scenarios) {
  console.log(`\n## ${scenario.title}`);
  const results: Record<string, RunResult[]> = Object.fromEntries(variants.map((v) => [v, []]));
  for (let round = 0; round < runs; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length] as string);
    for (const variant of order) {
      const result = await runOnce(variant, scenario, ssekitFrom);
      (results[variant] as RunResult[]).push(result);
      console.log(`  ${variant.padEnd(15)} run ${round + 1}: ${describe(result)}`);
    }
  }
  raw[scenario.name] = results;
  summaries.push({ scenario, variants: variants.map((v) => summarize(scenario, v, results[v] as RunResult[])) });
}

function describe(result: RunResult): string {
  if (result.failure) return `FAILED: ${result.failure}`;
  const { client, server } = result;
  const parts: string[] = [];
  if (client?.elapsedMs) parts.push(`${Math.round((client.received / client.elapsedMs) * 1000)} ev/s`);
  if (client?.latency) parts.push(`p50 ${client.latency.p50} ms, p99 ${client.latency.p99} ms`);
  if (server) parts.push(`cpu ${server.cpuSeconds.toFixed(2)} s, peak RSS ${(server.peakRss / 2 ** 20).toFixed(0)} MB`);
  if (server?.idle) {
    parts.push(`+${((server.idle.rssAfter - server.idle.rssBefore) / 2 ** 20).toFixed(1)} MB RSS after GC`);
  }
  return parts.join(', ');
}

const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}, ${process.platform}`;
const targetList = targets(summaries, DEFAULT_MAX_BUFFERED_BYTES / 1024, SOCKET_SLACK_KB);
const markdown = [
  `Measured ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machine}; ssekit from its ${ssekitFrom === 'dist' ? 'build (dist), as published' : 'TypeScript source'}; ${runs} interleaved run(s) per variant, medians; "× raw" is the median over raw's median.`,
  '',
  ...summaries.map(markdownTable).flatMap((table) => [table, '']),
  '### Targets',
  '',
  markdownTargets(targetList),
].join('\n');

mkdirSync(outDir, { recursive: true });
writeFileSync(`${outDir}/results.md`, `${markdown}\n`);
writeFileSync(
  `${outDir}/results.json`,
  `${JSON.stringify({ startedAt, machine, runs, quick, summaries, targets: targetList, runsByScenario: raw }, null, 2)}\n`,
);
if (!quick && !values.scenarios && !values.variants) {
  const readme = new URL('README.md', benchDir);
  const text = readFileSync(readme, 'utf8');
  const updated = text.replace(
    /(<!-- results:start -->\n)[\s\S]*(<!-- results:end -->)/,
    (_m, start: string, end: string) => `${start}${markdown}\n${end}`,
  );
  writeFileSync(readme, updated);
}
console.log(`\n${markdown}\n\nWrote ${outDir}/results.md and results.json`);

// Peers may lose events (that is in the table); ssekit and the raw baseline must not.
const broken = summaries.flatMap((s) =>
  s.variants
    .filter((v) => v.failures.length > 0 && (v.variant.startsWith('ssekit') || v.variant === 'raw'))
    .map((v) => `${s.scenario.name}/${v.variant}`),
);
if (broken.length > 0) {
  console.error(`failed the correctness check: ${broken.join(', ')}`);
  process.exitCode = 1;
}
