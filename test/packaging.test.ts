// What npm users get: every public package under packages/* is built, packed with pnpm (so
// `publishConfig` applies, as on publish) and checked as a consumer would see the tarball.
import { execFileSync, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import ts from 'typescript';
import { afterAll, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'ssekit-packaging-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// Adapters join the list by existing; private packages are never published.
const packages = readdirSync(join(root, 'packages'))
  .map((name) => join(root, 'packages', name))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) }))
  .filter(({ pkg }) => !pkg.private)
  .map(({ dir, pkg }) => ({ dir, name: pkg.name as string }));

// What a user does with each package, run against the unpacked tarball: `types` must compile
// as ESM and as CJS, and `run` (if any) must not throw in Node, loading entries with `import`
// (ESM) and with `require` (CJS) through `load(specifier)`.
const consumers: Record<string, { types: string; run?: string }> = {
  // Handlers are typed by the channel's event map; nothing connects before a subscribe.
  '@ssekit/client': {
    types: `
      import { ChannelsClient } from '@ssekit/client';
      const client = new ChannelsClient<{ [room: \`room:\${string}\`]: { message: { text: string } } }>({ url: '/events' });
      export const leave: () => void = client.subscribe('room:1', (e) => console.log(e.data.text.length));
    `,
    run: `
      const { ChannelsClient } = await load('@ssekit/client');
      new ChannelsClient({ url: 'http://127.0.0.1/events' }).close();
    `,
  },
  '@ssekit/core': {
    // A second SseStream declaration would bring its own #private fields, so a "./node"
    // stream would then not be assignable to the main entry's SseStream.
    types: `
      import type { SseStream } from '@ssekit/core';
      import { createStream } from '@ssekit/core/node';
      export const open = (...args: Parameters<typeof createStream>): SseStream => createStream(...args);
    `,
    // Without code splitting each entry bundles its own SseStream class and instanceof fails.
    run: `
      const { SseStream } = await load('@ssekit/core');
      const { createStream } = await load('@ssekit/core/node');
      const { EventEmitter } = await load('node:events');
      const res = Object.assign(new EventEmitter(), { writeHead() {}, write: () => true, end() {} });
      const stream = createStream({ headers: {}, url: '/' }, res, { heartbeat: false });
      stream.close();
      if (!(stream instanceof SseStream)) throw new Error('"./node" has its own SseStream class');
    `,
  },
  // The augmentations must reach users: res.sse and ctx.sse autocomplete, typed.
  '@ssekit/express': {
    types: `
      import express from 'express';
      import type { SseStream } from '@ssekit/core';
      import { sse, sseErrors } from '@ssekit/express';
      const app = express();
      app.get('/events', sse({ retry: 1000 }), (_req, res) => {
        const stream: SseStream = res.sse;
        stream.send({ n: 1 }, { event: 'tick' });
      });
      app.use(sseErrors());
    `,
  },
  '@ssekit/koa': {
    types: `
      import Koa from 'koa';
      import { sse, type SseContext } from '@ssekit/koa';
      const app = new Koa();
      app.use(sse());
      app.use((ctx) => { ctx.sse.send('hi'); });
      const custom = new Koa<Koa.DefaultState, { user: string } & SseContext>();
      custom.use((ctx) => { ctx.sse.send(ctx.user); });
    `,
  },
  // reply.sse is declared on FastifyReply by the package, typed, plugin or not.
  '@ssekit/fastify': {
    types: `
      import Fastify from 'fastify';
      import type { SseStream } from '@ssekit/core';
      import { channel, ssekit, sse } from '@ssekit/fastify';
      import { ChannelRegistry } from '@ssekit/core';
      const app = Fastify();
      app.register(ssekit, { deadline: 1000 });
      app.get('/events', sse((stream: SseStream<{ tick: { n: number } }>, request, reply) => {
        stream.send({ n: request.url.length }, { event: 'tick' });
        reply.sse.send('untyped');
      }, { retry: 1000 }));
      app.get('/rooms/:room', channel(new ChannelRegistry(), (request) => request.url));
    `,
  },
  '@ssekit/hono': {
    types: `
      import { Hono } from 'hono';
      import type { SseStream } from '@ssekit/core';
      import { sse } from '@ssekit/hono';
      new Hono().get('/events', sse((stream: SseStream<{ tick: { n: number } }>, c) => {
        stream.send({ n: c.req.path.length }, { event: 'tick' });
      }));
    `,
  },
  // Events are typed by the app's event map, in ESM and CJS alike.
  '@ssekit/testing': {
    types: `
      import { openEvents } from '@ssekit/testing';
      export async function first(url: string): Promise<number | undefined> {
        await using events = await openEvents<{ tick: { n: number } }>(url, { json: true, timeout: 500 });
        const event = await events.next();
        return event.event === 'tick' ? event.data.n : undefined;
      }
      import { MemoryBroker } from '@ssekit/core';
      import { type BrokerContractSubject, brokerContract } from '@ssekit/testing/broker-contract';
      export const open = async ({ historySize }: { historySize: number }): Promise<BrokerContractSubject> =>
        ({ broker: new MemoryBroker({ history: { size: historySize } }), historySize });
      export const names: readonly string[] = brokerContract.map((c) => c.name);
    `,
    // The contract passes for core's broker from the tarballs, in ESM and CJS: one SseError.
    run: `
      const { MemoryBroker } = await load('@ssekit/core');
      const { brokerContract } = await load('@ssekit/testing/broker-contract');
      const open = async ({ historySize }) => ({ broker: new MemoryBroker({ history: { size: historySize } }), historySize });
      for (const c of brokerContract) await c.run(open);
    `,
  },
};

