/** Turns runs into medians, ratios against `raw`, the targets, and a Markdown report. */
import type { RunResult } from './orchestrate.js';
import type { Scenario } from './shared.js';

export interface Summary {
  variant: string;
  runs: number;
  failures: string[];
  /** Medians over the runs that passed the correctness check. */
  median: Record<string, number>;
  /** Lowest and highest of each figure over those runs: how much it moves here. */
  range: Record<string, [number, number]>;
}

/** What each variant is read against: the same server without ssekit (`raw` for the peers). */
const REFERENCE: Record<string, string> = {
  'ssekit-express': 'express-raw',
  'ssekit-koa': 'koa-raw',
};
export const referenceOf = (variant: string) => REFERENCE[variant] ?? 'raw';

export interface ScenarioSummary {
  scenario: Scenario;
  variants: Summary[];
}

const MB = 1024 * 1024;

/** The figures of one run, by name; which ones a run has depends on its scenario. */
function figures(scenario: Scenario, run: RunResult): Record<string, number> {
  const { client, server, withoutStalled } = run;
  const out: Record<string, number> = {};
  if (server) {
    out.cpuSeconds = server.cpuSeconds;
    out.peakRssMB = server.peakRss / MB;
    out.peakHeldMB = server.peakHeldBytes / MB;
    out.maxClientBacklogKB = server.maxClientBacklog / 1024;
    if (server.idle) {
      out.rssPerStreamKB = (server.idle.rssAfter - server.idle.rssBefore) / scenario.streams / 1024;
      out.heapPerStreamKB = (server.idle.heapAfter - server.idle.heapBefore) / scenario.streams / 1024;
      out.committedPerStreamKB = (server.idle.committedAfter - server.idle.committedBefore) / scenario.streams / 1024;
      out.streamsPerGiB = 2 ** 20 / out.rssPerStreamKB;
    }
  }
  if (client && client.elapsedMs > 0) {
    out.eventsPerSec = (client.received / client.elapsedMs) * 1000;
    if (server) out.cpuMicrosPerEvent = (server.cpuSeconds / client.received) * 1e6;
    if (client.latency) {
      out.p50Ms = client.latency.p50;
      out.p99Ms = client.latency.p99;
      out.maxMs = client.latency.max;
    }
  }
  if (withoutStalled && withoutStalled.elapsedMs > 0) {
    out.eventsPerSecWithoutStalled = (withoutStalled.received / withoutStalled.elapsedMs) * 1000;
    if (out.eventsPerSec) out.rateWithStalledRatio = out.eventsPerSec / out.eventsPerSecWithoutStalled;
    if (withoutStalled.latency) out.p99MsWithoutStalled = withoutStalled.latency.p99;
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export function summarize(scenario: Scenario, variant: string, runs: RunResult[]): Summary {
  const passed = runs.filter((run) => !run.failure).map((run) => figures(scenario, run));
  const names = new Set(passed.flatMap((run) => Object.keys(run)));
  const medians: Record<string, number> = {};
  const range: Record<string, [number, number]> = {};
  for (const name of names) {
    const values = passed.map((run) => run[name]).filter((v) => v !== undefined);
    medians[name] = median(values);
    range[name] = [Math.min(...values), Math.max(...values)];
  }
  return {
    variant,
    runs: runs.length,
    failures: runs.flatMap((run) => (run.failure ? [run.failure] : [])),
    median: medians,
    range,
  };
}

/**
 * Columns per kind of scenario: [figure, heading, digits, with a ratio to raw, with the
 * runs' range, with the difference to the variant's reference].
 */
type Column = [string, string, number, boolean, boolean?, boolean?];
function columns(scenario: Scenario): Column[] {
  if (scenario.events === 0) {
    // RSS per stream moves by about a kilobyte between runs (what the allocator keeps), heap
    // by much less: the ranges say so.
    return [
      ['rssPerStreamKB', 'RSS KB/stream (range)', 1, true, true, true],
      ['heapPerStreamKB', 'heap KB/stream (range)', 2, true, true, true],
      ['committedPerStreamKB', 'committed heap KB/stream (range)', 1, false, true, true],
      ['streamsPerGiB', 'streams per GiB of RSS', 0, false],
      ['peakRssMB', 'peak RSS MB', 0, true],
    ];
  }
  if (scenario.stalled) {
    return [
      ['eventsPerSec', 'readers ev/s, 1 stalled', 0, false],
      ['eventsPerSecWithoutStalled', 'readers ev/s, none stalled', 0, false],
      ['rateWithStalledRatio', 'stalled/none', 2, false],
      ['p99Ms', 'readers p99 ms, 1 stalled', 1, false],
      ['p99MsWithoutStalled', 'readers p99 ms, none stalled', 1, false],
      ['maxClientBacklogKB', 'held for one client KB', 0, false],
      ['peakHeldMB', 'heap+buffers growth MB', 1, false],
      ['peakRssMB', 'peak RSS MB', 0, true],
    ];
  }
  const common: Column[] = [
    ['eventsPerSec', 'delivered ev/s', 0, true],
    ['cpuMicrosPerEvent', 'server CPU µs/event', 2, true],
    ['cpuSeconds', 'server CPU s', 2, false],
    ['peakRssMB', 'peak RSS MB', 0, true],
  ];
  if (scenario.pace.kind === 'rate') {
    return [['p50Ms', 'p50 ms', 1, false], ['p99Ms', 'p99 ms', 1, false], ['maxMs', 'max ms', 0, false], ...common];
  }
  return common;
}

function format(value: number | undefined, digits: number): string {
  if (value === undefined || Number.isNaN(value)) return '–';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ratio(summary: ScenarioSummary, variant: string, figure: string, base = 'raw'): number | undefined {
  const of = (name: string) => summary.variants.find((v) => v.variant === name)?.median[figure];
  const a = of(variant);
  const b = of(base);
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

/** A variant's median minus another's, e.g. what an adapter adds to its framework. */
export function difference(
  summary: ScenarioSummary,
  variant: string,
  figure: string,
  base: string,
): number | undefined {
  const of = (name: string) => summary.variants.find((v) => v.variant === name)?.median[figure];
  const a = of(variant);
  const b = of(base);
  return a === undefined || b === undefined ? undefined : a - b;
}

export function markdownTable(summary: ScenarioSummary): string {
  const cols = columns(summary.scenario);
  const head = [
    'variant',
    ...cols.flatMap(([, heading, , withRatio, , withReference]) => [
      heading,
      ...(withRatio ? ['× raw'] : []),
      ...(withReference ? ['over reference KB'] : []),
    ]),
    'runs ok',
  ];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? ' --- ' : ' ---: ')).join('|')}|`];
  for (const v of summary.variants) {
    const cells = cols.flatMap(([figure, , digits, withRatio, withRange, withReference]) => {
      const range = v.range[figure];
      const cell =
        withRange && range
          ? `${format(v.median[figure], digits)} (${format(range[0], digits)}–${format(range[1], digits)})`
          : format(v.median[figure], digits);
      const reference = referenceOf(v.variant);
      const over = v.variant === reference ? undefined : difference(summary, v.variant, figure, reference);
      return [
        cell,
        ...(withRatio ? [format(ratio(summary, v.variant, figure), 2)] : []),
        ...(withReference ? [over === undefined ? '' : `${format(over, digits)} (${reference})`] : []),
      ];
    });
    lines.push(`| ${v.variant} | ${cells.join(' | ')} | ${v.runs - v.failures.length}/${v.runs} |`);
  }
  const failures = summary.variants.flatMap((v) => v.failures.map((f) => `- ${v.variant}: ${f}`));
  return [
    `### ${summary.scenario.title}`,
    '',
    ...lines,
    ...(failures.length ? ['', 'Failed runs:', ...failures] : []),
  ].join('\n');
}

