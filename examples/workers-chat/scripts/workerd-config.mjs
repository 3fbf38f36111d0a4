// Turns wrangler.jsonc, the config `wrangler deploy` uses, into a config for workerd, the
// runtime Workers run on: `pnpm start` and the tests run the Worker locally from the same
// file that deploys it, so the two cannot drift apart. Plain Node (and esbuild, which bundles
// the Worker as Wrangler does); what it cannot translate, it refuses by name.
//
//   node scripts/workerd-config.mjs <out dir> [<storage dir>]
//
// writes <out dir>/worker.js and <out dir>/config.capnp; the Durable Objects keep their
// SQLite files in <storage dir> (default <out dir>/storage), which outlives restarts.
// PUBLISH_TOKEN (a secret, never in wrangler.jsonc nor in the generated config) is read from
// the environment workerd runs in.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const exampleDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Secrets the Worker reads: bound from workerd's environment, never written to the config. */
export const SECRETS = ['PUBLISH_TOKEN'];

/** Keys of wrangler.jsonc that a local run has no use for (they only matter to Cloudflare). */
const DEPLOY_ONLY = new Set(['$schema', 'name', 'workers_dev', 'preview_urls', 'observability', 'upload_source_maps']);
/** Keys translated below. Any other key fails the run instead of being silently dropped. */
const TRANSLATED = new Set([
  'main',
  'compatibility_date',
  'compatibility_flags',
  'durable_objects',
  'migrations',
  'vars',
]);

/**
 * JSON with comments, as Wrangler reads it: `//` and `/* *\/` comments and trailing commas
 * are dropped outside strings only, so `"https://example.com"` stays whole.
 */
export function parseJsonc(text) {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end === -1) throw new SyntaxError('wrangler.jsonc: a /* comment is never closed');
      // Newlines kept, so that JSON.parse's positions still point at the right line.
      out += text.slice(i, end + 2).replace(/[^\n]/g, ' ');
      i = end + 2;
    } else if (c === ',') {
      let j = i + 1;
      while (j < text.length && /\s/.test(text[j])) j++;
      // A comment between the comma and the bracket is dropped by the next turns; look past it.
      const rest = stripLeadingComments(text.slice(j));
      if (rest[0] !== '}' && rest[0] !== ']') out += c;
      i++;
    } else {
      out += c;
      i++;
    }
  }
  return JSON.parse(out);
}

function stripLeadingComments(text) {
  let rest = text;
  for (;;) {
    if (rest.startsWith('//')) rest = rest.slice(rest.indexOf('\n') === -1 ? rest.length : rest.indexOf('\n'));
    else if (rest.startsWith('/*')) rest = rest.slice(rest.indexOf('*/') + 2);
    else return rest;
    rest = rest.trimStart();
  }
}

/** A capnp text literal: quotes, backslashes and control characters escaped. */
function capnpText(value) {
  let out = '';
  for (const c of String(value)) {
    const code = c.charCodeAt(0);
    out += c === '"' || c === '\\' || code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : c;
  }
  return `"${out}"`;
}

function fail(message) {
  throw new Error(`wrangler.jsonc: ${message}`);
}

/**
 * Which Durable Object classes exist after every migration, and whether each one stores in
 * SQLite (`new_sqlite_classes`) or in the older key-value storage (`new_classes`).
 */
function migratedClasses(migrations = []) {
  const classes = new Map();
  for (const migration of migrations) {
    for (const key of Object.keys(migration)) {
      if (!['tag', 'new_sqlite_classes', 'new_classes', 'renamed_classes', 'deleted_classes'].includes(key)) {
        fail(`migration "${migration.tag}": "${key}" is not translated for a local run`);
      }
    }
    for (const name of migration.new_sqlite_classes ?? []) classes.set(name, { sqlite: true });
    for (const name of migration.new_classes ?? []) classes.set(name, { sqlite: false });
    for (const { from, to } of migration.renamed_classes ?? []) {
      classes.set(to, classes.get(from));
      classes.delete(from);
    }
    for (const name of migration.deleted_classes ?? []) classes.delete(name);
  }
  return classes;
}

/** wrangler.jsonc, read and checked. */
export function readWranglerConfig(file = path.join(exampleDir, 'wrangler.jsonc')) {
  const config = parseJsonc(readFileSync(file, 'utf8'));
  for (const key of Object.keys(config)) {
    if (!DEPLOY_ONLY.has(key) && !TRANSLATED.has(key)) fail(`"${key}" is not translated for a local run`);
  }
  if (typeof config.main !== 'string') fail('"main" names the Worker\'s entry module');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(config.compatibility_date ?? '')) fail('"compatibility_date" is YYYY-MM-DD');
  return config;
}

