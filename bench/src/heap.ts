/**
 * `pnpm --filter @ssekit/bench bench:heap`: what an idle stream holds, object by object.
 * Opens N idle streams on each variant's server (ssekit from its build, as published), takes
 * a heap snapshot of the server after GC, and sums the snapshot's objects by kind and name
 * (a class, a closure's function name, V8's own arrays and contexts). Each variant is shown
 * per stream against its reference: `raw` for the node:http variants, the framework's own
 * loop for the adapters (`express-raw`, `koa-raw`). A kind that grows by about one object per
 * stream is something every stream holds.
 *
 * Options: --streams N (default 2000), --variants a,b (default: the ssekit variants and their
 * references), --top N (rows per table, default 25).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { runOnce } from './orchestrate.js';
import { referenceOf } from './report.js';
import { FULL } from './scenarios.js';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '2000' },
    variants: {
      type: 'string',
      default: 'raw,ssekit-core,ssekit-channel,express-raw,ssekit-express,koa-raw,ssekit-koa',
    },
    top: { type: 'string', default: '25' },
  },
});
const STREAMS = Number(values.streams);
const TOP = Number(values.top);
const variants = values.variants.split(',');

interface Kind {
  count: number;
  bytes: number;
}

/** Sums a snapshot's nodes by `type:name`, the way DevTools' summary view groups them. */
function summarize(file: string): Map<string, Kind> {
  const snapshot = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
    nodes: number[];
    strings: string[];
  };
  const { node_fields: fields, node_types: types } = snapshot.snapshot.meta;
  const width = fields.length;
  const [typeAt, nameAt, sizeAt] = ['type', 'name', 'self_size'].map((field) => fields.indexOf(field)) as [
    number,
    number,
    number,
  ];
  const kinds = new Map<string, Kind>();
  const { nodes, strings } = snapshot;
  for (let i = 0; i < nodes.length; i += width) {
    const type = types[0][nodes[i + typeAt] as number] as string;
    // Strings and numbers are named by their content: one row for each kind is enough.
    const name = ['string', 'concatenated string', 'sliced string', 'number'].includes(type)
      ? ''
      : (strings[nodes[i + nameAt] as number] as string).slice(0, 60);
    const key = `${type}:${name}`;
    const kind = kinds.get(key) ?? { count: 0, bytes: 0 };
    kind.count++;
    kind.bytes += nodes[i + sizeAt] as number;
    kinds.set(key, kind);
  }
  return kinds;
}

const dir = mkdtempSync(join(tmpdir(), 'ssekit-heap-'));
process.env.BENCH_HEAP_SNAPSHOT_DIR = dir;
const idle = FULL.find((scenario) => scenario.name === 'idle');
if (!idle) throw new Error('no idle scenario');
const scenario = { ...idle, streams: STREAMS };
const summaries = new Map<string, Map<string, Kind>>();
try {
  for (const variant of variants) {
    const result = await runOnce(variant, scenario, 'dist');
    if (result.failure) throw new Error(`${variant}: ${result.failure}`);
    const heap = result.server?.idle;
    const perStream = heap ? (heap.heapAfter - heap.heapBefore) / STREAMS / 1024 : Number.NaN;
    console.log(`${variant}: ${perStream.toFixed(2)} KB of heap per stream (process.memoryUsage, after GC)`);
    summaries.set(variant, summarize(join(dir, `${variant}.heapsnapshot`)));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const total = (kinds: Map<string, Kind>) => [...kinds.values()].reduce((sum, kind) => sum + kind.bytes, 0);

for (const variant of variants.filter((name) => name.startsWith('ssekit'))) {
  const reference = referenceOf(variant);
  const mine = summaries.get(variant);
  const theirs = summaries.get(reference);
  if (!mine || !theirs) continue;
  const rows = [...new Set([...mine.keys(), ...theirs.keys()])]
    .map((key) => {
      const a = mine.get(key) ?? { count: 0, bytes: 0 };
      const b = theirs.get(key) ?? { count: 0, bytes: 0 };
      return { key, count: (a.count - b.count) / STREAMS, bytes: (a.bytes - b.bytes) / STREAMS };
    })
    .filter((row) => Math.abs(row.bytes) >= 8)
    .sort((x, y) => Math.abs(y.bytes) - Math.abs(x.bytes));
  const extra = (total(mine) - total(theirs)) / STREAMS;
  console.log(
    `\n### ${variant} over ${reference}: ${extra.toFixed(0)} bytes per stream in the snapshot (${STREAMS} streams)\n`,
  );
  console.log('| kind:name | objects per stream | bytes per stream |');
  console.log('| --- | --: | --: |');
  for (const row of rows.slice(0, TOP)) {
    console.log(`| \`${row.key.replaceAll('|', '\\|')}\` | ${row.count.toFixed(2)} | ${row.bytes.toFixed(0)} |`);
  }
  const shown = rows.slice(0, TOP).reduce((sum, row) => sum + row.bytes, 0);
  console.log(`| everything else | | ${(extra - shown).toFixed(0)} |`);
}