export interface Target {
  text: string;
  value: string;
  met: boolean | undefined;
}

/** The targets, each for both ssekit variants, as measured in this run. */
export function targets(summaries: ScenarioSummary[], maxBufferedKB: number, socketSlackKB: number): Target[] {
  const list: Target[] = [];
  const at = (name: string) => summaries.find((s) => s.scenario.name === name);
  const check = (text: string, value: number | undefined, ok: (v: number) => boolean, digits = 2) =>
    list.push({ text, value: format(value, digits), met: value === undefined ? undefined : ok(value) });
  for (const ssekit of ['ssekit-core', 'ssekit-express']) {
    for (const name of ['fanout-1k', 'fanout-10k']) {
      const s = at(name);
      if (!s) continue;
      check(`${name} ${ssekit}: events/s ≥ 1.0× raw`, ratio(s, ssekit, 'eventsPerSec'), (v) => v >= 1.0);
      check(`${name} ${ssekit}: CPU/event ≤ 1.05× raw`, ratio(s, ssekit, 'cpuMicrosPerEvent'), (v) => v <= 1.05);
      check(
        `${name} ${ssekit}: events/s ≥ 1.5× better-sse`,
        ratio(s, ssekit, 'eventsPerSec', 'better-sse'),
        (v) => v >= 1.5,
      );
      check(`${name} ${ssekit}: events/s ≥ 4× hono`, ratio(s, ssekit, 'eventsPerSec', 'hono'), (v) => v >= 4);
    }
    const fanout = at('fanout-10k');
    if (fanout && ssekit === 'ssekit-core') {
      check(`fanout-10k ${ssekit}: peak RSS ≤ 1.15× raw`, ratio(fanout, ssekit, 'peakRssMB'), (v) => v <= 1.15);
    }
    const t = at('throughput');
    if (t) {
      check(`throughput ${ssekit}: events/s ≥ 0.9× raw`, ratio(t, ssekit, 'eventsPerSec'), (v) => v >= 0.9);
      check(`throughput ${ssekit}: peak RSS ≤ 1.2× raw`, ratio(t, ssekit, 'peakRssMB'), (v) => v <= 1.2);
    }
    const slow = at('slow-consumer');
    const slowOf = slow?.variants.find((v) => v.variant === ssekit)?.median;
    if (slowOf) {
      check(
        `slow-consumer ${ssekit}: held for the stalled client ≤ ${maxBufferedKB} KB + ${socketSlackKB} KB socket buffer`,
        slowOf.maxClientBacklogKB,
        (v) => v <= maxBufferedKB + socketSlackKB,
        0,
      );
      check(
        `slow-consumer ${ssekit}: readers' rate ≥ 0.9× the run without a stalled client`,
        slowOf.rateWithStalledRatio,
        (v) => v >= 0.9,
      );
    }
    for (const name of ['latency', 'latency-10']) {
      const latency = at(name)?.variants.find((v) => v.variant === ssekit)?.median;
      if (latency) check(`${name} ${ssekit}: p99 ≤ 50 ms`, latency.p99Ms, (v) => v <= 50, 1);
    }
  }
  const idle = at('idle');
  if (idle) {
    for (const ssekit of ['ssekit-core', 'ssekit-channel']) {
      check(`idle ${ssekit}: RSS/stream ≤ 1.10× raw`, ratio(idle, ssekit, 'rssPerStreamKB'), (v) => v <= 1.1);
      check(`idle ${ssekit}: heap/stream ≤ 1.3× raw`, ratio(idle, ssekit, 'heapPerStreamKB'), (v) => v <= 1.3);
    }
    for (const adapter of ['ssekit-express', 'ssekit-koa']) {
      const framework = referenceOf(adapter);
      for (const [figure, what] of [
        ['rssPerStreamKB', 'RSS'],
        ['heapPerStreamKB', 'heap'],
      ] as const) {
        check(
          `idle ${adapter}: ${what}/stream ≤ ${framework} + 1 KB`,
          difference(idle, adapter, figure, framework),
          (v) => v <= 1,
        );
      }
    }
  }
  return list;
}

export function markdownTargets(list: Target[]): string {
  const lines = ['| target | measured | met |', '| --- | ---: | :---: |'];
  for (const t of list)
    lines.push(`| ${t.text} | ${t.value} | ${t.met === undefined ? '–' : t.met ? 'yes' : '**no**'} |`);
  return lines.join('\n');
}