/**
 * workerd's config for the Worker that `config` describes, the module being `worker.js` next
 * to it: one namespace per Durable Object binding (SQLite storage only, which ChannelObject
 * needs), the bindings under their wrangler names, `vars` as text, secrets from the
 * environment. The socket `http` listens on `address`.
 */
export function workerdConfig(config, { storageDir, address = '127.0.0.1:8787' }) {
  const classes = migratedClasses(config.migrations);
  const namespaces = [];
  const bindings = [];
  for (const binding of config.durable_objects?.bindings ?? []) {
    const { name, class_name: className, ...rest } = binding;
    if (Object.keys(rest).length > 0) {
      fail(
        `Durable Object binding "${name}": ${Object.keys(rest).join(', ')} not translated (another Worker's class?)`,
      );
    }
    const migrated = classes.get(className);
    if (!migrated) fail(`no migration creates the Durable Object class "${className}" (binding "${name}")`);
    if (!migrated.sqlite) {
      fail(`"${className}" must be in a migration's "new_sqlite_classes": ChannelObject keeps its history in SQLite`);
    }
    if (!namespaces.some((namespace) => namespace.className === className)) {
      namespaces.push({ className, uniqueKey: `${config.name ?? 'worker'}-${className}` });
    }
    bindings.push(`(name = ${capnpText(name)}, durableObjectNamespace = ${capnpText(className)})`);
  }
  for (const [name, value] of Object.entries(config.vars ?? {})) {
    // Wrangler binds a var that is not a string as JSON.
    bindings.push(
      typeof value === 'string'
        ? `(name = ${capnpText(name)}, text = ${capnpText(value)})`
        : `(name = ${capnpText(name)}, json = ${capnpText(JSON.stringify(value))})`,
    );
  }
  for (const name of SECRETS) bindings.push(`(name = ${capnpText(name)}, fromEnvironment = ${capnpText(name)})`);
  const flags = config.compatibility_flags ?? [];
  return `# Generated by scripts/workerd-config.mjs from wrangler.jsonc: edit that file instead.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .worker),
    (name = "do-storage", disk = (path = ${capnpText(path.resolve(storageDir))}, writable = true)),
  ],
  sockets = [(name = "http", address = ${capnpText(address)}, http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [(name = "worker", esModule = embed "worker.js")],
  compatibilityDate = ${capnpText(config.compatibility_date)},${flags.length > 0 ? `\n  compatibilityFlags = [${flags.map(capnpText).join(', ')}],` : ''}
  bindings = [
${bindings.map((binding) => `    ${binding},`).join('\n')}
  ],
  durableObjectNamespaces = [
${namespaces.map(({ className, uniqueKey }) => `    (className = ${capnpText(className)}, uniqueKey = ${capnpText(uniqueKey)}, enableSql = true),`).join('\n')}
  ],
  durableObjectStorage = (localDisk = "do-storage"),
);
`;
}

/** Bundles the Worker's `main` into `outfile` as Wrangler does: Web APIs only, `cloudflare:` left to the runtime. */
export async function bundleWorker(config, outfile) {
  const { build } = await import('esbuild');
  await build({
    entryPoints: [path.resolve(exampleDir, config.main)],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker'],
    external: ['cloudflare:*'],
    target: 'es2022',
    logLevel: 'warning',
  });
}

/**
 * Writes `<outDir>/worker.js` and `<outDir>/config.capnp` from wrangler.jsonc; returns the
 * config's path and text and the wrangler config it came from.
 */
export async function generate({ outDir, storageDir = path.join(outDir, 'storage'), address, wrangler } = {}) {
  const config = readWranglerConfig(wrangler);
  mkdirSync(outDir, { recursive: true });
  mkdirSync(storageDir, { recursive: true });
  const capnp = workerdConfig(config, { storageDir, address });
  await bundleWorker(config, path.join(outDir, 'worker.js'));
  const file = path.join(outDir, 'config.capnp');
  writeFileSync(file, capnp);
  return { file, capnp, config };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [outDir, storageDir] = process.argv.slice(2);
  if (!outDir) {
    console.error('usage: node scripts/workerd-config.mjs <out dir> [<storage dir>]');
    process.exit(2);
  }
  const { file } = await generate({ outDir: path.resolve(outDir), storageDir: storageDir && path.resolve(storageDir) });
  console.log(`wrote ${path.relative(process.cwd(), file)} from wrangler.jsonc`);
}