/** Links the frameworks a package peers with (and their types) next to the unpacked tarballs. */
function linkPeers(pkgDir: string) {
  const { peerDependencies = {} } = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
  for (const peer of Object.keys(peerDependencies).flatMap((name) => [name, `@types/${name}`])) {
    const from = join(root, 'node_modules', peer);
    const to = join(tmp, 'node_modules', peer);
    if (!existsSync(from) || existsSync(to)) continue;
    mkdirSync(dirname(to), { recursive: true });
    symlinkSync(realpathSync(from), to);
  }
}

const run = (command: string, args: string[], cwd = root) =>
  execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Node builtins that `entry` or any chunk it imports (relatively) loads, as `file: specifier`. */
function builtinImports(dir: string, entry: string, seen = new Set<string>()): string[] {
  if (seen.has(entry)) return [];
  seen.add(entry);
  const code = readFileSync(join(dir, entry), 'utf8');
  return [...code.matchAll(/\b(?:from|import|require)\s*\(?\s*["']([^"']+)["']/g)].flatMap(([, specifier = '']) => {
    if (specifier.startsWith('.')) return builtinImports(dir, join(dirname(entry), specifier), seen);
    return isBuiltin(specifier) ? [`${entry}: ${specifier}`] : [];
  });
}

/** Classes declared in more than one declaration file of one flavour (.d.ts or .d.cts). */
function duplicateClasses(dir: string): string[] {
  const files = readdirSync(dir, { recursive: true, encoding: 'utf8' });
  return ['.d.ts', '.d.cts'].flatMap((extension) => {
    const declared = files
      .filter((file) => file.endsWith(extension))
      .flatMap((file) => [...readFileSync(join(dir, file), 'utf8').matchAll(/declare class (\w+)/g)].map((m) => m[1]));
    return declared.filter((name, i) => declared.indexOf(name) !== i).map((name) => `${name} (${extension})`);
  });
}

function typeErrors(name: string, source: string): string[] {
  const base = join(tmp, name.replace(/\W/g, '-'));
  // `.ts` is CommonJS here, as in a fresh `npm init -y` project (npm 11 writes "type": "commonjs").
  writeFileSync(join(tmp, 'package.json'), JSON.stringify({ type: 'commonjs' }));
  const [esm, cjs, mixed] = [`${base}.mts`, `${base}.cts`, `${base}-mixed.ts`];
  for (const file of [esm, cjs, mixed]) writeFileSync(file, source);
  const diagnostics = (files: string[], compilerOptions: object) => {
    // Like a user's strict project; skipLibCheck off so the shipped .d.ts are checked too.
    const json = { strict: true, noEmit: true, lib: ['es2022', 'dom'], types: ['node'], skipLibCheck: false };
    const { options } = ts.convertCompilerOptionsFromJson({ ...json, ...compilerOptions }, tmp);
    // @types/node lives in the repo, not next to the temp files.
    options.typeRoots = [join(root, 'node_modules/@types')];
    return ts
      .getPreEmitDiagnostics(ts.createProgram(files, options))
      .map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  };
  // An ESM project, a CommonJS one, and one with files of both kinds: the last loads the ESM
  // and the CJS declarations together, so a global augmentation (res.sse) declared by both
  // must name one type.
  return [
    ...diagnostics([esm], { module: 'nodenext' }),
    ...diagnostics([cjs], { module: 'nodenext' }),
    ...diagnostics([mixed, esm], { module: 'node16', moduleResolution: 'node16' }),
  ];
}

it.each(packages)(
  '$name builds and packs into a clean dual package',
  async ({ dir, name }) => {
    run('pnpm', ['--filter', name, 'build']);
    const packDir = join(tmp, 'tarballs', name);
    run('pnpm', ['pack', '--pack-destination', packDir], dir);
    const tarball = join(packDir, readdirSync(packDir).find((file) => file.endsWith('.tgz')) ?? 'missing.tgz');
    // Unpacked into node_modules, so consumers (and later packages depending on this one) resolve it.
    const unpacked = join(tmp, 'node_modules', name);
    mkdirSync(unpacked, { recursive: true });
    run('tar', ['-xzf', tarball, '-C', unpacked, '--strip-components=1']);

    // npm shows no licence text for a package without one; the copy must be the root's.
    expect(readFileSync(join(unpacked, 'LICENSE'), 'utf8')).toBe(readFileSync(join(root, 'LICENSE'), 'utf8'));

    const lint = await publint({ pack: { tarball: new Uint8Array(readFileSync(tarball)).buffer }, strict: true });
    expect(lint.messages.map((message) => formatMessage(message, lint.pkg))).toEqual([]);

    // attw's default (strict) profile: node10, node16 from CJS and ESM, and bundler must all
    // resolve. node10 (TypeScript's `moduleResolution: "node"`) ignores `exports`, so subpaths
    // such as "./node" reach it through `typesVersions` in publishConfig.
    const attw = spawnSync(join(root, 'node_modules/.bin/attw'), [tarball, '--format', 'json'], { encoding: 'utf8' });
    expect(JSON.parse(attw.stdout).problems).toEqual({});

    // The main entry must load on Bun, Deno and Cloudflare workerd, so neither it nor a chunk
    // it loads may import a Node builtin; only dist/node/* may. A Node-only adapter whose
    // main entry needs builtins would have to be exempted here, with its reason.
    const edgeEntries = ['dist/index.js', 'dist/index.cjs'];
    // The broker contract runs inside the runtimes whose brokers it tests.
    if (existsSync(join(unpacked, 'dist/broker-contract.js'))) {
      edgeEntries.push('dist/broker-contract.js', 'dist/broker-contract.cjs');
    }
    for (const entry of edgeEntries) expect(builtinImports(unpacked, entry)).toEqual([]);

    // Entries share declarations through a common .d.ts chunk, as they share classes at run time.
    expect(duplicateClasses(join(unpacked, 'dist'))).toEqual([]);
    const consumer = consumers[name];
    if (!consumer) return;
    linkPeers(dir);
    expect(typeErrors(name, consumer.types)).toEqual([]);
    if (!consumer.run) return;
    // A child process, so Node's own resolver reads `exports`; `node -e` resolves from its cwd.
    const { run: code } = consumer;
    const script = (load: string) =>
      `const load = ${load}; (async () => { ${code} })().catch((e) => { console.error(e); process.exit(1); });`;
    run(process.execPath, ['--input-type=module', '-e', script('(s) => import(s)')], tmp);
    run(process.execPath, ['-e', script('async (s) => require(s)')], tmp);
  },
  120_000,
);
